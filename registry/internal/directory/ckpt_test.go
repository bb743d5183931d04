package directory

import (
	"errors"
	"testing"
)

func (s *single) checkpoint(req uint64, name string, id, seq uint64, state string) Reply {
	s.t.Helper()
	s.n.Checkpoint(req, name, id, seq, []byte(state), nil)
	s.drain()
	r, ok := s.replies[req]
	if !ok {
		s.t.Fatalf("checkpoint %d of %s not answered", req, name)
	}
	return r
}

func TestCheckpointKeepsTheNewestOfTheNamesProcess(t *testing.T) {
	s := newSingle(t, nil)
	r := s.request(1, ReqRegister, "x", Spec{Kind: "k", Checkpoints: true})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	id := r.Answer.Inst.ID
	if c := s.checkpoint(2, "x", id, 2, "two"); c.Err != nil {
		t.Fatalf("checkpoint 2: %v", c.Err)
	}
	if c := s.checkpoint(3, "x", id, 1, "one"); c.Err != nil {
		t.Fatalf("an older checkpoint is answered as kept (a newer one is): %v", c.Err)
	}
	rec, _ := s.n.Lookup("x")
	if c := rec.Ckpt(); c == nil || c.Seq != 2 || string(c.State) != "two" {
		t.Fatalf("record's checkpoint %+v, want seq 2 %q (an older one never replaces a newer)", c, "two")
	}
	if c := s.checkpoint(4, "x", id+50, 9, "stray"); !errors.Is(c.Err, ErrStale) {
		t.Fatalf("checkpoint of a process the name does not run: %v, want ErrStale", c.Err)
	}
	if c := s.checkpoint(5, "nobody", id, 1, "x"); !errors.Is(c.Err, ErrNotFound) {
		t.Fatalf("checkpoint of an unregistered name: %v, want ErrNotFound", c.Err)
	}
	big := make([]byte, 4096)
	if c := s.checkpoint(6, "x", id, 3, string(big)); !errors.Is(c.Err, ErrTooLarge) {
		t.Fatalf("checkpoint past the message size: %v, want ErrTooLarge", c.Err)
	}
}

func TestRestartFromCheckpoint(t *testing.T) {
	s := newSingle(t, nil)
	r := s.request(1, ReqRegister, "x", Spec{Kind: "k", Checkpoints: true})
	id := r.Answer.Inst.ID
	s.n.Checkpoint(2, "x", id, 1, []byte("saved"), []Inst{{Node: NodeID{Name: "b", Inc: 7}, ID: 3}})
	s.drain()
	s.started = nil
	s.n.Exited(id) // an exit ends the registration: not a restart
	s.drain()
	if len(s.started) != 0 {
		t.Fatalf("an exited process was restarted: %+v", s.started)
	}

	// A process gone without exiting (the host lost it) restarts from
	// the checkpoint, holding the losers it held.
	r = s.request(3, ReqRegister, "y", Spec{Kind: "k", Checkpoints: true})
	id = r.Answer.Inst.ID
	loser := Inst{Node: NodeID{Name: "b", Inc: 7}, ID: 3}
	s.n.Checkpoint(4, "y", id, 1, []byte("saved"), []Inst{loser})
	s.drain()
	pt := s.n.parts[PartitionOf("y", s.n.cfg.Partitions)]
	rec := pt.data.visible("y")
	s.n.dropLocal(pt, id)
	s.started = nil
	s.n.restart(pt, rec)
	s.drain()
	if len(s.started) != 1 || !s.started[0].Restore || !s.started[0].Checkpoint || string(s.started[0].State) != "saved" {
		t.Fatalf("restart: %+v, want one start from the checkpoint", s.started)
	}
	rec2, _ := s.n.Lookup("y")
	if !s.n.holdsState(rec2.Inst, loser) {
		t.Fatalf("the restarted process does not hold the loser its checkpoint holds")
	}
}

func TestMergedCopiesKeepEveryCheckpoint(t *testing.T) {
	a := Inst{Node: NodeID{Name: "a", Inc: 1}, ID: 1}
	b := Inst{Node: NodeID{Name: "b", Inc: 1}, ID: 2}
	reg := RegID{Inc: 1, Seq: 1}
	side1 := Record{Name: "x", Reg: reg, Inst: a, Gen: 1}
	side1.setCkpt(&Checkpoint{Inst: a, Seq: 5, State: []byte("a5")})
	side2 := Record{Name: "x", Reg: reg, Inst: b, Gen: 2} // restarted on the other side, from a's checkpoint 3
	side2.setCkpt(&Checkpoint{Inst: a, Seq: 3, State: []byte("a3")})

	for _, order := range [][2]Record{{side1, side2}, {side2, side1}} {
		s := newStore()
		s.merge(storeOfRecord(order[0]))
		s.merge(storeOfRecord(order[1]))
		r := s.visible("x")
		if r.Inst != b {
			t.Fatalf("merged record runs %v, want %v (higher generation)", r.Inst, b)
		}
		if c := r.Ckpt(); c == nil || c.Inst != a || c.Seq != 3 {
			t.Fatalf("merged checkpoint %+v, want a@3 (what b descends from)", c)
		}
		if o := r.Orphans(); len(o) != 1 || o[0].Inst != a || o[0].Seq != 5 {
			t.Fatalf("orphans %+v, want a@5 (acknowledged on the other side, not held by b)", o)
		}
	}

	// b's own checkpoint, holding a's merged state, covers the orphan.
	rec := side2
	mergeCkpts(&rec, &side1)
	own := &Checkpoint{Inst: b, Seq: 1, State: []byte("b1"), Holds: []Inst{a}, Base: CkRef{Inst: a, Seq: 3}}
	rec.setCkpt(own)
	if len(rec.Orphans()) != 0 {
		t.Fatalf("orphans %+v after a checkpoint that holds a", rec.Orphans())
	}
}

// TestUndecodableLoserStateIsNotTaken: a conflict loser's state the
// winner's node cannot decode is neither handed to the winner nor
// counted as held: the loser keeps it and sends it again, and once the
// node can decode it (a later build), it is taken.
func TestUndecodableLoserStateIsNotTaken(t *testing.T) {
	decodable := false
	s := newSingle(t, func(c *Config) { c.Decodable = func(string, []byte) bool { return decodable } })
	r := s.request(1, ReqRegister, "x", Spec{Kind: "k"})
	winner := r.Answer.Inst
	pt := s.n.parts[PartitionOf("x", s.n.cfg.Partitions)]
	loser := Inst{Node: NodeID{Name: "b", Inc: 7}, ID: 3}
	deliver := func() (resolves int) {
		s.n.onResolve(pt, MsgResolve{P: pt.id, Name: "x", Loser: loser, Winner: winner, State: []byte("s"), Approved: true, Sent: true})
		for _, e := range s.n.Ready().Effects {
			if _, ok := e.(Resolve); ok {
				resolves++
			}
		}
		return resolves
	}
	if n := deliver(); n != 0 || s.n.holdsState(winner, loser) {
		t.Fatalf("undecodable: %d resolves, held %v; want none, not held", n, s.n.holdsState(winner, loser))
	}
	decodable = true
	if n := deliver(); n != 1 || !s.n.holdsState(winner, loser) {
		t.Fatalf("decodable again: %d resolves, held %v; want one, held", n, s.n.holdsState(winner, loser))
	}
	if n := deliver(); n != 0 {
		t.Fatalf("a resend after it was taken: %d resolves, want none", n)
	}
}
