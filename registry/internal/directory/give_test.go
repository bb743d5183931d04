package directory

import "testing"

// newQuiet returns a node with one partition and the view members,
// its first messages dropped.
func newQuiet(t *testing.T, self NodeID, members []NodeID) *Node {
	t.Helper()
	cfg := DefaultConfig(self)
	cfg.Partitions = 1
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.SetView(members)
	n.Ready()
	return n
}

// sent returns the messages of type M that n sends now.
func sent[M any](n *Node) []M {
	var out []M
	for _, e := range n.Ready().Msgs {
		if m, ok := e.Msg.(M); ok {
			out = append(out, m)
		}
	}
	return out
}

// TestGiveToANonPrimaryIsKeptNotAcknowledged: a holder whose view is
// behind gives its copy to a node that is not the primary. That node
// keeps it to pass on, but must not acknowledge it: an acknowledgement
// lets the holder drop its copy and answer the real primary's gather
// without it, after the node it gave it to had already answered, and the
// primary serves the partition without those names (make e2e: 66 of
// 2,000 people missing from a listing while a fifth node joined).
func TestGiveToANonPrimaryIsKeptNotAcknowledged(t *testing.T) {
	a, b := NodeID{Name: "a", Inc: 1}, NodeID{Name: "b", Inc: 1}
	holder := NodeID{Name: "h", Inc: 1}
	x := newQuiet(t, a, []NodeID{a, b})
	if x.Partition(0).Primary {
		x = newQuiet(t, b, []NodeID{a, b})
	}
	if x.Partition(0).Primary || x.Partition(0).Leader.IsZero() {
		t.Fatalf("%v leads the partition; the test wants a node that does not", x.Self())
	}
	rec := Record{Name: "n", Reg: RegID{Inc: 7, Seq: 1}, Inst: Inst{Node: holder, ID: 3}, Gen: 1}
	x.Receive(holder, MsgGive{P: 0, ID: 9, Total: 1, Records: []Record{rec}})
	if acks := sent[MsgGiveAck](x); len(acks) > 0 {
		t.Fatalf("%v is not the primary, yet acknowledged the give: %+v", x.Self(), acks)
	}
	if reg, _ := x.Holds("n"); !reg {
		t.Fatalf("%v dropped the copy it was given instead of keeping it for the primary", x.Self())
	}
}

// TestOnlyAnAnswerEndsAGather: a new primary counts a member as heard
// out only on its answer to this gather, not on a copy the member pushed
// before (which may lack what it held since, its processes above all).
func TestOnlyAnAnswerEndsAGather(t *testing.T) {
	a, b := NodeID{Name: "a", Inc: 1}, NodeID{Name: "b", Inc: 1}
	p, other := a, b
	pn := newQuiet(t, p, []NodeID{a, b})
	if !pn.Partition(0).Primary {
		p, other = b, a
		pn = newQuiet(t, p, []NodeID{a, b})
	}
	st := pn.Partition(0)
	if !st.Primary || st.Serving {
		t.Fatalf("%v: %+v; want a primary still gathering", p, st)
	}
	pn.Receive(other, MsgGive{P: 0, ID: 4, Total: 1}) // pushed
	if pn.Partition(0).Serving {
		t.Fatalf("a pushed copy ended the gather")
	}
	if acks := sent[MsgGiveAck](pn); len(acks) != 1 || acks[0].ID != 4 {
		t.Fatalf("acks for the pushed copy: %+v; want one, of id 4 (it was merged)", acks)
	}
	pn.Receive(other, MsgGive{P: 0, Total: 1, Answers: st.Stream})
	if !pn.Partition(0).Serving {
		t.Fatalf("the answer to the gather did not end it")
	}
}
