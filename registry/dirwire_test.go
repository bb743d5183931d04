package registry

import (
	"reflect"
	"testing"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/registry/internal/directory"
)

// TestDirWireRoundTrip: the envelope crosses the codec whole, empty or
// with bodies, and a cut one is refused.
func TestDirWireRoundTrip(t *testing.T) {
	c := codec.New()
	if err := RegisterTypes(c); err != nil {
		t.Fatal(err)
	}
	from, to := directory.NodeID{Name: "node-a", Inc: 1 << 62}, directory.NodeID{Name: "b", Inc: 3}
	for _, w := range []dirWire{
		{From: from, To: to, Shape: [2]int{1024, 1}},
		{From: from, To: to, Shape: [2]int{8, 2}, Bodies: [][]byte{{1}, make([]byte, 300), {2, 3}}},
	} {
		b, err := c.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Unmarshal(b)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("round trip: %v: %+v, want %+v", err, got, w)
		}
		raw, _ := w.MarshalBinary()
		for cut := range len(raw) {
			var g dirWire
			if g.UnmarshalBinary(raw[:cut]) == nil {
				t.Fatalf("cut at %d of %d bytes decoded", cut, len(raw))
			}
		}
	}
}

// The directory's types as the codec encoded them before they encoded
// themselves (struct fields keyed by name), for BenchmarkDirectoryWire.
type (
	cborNode struct {
		Name string
		Inc  uint64
	}
	cborInst struct {
		Node cborNode
		ID   uint64
	}
	cborCkpt struct {
		Inst  cborInst
		Seq   uint64
		State []byte
		Holds []cborInst
		Base  struct {
			Inst cborInst
			Seq  uint64
		}
	}
	cborMore struct {
		Groups   []string
		GVer     uint64
		From     cborInst
		Absorbed []struct {
			Loser, Into cborInst
			In          bool
		}
		Ckpt    *cborCkpt
		Orphans []cborCkpt
	}
	cborRecord struct {
		Name string
		Reg  struct{ Inc, Seq uint64 }
		Spec struct {
			Kind        string
			Args        []byte
			Checkpoints bool
		}
		Inst cborInst
		Gen  uint64
		More *cborMore
	}
	cborOps struct {
		P      int
		Stream struct {
			Node  cborNode
			Epoch uint64
		}
		Seq uint64
		Ops []cborOp
	}
	cborOp struct {
		Kind uint8
		Rec  cborRecord
		Tomb struct {
			Name    string
			Reg     struct{ Inc, Seq uint64 }
			Expires uint64
		}
	}
)

// BenchmarkDirectoryWire: a one-record MsgOps carrying a checkpoint
// through the codec, encoded and decoded, in the directory's own form
// (wire) and in the codec's CBOR of the same fields (cbor).
//
//	go test -run '^$' -bench DirectoryWire -benchmem ./registry
func BenchmarkDirectoryWire(b *testing.B) {
	c := codec.New()
	if err := RegisterTypes(c); err != nil {
		b.Fatal(err)
	}
	if err := c.Register("bench.cborops", cborOps{}); err != nil {
		b.Fatal(err)
	}
	n := directory.NodeID{Name: "houseparty@198.18.0.7", Inc: 1234567890123}
	inst := directory.Inst{Node: n, ID: 4567}
	rec := directory.Record{Name: "counter-123", Reg: directory.RegID{Inc: 99999999, Seq: 12}, Spec: directory.Spec{Kind: "counter", Checkpoints: true}, Inst: inst, Gen: 3,
		More: &directory.RecordMore{Ckpt: &directory.Checkpoint{Inst: inst, Seq: 77, State: make([]byte, 20)}}}
	ops := directory.MsgOps{P: 517, Stream: directory.Stream{Node: n, Epoch: 2}, Seq: 1000, Ops: []directory.Op{{Kind: directory.OpPut, Rec: rec}}}
	var plain cborOps
	plain.P, plain.Seq = ops.P, ops.Seq
	plain.Stream.Node, plain.Stream.Epoch = cborNode{n.Name, n.Inc}, 2
	plain.Ops = make([]cborOp, 1)
	pr := &plain.Ops[0].Rec
	plain.Ops[0].Kind = uint8(directory.OpPut)
	pr.Name, pr.Reg.Inc, pr.Reg.Seq, pr.Spec.Kind, pr.Spec.Checkpoints, pr.Gen = rec.Name, rec.Reg.Inc, rec.Reg.Seq, "counter", true, 3
	pr.Inst = cborInst{cborNode{n.Name, n.Inc}, inst.ID}
	pr.More = &cborMore{Ckpt: &cborCkpt{Inst: pr.Inst, Seq: 77, State: make([]byte, 20)}}
	for name, v := range map[string]any{"wire": ops, "cbor": plain} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				body, err := c.Marshal(v)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Unmarshal(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
