package registry

import (
	"testing"
	"time"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry/internal/directory"
)

// FuzzDirectoryMessage feeds bytes off the network, as the registry
// endpoint receives them, through the codec into a directory node: a
// message that decodes must never crash the machine, however wrong its
// partition, indexes or totals.
func FuzzDirectoryMessage(f *testing.F) {
	c := codec.New()
	if err := RegisterTypes(c); err != nil {
		f.Fatal(err)
	}
	self, peer := directory.NodeID{Name: "a", Inc: 1}, directory.NodeID{Name: "b", Inc: 2}
	inst := directory.Inst{Node: peer, ID: 7}
	rec := directory.Record{Name: "x", Spec: directory.Spec{Kind: "k"}, Inst: inst, Gen: 1}
	seeds := []any{
		directory.MsgOps{P: 1, Stream: directory.Stream{Node: peer, Epoch: 1}, Seq: 1, Ops: []directory.Op{{Kind: directory.OpPut, Rec: rec}}},
		directory.MsgSnap{P: 2, Stream: directory.Stream{Node: peer, Epoch: 1}, Seq: 3, Index: 0, Total: 2, Records: []directory.Record{rec}},
		directory.MsgGive{P: 3, ID: 9, Index: 1, Total: 1, Records: []directory.Record{rec}},
		directory.MsgReport{P: 4, Seq: 1, MaxID: 7, Items: []directory.Record{rec}},
		directory.MsgResolve{P: 5, Name: "x", Loser: inst, Winner: inst, State: []byte{1}},
		directory.MsgResolveAck{P: 5, Name: "x", Loser: inst},
		directory.MsgMoved{P: 6, Name: "x", Old: directory.Inst{Node: self, ID: 3}, New: inst},
		directory.MsgForwarded{P: 6, Name: "x", Old: inst, New: directory.Inst{Node: self, ID: 4}},
		directory.MsgForwardedAck{P: 6, Old: directory.Inst{Node: self, ID: 3}},
		directory.MsgRequest{Req: 1, Origin: peer, Op: directory.ReqRegister, Name: "x", Spec: rec.Spec, Left: 10},
		// Checkpoints: a request carrying one, a record holding one and
		// an orphan, a merge of an orphan.
		directory.MsgRequest{Req: 2, Origin: peer, Op: directory.ReqCheckpoint, Name: "x", Left: 10,
			Ckpt: &directory.Checkpoint{Inst: inst, Seq: 3, State: []byte{1, 2}, Holds: []directory.Inst{inst}}},
		directory.MsgOps{P: 1, Stream: directory.Stream{Node: peer, Epoch: 1}, Seq: 2, Ops: []directory.Op{{Kind: directory.OpPut, Rec: directory.Record{
			Name: "x", Spec: directory.Spec{Kind: "k", Checkpoints: true}, Inst: inst, Gen: 2, More: &directory.RecordMore{
				Ckpt:    &directory.Checkpoint{Inst: inst, Seq: 1, State: []byte{3}, Base: directory.CkRef{Inst: inst, Seq: 1}},
				Orphans: []directory.Checkpoint{{Inst: directory.Inst{Node: self, ID: 2}, Seq: 4, State: []byte{4}}}}}}}},
		directory.MsgResolve{P: 5, Name: "x", Loser: inst, Winner: inst, State: []byte{1}, Checkpoint: true, Late: true},
		// Groups for a process's own record, and a drain notice.
		directory.MsgGroups{P: 4, Items: []directory.GroupsOf{{Name: "x", Inst: directory.Inst{Node: self, ID: 3}, Groups: []string{"g"}, GVer: 2}}},
		directory.MsgLeaving{},
		// The operator endpoint's (inspections, drains).
		dirInspect{Name: "x", ID: 7},
		dirInspected{In: Inspection{Name: "x", Kind: "k", Groups: []string{"g"}, Generation: 2, Mailbox: 3, Summary: "s", Described: true}},
		dirInspected{Err: "gone"},
		dirLookup{Name: "x"},
		dirLookedUp{Served: true, Found: true, Node: "b", ID: 7, Groups: []string{"g"}, Gen: 2},
		dirDrain{},
		dirDrained{Done: true, Err: "e"},
	}
	for _, s := range seeds {
		b, err := c.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		w, err := c.Marshal(dirWire{From: peer, To: self, Shape: [2]int{8, 1}, Bodies: [][]byte{b}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := c.Unmarshal(b)
		if err != nil {
			return
		}
		msgs := []any{v}
		if w, ok := v.(dirWire); ok {
			msgs = msgs[:0]
			for _, body := range w.Bodies {
				if m, err := c.Unmarshal(body); err == nil {
					msgs = append(msgs, m)
				}
			}
		}
		dc := directory.DefaultConfig(self)
		dc.Partitions = 8
		n, err := directory.New(dc)
		if err != nil {
			t.Fatal(err)
		}
		n.SetView([]directory.NodeID{peer})
		for _, m := range msgs {
			n.Receive(peer, m)
			n.Tick()
			_ = n.Ready()
		}
	})
}

// FuzzDecodeState feeds a state as a record carries it (a version,
// reminders, then the codec's encoding) to the decoder: it must fail
// cleanly, never crash, and what it decodes must encode back to a state
// that decodes the same.
func FuzzDecodeState(f *testing.F) {
	c := codec.New()
	h := &dirHost{codec: c}
	at := time.Unix(1700000000, 5)
	for _, v := range []any{nil, 7, "state", []string{"a"}} {
		b, err := h.encodeState(v, 3, []process.Reminder{{At: at, Msg: "ping"}, {At: at.Add(time.Second), Msg: 9}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if b, err = h.encodeState(v, 0, nil); err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0, 0xff, 0xff, 0x03, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := h.decodeState(b)
		if err != nil {
			return
		}
		b2, err := h.encodeState(s.state, s.version, s.reminders)
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		s2, err := h.decodeState(b2)
		if err != nil || s2.version != s.version || len(s2.reminders) != len(s.reminders) {
			t.Fatalf("round trip: %+v -> %+v, %v", s, s2, err)
		}
		for i := range s.reminders {
			if !s.reminders[i].At.Equal(s2.reminders[i].At) {
				t.Fatalf("reminder %d: %v -> %v", i, s.reminders[i].At, s2.reminders[i].At)
			}
		}
	})
}
