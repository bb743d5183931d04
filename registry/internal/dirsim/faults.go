package dirsim

import (
	"maps"

	"github.com/shoalhq/shoal/registry/internal/directory"
)

// act makes the clients' requests and, with faults on, one fault now and
// then.
func (s *Sim) act() {
	for range s.rng.IntN(3) {
		s.clientOp()
	}
	s.stopDrained()
	if !s.faults {
		return
	}
	switch r := s.rng.Float64(); {
	case r < 0.008:
		s.crash(s.rng.Float64() < 0.5)
	case r < 0.016:
		s.restart()
	case r < 0.024:
		s.partition()
	case r < 0.036:
		s.heal()
	case r < 0.040:
		if len(s.live()) < s.opt.MaxNodes {
			h := s.addNode()
			s.logf("join %v", h.id)
			s.membershipChanged()
		}
	case r < 0.043:
		s.startDrain()
	case r < 0.050:
		s.exit()
	case r < 0.054:
		s.undecodable()
	}
}

// undecodable makes a live node unable to decode conflict losers'
// states, or able again: what it is sent stays with the losers, which
// send it again, and is never lost.
func (s *Sim) undecodable() {
	h := s.anyLive()
	if h == nil {
		return
	}
	h.undecodable = !h.undecodable
	s.logf("undecodable %v %v", h.id, h.undecodable)
}

// anyLive returns a live node at random (nil if none).
func (s *Sim) anyLive() *host {
	live := s.live()
	if len(live) == 0 {
		return nil
	}
	return live[s.rng.IntN(len(live))]
}

// clientOp makes one request about a name no client is acting on.
func (s *Sim) clientOp() {
	live := s.live()
	if len(live) == 0 {
		return
	}
	names := s.poolNames()
	name := names[s.rng.IntN(len(names))]
	if s.model.busy[name] || s.model.quietUntil[name] > s.now {
		return
	}
	if s.opt.Checkpoints && s.rng.Float64() < 0.4 {
		s.write(name)
		return
	}
	h := live[s.rng.IntN(len(live))]
	var op directory.ReqOp
	switch r := s.rng.Float64(); {
	case r < 0.5:
		op = directory.ReqRegister
	case r < 0.75:
		op = directory.ReqUnregister
	case r < 0.9:
		op = directory.ReqWhereis
	case r < 0.96:
		op = directory.ReqJoin
	default:
		op = directory.ReqLeave
	}
	s.request(h, op, name, directory.Spec{Kind: "k", Args: []byte(name), Checkpoints: s.opt.Checkpoints})
}

// request makes a client's request at h; it returns the request's id.
func (s *Sim) request(h *host, op directory.ReqOp, name string, spec directory.Spec) uint64 {
	s.reqSeq++
	s.model.busy[name] = true
	if op == directory.ReqUnregister {
		s.model.voidWrites(s, name)
	}
	h.reqs[s.reqSeq] = clientOp{op: op, name: name, crashes: maps.Clone(s.model.crashes), at: s.now}
	s.logf("request %v req %d %v %s", h.id, s.reqSeq, op, name)
	h.dn.Request(s.reqSeq, op, name, "g", spec)
	s.drain(h)
	return s.reqSeq
}

// crash kills a live node: it loses its memory and processes. With
// again, it comes back at once at the same name, as a new incarnation
// (what a container restarted in place does).
func (s *Sim) crash(again bool) {
	live := s.live()
	if len(live) <= 1 {
		return
	}
	s.crashHost(live[s.rng.IntN(len(live))], again)
}

// crashHost kills h (see crash).
func (s *Sim) crashHost(h *host, again bool) {
	s.logf("crash %v (again=%v)", h.id, again)
	s.model.crashes[h.id.Name]++
	for _, op := range h.reqs {
		if op.op != directory.ReqCheckpoint {
			s.model.orphaned(s, op.name) // its answer is lost
		}
	}
	h.dn, h.procs = nil, nil
	s.lastCrash = s.now
	s.model.crashed(s)
	if again {
		s.boot(h.id.Name, h)
	}
	s.membershipChanged()
}

// restart brings a crashed node back.
func (s *Sim) restart() {
	for _, name := range s.names() {
		if h := s.hosts[name]; h.dn == nil && !h.drained {
			s.boot(name, h)
			h.group = 0
			s.membershipChanged()
			return
		}
	}
}

// partition splits the live nodes in two.
func (s *Sim) partition() {
	live := s.live()
	if len(live) < 2 {
		return
	}
	for _, h := range live {
		h.group = s.rng.IntN(2)
	}
	s.logf("partition %v", groups(live))
	s.membershipChanged()
}

func groups(hs []*host) map[string]int {
	out := map[string]int{}
	for _, h := range hs {
		out[h.id.Name] = h.group
	}
	return out
}

func (s *Sim) heal() {
	changed := false
	for _, h := range s.live() {
		if h.group != 0 {
			h.group, changed = 0, true
		}
	}
	if changed {
		s.logf("heal")
		s.membershipChanged()
	}
}

// startDrain makes a node leave gracefully: it stops once drained.
func (s *Sim) startDrain() {
	live := s.live()
	if len(live) <= 2 {
		return
	}
	h := live[s.rng.IntN(len(live))]
	s.logf("drain %v", h.id)
	h.dn.Drain()
	s.drain(h)
	h.drainAt = s.now
}

// stopDrained stops the draining nodes that are done (or, past a
// deadline, stops them anyway: a deadline that ran out).
func (s *Sim) stopDrained() {
	for _, h := range s.live() {
		if h.drainAt == 0 {
			continue
		}
		left, ok := h.dn.Drained()
		if !ok && s.now-h.drainAt < 400 {
			continue
		}
		s.logf("stop drained %v (left %d)", h.id, left)
		if !ok {
			s.model.crashes[h.id.Name]++ // what it still held is lost with it
			s.lastCrash = s.now
		}
		for _, op := range h.reqs {
			if op.op != directory.ReqCheckpoint {
				s.model.orphaned(s, op.name)
			}
		}
		h.dn, h.procs, h.drained, h.drainAt = nil, nil, true, 0
		s.model.crashed(s)
		s.membershipChanged()
	}
}

// exit makes a random process exit by itself: its name is then free.
func (s *Sim) exit() {
	h := s.anyLive()
	if h == nil {
		return
	}
	ids := sortedIDs(h.procs)
	if len(ids) == 0 {
		return
	}
	p := h.procs[ids[s.rng.IntN(len(ids))]]
	if p.paused || s.model.busy[p.name] {
		return
	}
	s.logf("exit %v %s", p.inst, p.name)
	delete(h.procs, p.inst.ID)
	s.model.exited(s, h, p.name)
	h.dn.Exited(p.inst.ID)
	s.drain(h)
}

// quiesce stops the faults, heals the cluster, lets views agree, and runs
// until nothing moves; then it checks.
func (s *Sim) quiesce() {
	s.faults = false
	s.logf("quiesce")
	s.heal()
	for _, h := range s.live() {
		h.undecodable = false
	}
	for _, h := range s.live() {
		h.viewAt = s.now
	}
	for _, h := range s.live() {
		if h.drainAt != 0 {
			h.drainAt = s.now // give it its full time again, fault-free
		}
	}
	quiet := 0
	for i := 0; i < s.opt.Settle; i++ {
		s.stopDrained()
		s.step(false)
		if s.busy() {
			s.checkListings() // not once quiet: nothing changes then
			quiet = 0
			continue
		}
		if quiet++; quiet > 200 {
			s.check()
			return
		}
	}
	s.check()
	s.fail("not quiet after %d steps", s.opt.Settle)
}

// busy reports whether anything is under way: messages, callbacks,
// requests, drains, partitions gathering or copies not handed over.
func (s *Sim) busy() bool {
	if len(s.calls) > 0 || len(s.model.busy) > 0 {
		return true
	}
	for _, h := range s.live() {
		for _, p := range h.procs {
			if p.inflight != 0 || p.dirty && !p.paused && s.opt.Checkpoints {
				return true
			}
		}
	}
	for _, f := range s.net {
		switch f.msg.(type) {
		case directory.MsgDigest, directory.MsgAck, directory.MsgCheck, directory.MsgReport, directory.MsgVerdict:
			continue // the steady state's chatter
		}
		return true
	}
	for _, h := range s.live() {
		if h.drainAt != 0 {
			return true
		}
		st := h.dn.Stats()
		if st.Gathering > 0 || st.Retained > 0 || st.Moving > 0 || st.Holding > 0 {
			return true
		}
	}
	return false
}
