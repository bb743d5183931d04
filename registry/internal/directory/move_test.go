package directory

import (
	"slices"
	"testing"
)

// drainAll returns what n asks for now: effects and messages.
func drainAll(n *Node) ([]Effect, []Envelope) {
	rd := n.Ready()
	return rd.Effects, rd.Msgs
}

// only returns the effects of type E.
func only[E any](es []Effect) []E {
	var out []E
	for _, e := range es {
		if x, ok := e.(E); ok {
			out = append(out, x)
		}
	}
	return out
}

// msgs returns the messages of type M.
func msgs[M any](envs []Envelope) []M {
	var out []M
	for _, e := range envs {
		if m, ok := e.Msg.(M); ok {
			out = append(out, m)
		}
	}
	return out
}

// moveSetup makes a primary p of one partition that serves the name "n",
// whose process runs on the other node o, and has started the move of it
// from o's state: the new process (id 50 on p) runs, not yet confirmed.
func moveSetup(t *testing.T) (pn *Node, p, o NodeID, old, nu Inst) {
	t.Helper()
	a, b := NodeID{Name: "a", Inc: 1}, NodeID{Name: "b", Inc: 1}
	p, o = a, b
	pn = newQuiet(t, p, []NodeID{a, b})
	if !pn.Partition(0).Primary {
		p, o = b, a
		pn = newQuiet(t, p, []NodeID{a, b})
	}
	old = Inst{Node: o, ID: 3}
	rec := Record{Name: "n", Reg: RegID{Inc: 9, Seq: 1}, Spec: Spec{Kind: "k"}, Inst: old, Gen: 1}
	pn.Receive(o, MsgGive{P: 0, ID: 1, Total: 1, Records: []Record{rec}, Answers: pn.Partition(0).Stream})
	if !pn.Partition(0).Serving {
		t.Fatalf("the primary does not serve after o's answer: %+v", pn.Partition(0))
	}
	pn.Tick()
	_, out := drainAll(pn)
	if vs := msgs[MsgVerdict](out); len(vs) != 1 || vs[0].Items[0].Action != VerdictMove {
		t.Fatalf("verdicts sent: %+v; want a move of n", vs)
	}
	pn.Receive(o, MsgMoveState{P: 0, Name: "n", Inst: old, Action: ActionMove, State: []byte("s")})
	effs, _ := drainAll(pn)
	starts := only[Start](effs)
	if len(starts) != 1 || !starts[0].Restore || string(starts[0].State) != "s" {
		t.Fatalf("starts: %+v; want one, from the moved state", starts)
	}
	pn.Started(starts[0].Token, 50)
	nu = Inst{Node: p, ID: 50}
	return pn, p, o, old, nu
}

// TestMoveServesOnlyOnceConfirmed: the record points at a move's new
// process only once the old node confirms it retired the old one (and
// forwarded its backlog ahead of the confirmation): before, a sender
// looking the name up found the new process while its earlier casts were
// still waiting in the old one's mailbox, and one that arrived later
// overtook them (the hole registry/doc.go described).
func TestMoveServesOnlyOnceConfirmed(t *testing.T) {
	pn, _, o, old, nu := moveSetup(t)
	_, out := drainAll(pn)
	if m := msgs[MsgMoved](out); len(m) != 1 || m[0].Old != old || m[0].New != nu {
		t.Fatalf("MsgMoved sent: %+v; want one, %v -> %v", m, old, nu)
	}
	if r, _ := pn.Lookup("n"); r.Inst != old {
		t.Fatalf("before the old node confirmed, the record says %v; want still %v", r.Inst, old)
	}
	if inst, _, _ := pn.Where("n"); inst != old {
		t.Fatalf("Where says %v before the confirmation; want %v", inst, old)
	}
	pn.Receive(o, MsgForwarded{P: 0, Name: "n", Old: old, New: nu})
	if r, _ := pn.Lookup("n"); r.Inst != nu || r.From() != old || r.Gen != 2 {
		t.Fatalf("after the confirmation the record is %+v; want %v from %v, generation 2", r, nu, old)
	}
	if acks := sent[MsgForwardedAck](pn); len(acks) != 1 || acks[0].Old != old {
		t.Fatalf("acknowledgements: %+v; want one for %v", acks, old)
	}
	if st := pn.Stats(); st.Moving != 0 || st.Locals != 1 {
		t.Fatalf("stats after the move: %+v; want nothing moving, one local process", st)
	}
}

// TestMoveRefusedStopsTheNewProcess: an old node that did not retire its
// process into this one (it runs on, or went to another primary's new
// process) makes the primary stop the new process: a moved state never
// runs twice.
func TestMoveRefusedStopsTheNewProcess(t *testing.T) {
	for _, answer := range []Inst{{}, {Node: NodeID{Name: "z", Inc: 4}, ID: 8}} {
		pn, _, o, old, nu := moveSetup(t)
		drainAll(pn)
		pn.Receive(o, MsgForwarded{P: 0, Name: "n", Old: old, New: answer})
		effs, _ := drainAll(pn)
		if stops := only[Stop](effs); len(stops) != 1 || stops[0].Inst != nu {
			t.Fatalf("answer %v: stops %+v; want the new process %v stopped", answer, stops, nu)
		}
		if r, _ := pn.Lookup("n"); r.Inst != old {
			t.Fatalf("answer %v: the record says %v; want still %v", answer, r.Inst, old)
		}
		if st := pn.Stats(); st.Moving != 0 || st.Locals != 0 {
			t.Fatalf("answer %v: stats %+v; want nothing moving or running", answer, st)
		}
	}
}

// TestMoveOldNodeOutOfReach: while the old node cannot be reached the
// name is served again (restarted from its spec: each side of a split
// serves), and the new process waits, neither serving nor stopped; when
// the old node confirms after all, the new process is reported like any
// other (here it is this primary's own, so judged at once), and one of
// the two wins, the other's state merged into it.
func TestMoveOldNodeOutOfReach(t *testing.T) {
	pn, p, o, old, nu := moveSetup(t)
	drainAll(pn)
	pn.SetView([]NodeID{p})
	pn.Tick()
	pn.Tick()
	effs, _ := drainAll(pn)
	if stops := only[Stop](effs); len(stops) > 0 {
		t.Fatalf("the new process was stopped while the old node was out of reach: %+v", stops)
	}
	starts := only[Start](effs)
	if len(starts) != 1 || starts[0].Restore {
		t.Fatalf("starts: %+v; want n restarted from its spec", starts)
	}
	pn.Started(starts[0].Token, 60)
	if r, _ := pn.Lookup("n"); r.Inst.ID != 60 {
		t.Fatalf("the record says %v; want the restarted process 60", r.Inst)
	}
	if st := pn.Stats(); st.Moving != 1 {
		t.Fatalf("stats %+v; want the move still waiting", st)
	}
	pn.SetView([]NodeID{p, o})
	drainAll(pn)
	pn.Receive(o, MsgForwarded{P: 0, Name: "n", Old: old, New: nu})
	for range 3 {
		pn.Tick()
	}
	effs, _ = drainAll(pn)
	if st := pn.Stats(); st.Moving != 0 {
		t.Fatalf("stats %+v; want the move settled", st)
	}
	// The restarted process (60) has the higher generation: the moved
	// one loses, its state going to 60's conflict hook.
	if pauses := only[Pause](effs); len(pauses) != 1 || pauses[0].Inst != nu {
		t.Fatalf("pauses %+v; want the moved process %v paused to lose to the restarted one", pauses, nu)
	}
}

// TestMoveOldNodeCrashed: an old node seen again as a new incarnation
// crashed; whether it retired its process into this new one, or into
// another primary's before it went, nobody can say: the new process is
// stopped and the name restarted from its spec (a crash loses the state
// of what the node ran), never two processes holding one state.
func TestMoveOldNodeCrashed(t *testing.T) {
	pn, p, o, _, nu := moveSetup(t)
	drainAll(pn)
	pn.SetView([]NodeID{p, {Name: o.Name, Inc: o.Inc + 1}})
	pn.Tick()
	pn.Tick()
	effs, _ := drainAll(pn)
	if stops := only[Stop](effs); len(stops) != 1 || stops[0].Inst != nu {
		t.Fatalf("stops %+v; want the moved process %v stopped", stops, nu)
	}
	if starts := only[Start](effs); len(starts) != 1 || starts[0].Restore {
		t.Fatalf("starts %+v; want n restarted from its spec", starts)
	}
	if st := pn.Stats(); st.Moving != 0 {
		t.Fatalf("stats %+v; want the move settled", st)
	}
}

// TestOldNodeRetiresOnce: the old node of a move retires its process
// into the first new process it hears of, forwarding to it; asked again
// (its confirmation lost) it answers the same, and asked by another
// primary about another new process it names the first, so that one
// stops. Its confirmation is sent again until acknowledged, and a
// draining node is not done before.
func TestOldNodeRetiresOnce(t *testing.T) {
	a, b := NodeID{Name: "a", Inc: 1}, NodeID{Name: "b", Inc: 1}
	o := newQuiet(t, a, []NodeID{a})
	o.Request(1, ReqRegister, "n", "", Spec{Kind: "k"})
	effs, _ := drainAll(o)
	o.Started(only[Start](effs)[0].Token, 3)
	drainAll(o)
	old := Inst{Node: a, ID: 3}
	o.SetView([]NodeID{a, b})
	primary, _ := o.PrimaryOf("n")
	if primary != b {
		o.Drain() // b must lead the partition, whatever the hash says
		primary, _ = o.PrimaryOf("n")
	}
	if primary != b {
		t.Fatalf("primary %v; want b", primary)
	}
	drainAll(o)
	o.Receive(b, MsgVerdict{P: 0, Items: []Verdict{{Name: "n", Inst: old, Action: VerdictMove}}})
	if effs, _ := drainAll(o); len(only[Pause](effs)) != 1 {
		t.Fatalf("effects %+v; want a pause", effs)
	}
	o.Paused(3, ActionMove, []byte("s"))
	drainAll(o)
	nu := Inst{Node: b, ID: 50}
	o.Receive(b, MsgMoved{P: 0, Name: "n", Old: old, New: nu})
	effs, out := drainAll(o)
	if fw := only[Forward](effs); len(fw) != 1 || fw[0].From != old || fw[0].To != nu {
		t.Fatalf("forwards %+v; want %v -> %v", fw, old, nu)
	}
	if f := msgs[MsgForwarded](out); len(f) != 1 || f[0].New != nu {
		t.Fatalf("confirmations %+v; want one naming %v", f, nu)
	}
	o.Receive(b, MsgMoved{P: 0, Name: "n", Old: old, New: nu})
	effs, out = drainAll(o)
	if len(only[Forward](effs)) > 0 || !slices.Equal(msgs[MsgForwarded](out), []MsgForwarded{{P: 0, Name: "n", Old: old, New: nu}}) {
		t.Fatalf("asked again: effects %+v, messages %+v; want the same confirmation only", effs, out)
	}
	other := Inst{Node: b, ID: 51}
	o.Receive(b, MsgMoved{P: 0, Name: "n", Old: old, New: other})
	if f := sent[MsgForwarded](o); len(f) != 1 || f[0].New != nu {
		t.Fatalf("asked about %v: %+v; want the answer %v (so %v stops)", other, f, nu, other)
	}
	for range 40 {
		o.Tick()
	}
	if f := sent[MsgForwarded](o); len(f) == 0 {
		t.Fatalf("the unacknowledged confirmation was not sent again")
	}
	before, _ := o.Drained()
	o.Receive(b, MsgForwardedAck{P: 0, Old: old})
	if after, _ := o.Drained(); after != before-1 {
		t.Fatalf("left to drain: %d before the acknowledgement, %d after; want one less (the confirmation counts)", before, after)
	}
}
