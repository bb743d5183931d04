package dirsim

import (
	"container/heap"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shoalhq/shoal/registry/internal/directory"
)

// Checkpoints (Options.Checkpoints). A client writes to a name by adding
// a fresh part ("w17") to the state of one of its running processes;
// the process then checkpoints its state, as a process of a kind in sync
// mode does after every message (a merged loser's state counts as one):
// one checkpoint in flight at a time, the next sent once it is answered.
// A write is acknowledged once a checkpoint holding it is. At quiescence
// the name's process must hold every acknowledged write, unless every
// node that held the name when it was acknowledged crashed since, or no
// node held it at some point (every copy on crashed nodes), or the name
// was unregistered (or its process exited) since, or the registration it
// was made to is not the name's at the end (a side of a split ended it).

// writeFact is an acknowledged write.
type writeFact struct {
	token   string
	reg     directory.RegID // the registration it was made to
	holders []string
	crashes map[string]int // crash counts of the holders when made
	lost    bool
}

// write adds a part to the state of a running process of name.
func (s *Sim) write(name string) {
	type cand struct {
		h *host
		p *proc
	}
	var cands []cand
	for _, h := range s.live() {
		for _, id := range sortedIDs(h.procs) {
			if p := h.procs[id]; p.name == name && !p.paused && p.inflight == 0 {
				cands = append(cands, cand{h, p})
			}
		}
	}
	if len(cands) == 0 {
		return
	}
	c := cands[s.rng.IntN(len(cands))]
	s.writeSeq++
	token := "w" + strconv.FormatUint(s.writeSeq, 10)
	c.p.state = append(append(c.p.state, '+'), token...)
	c.p.dirty = true
	s.logf("write %v %s %s", c.p.inst, name, token)
	s.checkpoint(c.h, c.p)
	s.drain(c.h)
}

// checkpoint sends p's state to its primary if it changed since the last
// checkpoint sent and none is in flight (the host drains it).
func (s *Sim) checkpoint(h *host, p *proc) {
	if !s.opt.Checkpoints || p.paused || p.inflight != 0 || !p.dirty || h.procs[p.inst.ID] != p {
		return
	}
	p.seq++
	p.dirty = false
	s.reqSeq++
	ck := &ckOp{inst: p.inst, state: slices.Clone(p.state), merged: slices.Clone(p.merged)}
	h.reqs[s.reqSeq] = clientOp{op: directory.ReqCheckpoint, name: p.name, crashes: maps.Clone(s.model.crashes), at: s.now, ck: ck}
	p.inflight = s.reqSeq
	s.logf("checkpoint %v %s seq %d req %d", p.inst, p.name, p.seq, s.reqSeq)
	h.dn.Checkpoint(s.reqSeq, p.name, p.inst.ID, p.seq, ck.state, ck.merged)
}

// checkpointed takes a checkpoint's answer.
func (s *Sim) checkpointed(h *host, req uint64, op clientOp, r directory.Reply) {
	p := h.procs[op.ck.inst.ID]
	if p != nil && p.inflight == req {
		p.inflight = 0
	}
	switch {
	case r.Err == nil:
		if p != nil && len(p.merged) >= len(op.ck.merged) {
			p.merged = p.merged[len(op.ck.merged):]
		}
		s.model.acked(s, h, op, r.Answer.Reg)
	case p != nil && (errors.Is(r.Err, directory.ErrTimeout) || errors.Is(r.Err, directory.ErrNoPrimary) || errors.Is(r.Err, directory.ErrBusy)):
		// Transient: sent again. (Not found, stale, too large: the
		// process is not the name's, and never will be again.)
		p.dirty = true // sent again with the next change, or in a while
		s.seq++
		heap.Push(&s.calls, callback{at: s.now + 10, seq: s.seq, node: h.id, f: func(h *host) {
			if q := h.procs[p.inst.ID]; q == p {
				s.checkpoint(h, p)
			}
		}})
		return
	}
	if p != nil {
		s.checkpoint(h, p)
	}
}

// acked notes the writes an acknowledged checkpoint holds.
func (m *model) acked(s *Sim, origin *host, op clientOp, reg directory.RegID) {
	if m.writes == nil {
		m.writes = map[string][]*writeFact{}
	}
	if op.at <= m.voidedAt[op.name] {
		return // the name was unregistered (or its process exited) since
	}
	holders, crashes := m.holdersOf(s, origin, op)
	for _, part := range strings.Split(string(op.ck.state), "+") {
		if !strings.HasPrefix(part, "w") || slices.ContainsFunc(m.writes[op.name], func(w *writeFact) bool { return w.token == part }) {
			continue
		}
		m.writes[op.name] = append(m.writes[op.name], &writeFact{token: part, reg: reg, holders: holders, crashes: crashes})
	}
}

// voidWrites forgets the writes to name: it is being unregistered, or
// its process exited.
func (m *model) voidWrites(s *Sim, name string) {
	delete(m.writes, name)
	if m.voidedAt == nil {
		m.voidedAt = map[string]uint64{}
	}
	m.voidedAt[name] = s.now
}

// writesLost marks the writes no live node holds any more, in a
// checkpoint or a process's state.
func (m *model) writesLost(s *Sim) {
	live := s.live()
	for _, name := range sortedKeys(m.writes) {
		held := map[string]bool{}
		add := func(state []byte) {
			for _, part := range strings.Split(string(state), "+") {
				held[part] = true
			}
		}
		for _, h := range live {
			h.dn.HeldCkpts(name, add)
			for _, id := range sortedIDs(h.procs) {
				if p := h.procs[id]; p.name == name {
					add(p.state)
				}
			}
		}
		for _, w := range m.writes[name] {
			if !held[w.token] {
				w.lost = true
			}
		}
	}
}

// checkWrites checks that the process of each name holds every write
// acknowledged to it.
func (s *Sim) checkWrites(where map[string]directory.Record, running map[string][]*proc) {
	for _, name := range sortedKeys(s.model.writes) {
		r, ok := where[name]
		ps := running[name]
		if !ok || len(ps) != 1 || ps[0].inst != r.Inst {
			continue // reported already, or not registered
		}
		parts := map[string]bool{}
		for _, part := range strings.Split(string(ps[0].state), "+") {
			parts[part] = true
		}
		for _, w := range s.model.writes[name] {
			if !parts[w.token] && w.reg == r.Reg && !w.lost && !s.model.excused(&fact{holders: w.holders, crashes: w.crashes}) {
				s.fail("%s: write %s acknowledged (held by %v) is lost: %v holds %s", name, w.token, w.holders, ps[0].inst, ps[0].state)
			}
		}
	}
}
