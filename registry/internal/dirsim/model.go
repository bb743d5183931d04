package dirsim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shoalhq/shoal/registry/internal/directory"
)

// status is what the model knows of a name.
type status uint8

const (
	unknown      status = iota // never acknowledged either way, or uncertain
	registered                 // a registration was acknowledged
	unregistered               // an unregistration was acknowledged
)

// fact is the model's knowledge of one name: its status, and the nodes
// that held it when that was acknowledged (a loss is excused only if all
// of them crashed since).
type fact struct {
	st      status
	holders []string
	crashes map[string]int // crash counts of the holders at the time
	at      uint64         // step acknowledged
	sides   map[string]bool
	// lost says that at some point no live node held it (every copy
	// crashed): the model no longer vouches for it.
	lost bool
	// ended is the registration an unregistration ended; split says the
	// cluster was split while it was made.
	ended directory.RegID
	split bool
	// joined is set once a Join of the registration (ended, for a
	// registered name) to group "g" is acknowledged: the name stays in
	// the group as long as that registration lives, unless at some
	// point no live node held it in the group (joinLost: every copy
	// that knew of the join crashed).
	joined, joinLost bool
}

// model is the naive reference: clients act on a name one at a time, so
// the last acknowledged operation says what the name must be.
type model struct {
	facts   map[string]*fact
	busy    map[string]bool
	crashes map[string]int // by node name
	// quietUntil holds back requests about a name whose last request lost
	// its client (its node crashed) but may still take effect.
	quietUntil map[string]uint64
	// writes are the acknowledged writes, by name (see ckpt.go).
	writes   map[string][]*writeFact
	voidedAt map[string]uint64 // step a name's writes were last voided
}

func newModel() *model {
	return &model{facts: map[string]*fact{}, busy: map[string]bool{}, crashes: map[string]int{}, quietUntil: map[string]uint64{}}
}

// set records an acknowledged status, made by a client on origin. If the
// cluster was split since the name's last acknowledgement and clients on
// different sides changed it, each side's primary acted without the
// other's news: the merge decides, and the model cannot say (an
// available system under a partition is not linearizable).
func (m *model) set(s *Sim, origin *host, op clientOp, ans directory.Answer, st status) {
	name := op.name
	f := &fact{st: st, at: s.now, sides: map[string]bool{}}
	prev := m.facts[name]
	if prev != nil && prev.sides != nil && (s.splitAt >= prev.at || s.split()) {
		for side := range prev.sides {
			f.sides[side] = true
		}
	}
	f.sides[s.side(origin)] = true
	if len(f.sides) > 1 && prev != nil && prev.st != st {
		f.st = unknown
	}
	// An unregistration made across a split ends the registrations its
	// side knew; the other side may hold one of its own, which the heal
	// keeps. The one it ended must never come back.
	f.ended = ans.Reg
	f.split = s.split() || s.splitAt >= op.at
	f.holders, f.crashes = m.holdersOf(s, origin, op)
	m.facts[name] = f
}

// holdersOf returns the nodes that held op's name when its answer came
// to origin, and their crash counts when op was made: the primaries
// serving it on the origin's side and their replicas, and any node that
// crashed since the request (it may have been the one that answered).
func (m *model) holdersOf(s *Sim, origin *host, op clientOp) ([]string, map[string]int) {
	var holders []string
	crashes := map[string]int{}
	seen := map[string]bool{}
	for _, n := range s.names() {
		if m.crashes[n] != op.crashes[n] {
			seen[n] = true
			holders = append(holders, n)
			crashes[n] = op.crashes[n]
		}
	}
	side := map[directory.NodeID]bool{}
	for _, id := range origin.dn.Members() {
		side[id] = true
	}
	for _, h := range s.live() {
		if !side[h.id] || !h.dn.Serving(op.name) {
			continue
		}
		for _, id := range h.dn.Holders(op.name) {
			if !seen[id.Name] {
				seen[id.Name] = true
				holders = append(holders, id.Name)
				crashes[id.Name] = op.crashes[id.Name] // a crash since the request counts
			}
		}
	}
	slices.Sort(holders)
	return holders, crashes
}

// orphaned notes a request whose client crashed: the name is uncertain,
// and no client acts on it until the request can no longer take effect.
func (m *model) orphaned(s *Sim, name string) {
	delete(m.busy, name)
	m.uncertain(name)
	m.quietUntil[name] = s.now + 400
}

// exited notes a process's own exit, which ends its registration, seen
// from origin's side: like an unregistration the model cannot vouch for.
func (m *model) exited(s *Sim, origin *host, name string) {
	m.voidWrites(s, name)
	f := &fact{st: unknown, at: s.now, sides: map[string]bool{}}
	if prev := m.facts[name]; prev != nil && (s.splitAt >= prev.at || s.split()) {
		for side := range prev.sides {
			f.sides[side] = true
		}
	}
	f.sides[s.side(origin)] = true
	m.facts[name] = f
	// An exit takes effect when the primary hears of it: a request made
	// meanwhile may still see the process (its answer is a valid order of
	// the two). Clients leave the name alone until then.
	m.quietUntil[name] = s.now + 400
}

// side names the side of a split a client on origin acts from: the
// members its node sees and those it can reach (the two differ while its
// view lags behind a cut or a heal).
func (s *Sim) side(origin *host) string {
	var reach []string
	for _, h := range s.live() {
		if s.reachable(origin, h) {
			reach = append(reach, h.id.Name)
		}
	}
	return fmt.Sprint(origin.dn.Members(), reach)
}

func (m *model) uncertain(name string) {
	m.facts[name] = &fact{st: unknown, sides: m.factSides(name)}
}

func (m *model) factSides(name string) map[string]bool {
	if f := m.facts[name]; f != nil {
		return f.sides
	}
	return nil
}

// reply takes a request's answer into the model.
func (m *model) reply(s *Sim, origin *host, op clientOp, r directory.Reply) {
	delete(m.busy, op.name)
	switch {
	case op.op == directory.ReqRegister && r.Err == nil:
		m.set(s, origin, op, r.Answer, registered)
	case op.op == directory.ReqUnregister && (r.Err == nil || errors.Is(r.Err, directory.ErrNotFound)):
		m.set(s, origin, op, r.Answer, unregistered) // not found: not registered either
	case op.op == directory.ReqJoin && r.Err == nil:
		if f := m.facts[op.name]; f != nil && f.st == registered && f.ended == r.Answer.Reg {
			f.joined = true
		}
	case op.op == directory.ReqJoin || op.op == directory.ReqLeave:
		if f := m.facts[op.name]; f != nil {
			f.joined = false // left, or maybe: the model no longer vouches for the join
		}
	case op.op == directory.ReqRegister || op.op == directory.ReqUnregister:
		if !errors.Is(r.Err, directory.ErrTooLarge) {
			m.uncertain(op.name) // it may have happened (a duplicate of the request may have gone on)
		}
		if errors.Is(r.Err, directory.ErrTimeout) {
			// It may still be on its way, held by a node for at most
			// RequestTicks: clients leave the name alone until then.
			m.quietUntil[op.name] = s.now + 2*requestTicks
		}
	}
}

// excused reports whether every node that held f's name when it was
// acknowledged has crashed since.
func (m *model) excused(f *fact) bool {
	if len(f.holders) == 0 || f.lost {
		return true
	}
	for _, n := range f.holders {
		if m.crashes[n] == f.crashes[n] {
			return false
		}
	}
	return true
}

// check compares the quiet cluster with the model and the invariants.
func (s *Sim) check() {
	live := s.live()
	if len(live) == 0 {
		return
	}
	// Every node agrees on where each name lives, and its primary serves it.
	where := map[string]directory.Record{}
	for _, name := range s.poolNames() {
		var first *directory.Record
		for _, h := range live {
			pid, ok := h.dn.PrimaryOf(name)
			if !ok {
				s.fail("%v: no primary for %s", h.id, name)
				continue
			}
			ph := s.hosts[pid.Name]
			if ph == nil || ph.dn == nil || ph.id != pid {
				s.fail("%v: primary of %s is %v, not a live node", h.id, name, pid)
				continue
			}
			if !ph.dn.Serving(name) {
				s.fail("%v: primary of %s, does not serve it", pid, name)
				continue
			}
			r, _ := ph.dn.Lookup(name)
			if first == nil {
				first = &r
			} else if r.Inst != first.Inst || r.Reg != first.Reg {
				s.fail("%s: %v says %v, another node says %v", name, h.id, r.Inst, first.Inst)
			}
		}
		if first != nil && first.Name != "" {
			where[name] = *first
		}
	}
	// Exactly one running process per registered name, the record's.
	running := map[string][]*proc{}
	for _, h := range live {
		for _, id := range sortedIDs(h.procs) {
			p := h.procs[id]
			running[p.name] = append(running[p.name], p)
			if p.paused {
				s.fail("%s: process %v still paused", p.name, p.inst)
			}
		}
	}
	for _, name := range s.poolNames() {
		r, ok := where[name]
		ps := running[name]
		switch {
		case ok && (len(ps) != 1 || ps[0].inst != r.Inst):
			var insts []string
			for _, p := range ps {
				insts = append(insts, p.inst.String())
			}
			s.fail("%s: record says %v, processes running: %v", name, r.Inst, insts)
		case !ok && len(ps) > 0:
			s.fail("%s: not registered, but %d processes run (first %v)", name, len(ps), ps[0].inst)
		}
		f := s.model.facts[name]
		if f == nil {
			continue
		}
		switch {
		case f.st == registered && !ok && !s.model.excused(f):
			s.fail("%s: registration acknowledged (held by %v) is lost", name, f.holders)
		case f.st == unregistered && ok && !f.ended.IsZero() && r.Reg == f.ended && !s.model.excused(f):
			s.fail("%s: registration %v was ended, but is back as %v", name, f.ended, r.Inst)
		case f.st == unregistered && ok && !f.split && !s.model.excused(f):
			s.fail("%s: unregistered (held by %v), but back as %v", name, f.holders, r.Inst)
		case f.st == registered && ok && f.joined && !f.joinLost && r.Reg == f.ended && !slices.Contains(r.Groups(), "g"):
			s.fail("%s: a join of %v to group g was acknowledged, but its record lists groups %v", name, r.Reg, r.Groups())
		}
	}
	// One primary serves each partition, and its replicas hold what it
	// holds.
	for p := range s.opt.Partitions {
		var primary *directory.PartitionState
		var replicas []directory.PartitionState
		for _, h := range live {
			st := h.dn.Partition(p)
			switch {
			case st.Primary && primary != nil:
				s.fail("partition %d has two primaries (%v is one)", p, h.id)
			case st.Primary:
				primary = &st
				if !st.Serving {
					s.fail("partition %d: primary %v does not serve it", p, h.id)
				}
			case st.Replica:
				replicas = append(replicas, st)
			}
		}
		if primary == nil {
			s.fail("partition %d has no primary", p)
			continue
		}
		if len(replicas) != min(s.opt.Replicas, len(live)-1) {
			s.fail("partition %d has %d replicas, want %d", p, len(replicas), min(s.opt.Replicas, len(live)-1))
		}
		for _, r := range replicas {
			if r.Stream != primary.Stream || r.Seq != primary.Seq || r.Hash != primary.Hash {
				s.fail("partition %d: a replica is at %v/%d hash %x, its primary at %v/%d hash %x",
					p, r.Stream, r.Seq, r.Hash, primary.Stream, primary.Seq, primary.Hash)
			}
		}
	}
	s.checkWrites(where, running)
	// Nothing is left in flight.
	for _, h := range live {
		st := h.dn.Stats()
		if st.Gathering > 0 || st.Retained > 0 {
			s.fail("%v: still gathering %d partitions, %d copies not handed over", h.id, st.Gathering, st.Retained)
		}
	}
}

func (s *Sim) poolNames() []string {
	if s.pool == nil {
		s.pool = make([]string, s.opt.Names)
		for i := range s.pool {
			s.pool[i] = fmt.Sprintf("name%02d", i)
		}
	}
	return s.pool
}

func sortedIDs(m map[uint64]*proc) []uint64 {
	out := make([]uint64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// crashed notes the facts whose every copy is on nodes that crashed
// since they were acknowledged (a copy moving to a node that then crashes
// is lost too, so the simulator asks after every step).
func (m *model) crashed(s *Sim) {
	live := s.live()
	for name, f := range m.facts { // any order: each fact on its own
		if f.joined && !f.joinLost && f.st == registered {
			f.joinLost = !slices.ContainsFunc(live, func(h *host) bool { return h.dn.HoldsInGroup(name, f.ended, "g") })
		}
		if f.st == unknown || f.lost || f.at > s.lastCrash {
			continue // no crash since it was acknowledged
		}
		held := false
		for _, h := range live {
			reg, tomb := h.dn.Holds(name)
			if f.st == registered && reg || f.st == unregistered && tomb {
				held = true
				break
			}
		}
		f.lost = !held
	}
	m.writesLost(s)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
