package directory

import (
	"encoding"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/shoalhq/shoal/registry/internal/wire"
)

// randomRecord makes a record with every field set at random (empty
// slices as nil, as they decode), its states under maxState bytes.
func randomRecord(rnd *rand.Rand, maxState int) Record {
	str := func() string { return strings.Repeat("n", rnd.IntN(40)) + string(rune('a'+rnd.IntN(26))) }
	inst := func() Inst {
		return Inst{Node: NodeID{Name: str(), Inc: rnd.Uint64()}, ID: rnd.Uint64() >> rnd.IntN(64)}
	}
	blob := func(max int) []byte {
		n := rnd.IntN(max)
		if n == 0 {
			return nil
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	ckpt := func() Checkpoint {
		c := Checkpoint{Inst: inst(), Seq: rnd.Uint64(), State: blob(maxState), Base: CkRef{Inst: inst(), Seq: rnd.Uint64N(9)}}
		for range rnd.IntN(3) {
			c.Holds = append(c.Holds, inst())
		}
		return c
	}
	r := Record{Name: str(), Reg: RegID{Inc: rnd.Uint64(), Seq: rnd.Uint64N(1000)}, Spec: Spec{Kind: str(), Args: blob(300), Checkpoints: rnd.IntN(2) == 0},
		Inst: inst(), Gen: rnd.Uint64N(50)}
	if rnd.IntN(3) > 0 {
		m := &RecordMore{GVer: rnd.Uint64N(9), From: inst()}
		for range rnd.IntN(3) {
			m.Groups = append(m.Groups, str())
		}
		for range rnd.IntN(3) {
			m.Absorbed = append(m.Absorbed, Merge{Loser: inst(), Into: inst(), In: rnd.IntN(2) == 0})
		}
		if rnd.IntN(2) == 0 {
			c := ckpt()
			m.Ckpt = &c
		}
		for range rnd.IntN(3) {
			m.Orphans = append(m.Orphans, ckpt())
		}
		r.More = m
	}
	return r
}

func TestWireRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		m := MsgOps{P: rnd.IntN(4096), Stream: Stream{Node: NodeID{Name: "node-x", Inc: rnd.Uint64()}, Epoch: rnd.Uint64N(99)}, Seq: rnd.Uint64()}
		for range rnd.IntN(4) {
			m.Ops = append(m.Ops, Op{Kind: OpKind(1 + rnd.IntN(3)), Rec: randomRecord(rnd, 20000), Tomb: Tomb{Name: "t", Reg: RegID{Inc: 1, Seq: rnd.Uint64()}, Expires: rnd.Uint64()}})
		}
		b, _ := m.MarshalBinary()
		var got MsgOps
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("case %d: ops changed on the way:\n got %+v\nwant %+v", i, got, m)
		}
		r := randomRecord(rnd, 20000)
		b, _ = r.MarshalBinary()
		var gr Record
		if err := gr.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(gr, r) {
			t.Fatalf("case %d: record: %v\n got %+v\nwant %+v", i, err, gr, r)
		}
		a := MsgAck{P: rnd.IntN(10), Stream: m.Stream, Seq: rnd.Uint64()}
		b, _ = a.MarshalBinary()
		var ga MsgAck
		if err := ga.UnmarshalBinary(b); err != nil || ga != a {
			t.Fatalf("case %d: ack: %v: %+v, want %+v", i, err, ga, a)
		}
	}
}

// TestWireAcrossReleases: a record of a later release, with fields this
// one does not know appended, decodes with them skipped; one of an
// earlier release, without the last fields, decodes them as zero.
func TestWireAcrossReleases(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	r := randomRecord(rnd, 20000)
	r.More = &RecordMore{GVer: 3}
	later := wire.AppendPrefixed(nil, func(b []byte) []byte {
		b = appendRecordBody(b, &r)
		return append(b, 0xAA, 0xBB, 0x01) // a later release's fields
	})
	d := reader{wire.NewReader(later)}
	if got := d.record(); d.End("record") != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("later release's record: %v: %+v", d.End("record"), got)
	}
	// An earlier release's: ends after Gen (no More flag yet).
	short := r
	short.More = nil
	full := appendRecordBody(nil, &short)
	earlier := full[:len(full)-1]
	var got Record
	if err := got.UnmarshalBinary(earlier); err != nil || !reflect.DeepEqual(got, short) {
		t.Fatalf("earlier release's record: %v: %+v", err, got)
	}
	// A message cut short is malformed, not a shorter message.
	m := MsgOps{P: 1, Seq: 2, Ops: []Op{{Kind: OpPut, Rec: r}}}
	b, _ := m.MarshalBinary()
	for cut := 1; cut < len(b); cut++ {
		var g MsgOps
		if err := g.UnmarshalBinary(b[:cut]); err == nil && reflect.DeepEqual(g, m) {
			t.Fatalf("ops cut at %d of %d decoded whole", cut, len(b))
		}
	}
}

// FuzzWire: any bytes either fail to decode or decode to a message that
// encodes and decodes back the same.
func FuzzWire(f *testing.F) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		m := MsgOps{P: 3, Stream: Stream{Node: NodeID{Name: "a", Inc: 9}, Epoch: 1}, Seq: 4, Ops: []Op{{Kind: OpPut, Rec: randomRecord(rnd, 64)}}}
		b, _ := m.MarshalBinary()
		f.Add(byte(0), b)
		b, _ = m.Ops[0].Rec.MarshalBinary()
		f.Add(byte(1), b)
	}
	b, _ := MsgAck{P: 1, Stream: Stream{Node: NodeID{Name: "a", Inc: 9}}, Seq: 7}.MarshalBinary()
	f.Add(byte(2), b)
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		switch which % 3 {
		case 0:
			roundTrip[MsgOps](t, b)
		case 1:
			roundTrip[Record](t, b)
		default:
			roundTrip[MsgAck](t, b)
		}
	})
}

// roundTrip decodes b as a T; if it decodes, it must encode and decode
// back the same.
func roundTrip[T encoding.BinaryMarshaler, P interface {
	*T
	encoding.BinaryUnmarshaler
}](t *testing.T, b []byte) {
	t.Helper()
	var v T
	if P(&v).UnmarshalBinary(b) != nil {
		return
	}
	b2, err := v.MarshalBinary()
	if err != nil {
		t.Fatalf("%T that decoded does not encode: %v", v, err)
	}
	var v2 T
	if err := P(&v2).UnmarshalBinary(b2); err != nil || !reflect.DeepEqual(v, v2) {
		t.Fatalf("%T round trip: %v\n%+v\n%+v", v, err, v, v2)
	}
}
