package directory

import (
	"fmt"
	"slices"
)

// reqKey identifies a client request.
type reqKey struct {
	origin NodeID
	req    uint64
}

// maxHops bounds how often a request is passed on between nodes whose
// views disagree.
const maxHops = 3

// Request starts a client request with id req (unique on this node); its
// answer comes as a Reply effect, from this node or, later, after a
// message from the partition's primary.
func (n *Node) Request(req uint64, op ReqOp, name, group string, spec Spec) {
	n.reqs[req] = n.now + n.cfg.RequestTicks
	n.reqQ = append(n.reqQ, req)
	n.handleRequest(MsgRequest{Req: req, Origin: n.self, Op: op, Name: name, Group: group, Spec: spec, Left: n.cfg.RequestTicks})
}

// Checkpoint asks name's primary to keep state as the newest checkpoint
// of local process id, its seq-th (request req, answered by a Reply like
// any request: nil error once every replica has it). merged lists the
// conflict losers whose states the process took since its last
// acknowledged checkpoint.
func (n *Node) Checkpoint(req uint64, name string, id, seq uint64, state []byte, merged []Inst) {
	holds := n.withCarried(merged)
	if l := n.insts[id]; l != nil {
		holds = unionAbsorbed(holds, l.inheritedList())
	}
	c := &Checkpoint{Inst: Inst{Node: n.self, ID: id}, Seq: seq, State: state, Holds: holds}
	n.reqs[req] = n.now + n.cfg.RequestTicks
	n.reqQ = append(n.reqQ, req)
	n.handleRequest(MsgRequest{Req: req, Origin: n.self, Op: ReqCheckpoint, Name: name, Left: n.cfg.RequestTicks, Ckpt: c})
}

// replyTo answers a request, here or on its origin.
func (n *Node) replyTo(origin NodeID, req uint64, ans Answer, code ErrCode) {
	if origin == n.self {
		n.handleReply(MsgReply{Req: req, Answer: ans, Err: code})
		return
	}
	if n.alive(origin) {
		n.send(origin, MsgReply{Req: req, Answer: ans, Err: code})
	}
}

func (n *Node) handleReply(m MsgReply) {
	if _, ok := n.reqs[m.Req]; !ok {
		return // timed out already, or a duplicate
	}
	delete(n.reqs, m.Req)
	n.effect(Reply{Req: m.Req, Answer: m.Answer, Err: m.Err.err()})
}

// handleRequest serves a request at the name's primary, or passes it on.
func (n *Node) handleRequest(m MsgRequest) {
	held := m.At != 0
	if held { // held here a while
		waited := n.now + 1 - m.At
		if waited >= m.Left {
			n.replyTo(m.Origin, m.Req, Answer{}, CodeTimeout)
			return
		}
		m.Left, m.At = m.Left-waited, 0
	}
	pt := n.parts[PartitionOf(m.Name, n.cfg.Partitions)]
	switch {
	case pt.primary.IsZero():
		n.replyTo(m.Origin, m.Req, Answer{}, CodeNoPrimary)
		return
	case pt.primary != n.self:
		if m.Hops >= maxHops {
			n.replyTo(m.Origin, m.Req, Answer{}, CodeNoPrimary)
			return
		}
		m.Hops++
		n.send(pt.primary, m)
		return
	case !pt.serves():
		n.hold(pt, m)
		return
	}
	if !held && (m.Hops > 0 || m.Origin != n.self) {
		// A request served once is not served again: a duplicate that
		// came late would undo what its client did next. One made here
		// that never left (no hops) cannot come twice: not remembered
		// (a primary's own processes checkpoint through it, many times
		// a second).
		key := reqKey{m.Origin, m.Req}
		if _, dup := n.served[key]; dup {
			return
		}
		n.served[key] = n.now + 2*n.cfg.RequestTicks
		n.servedQ = append(n.servedQ, key)
		n.servedPeak = max(n.servedPeak, len(n.served))
	}
	if st := pt.starting[m.Name]; st != nil {
		m.At = n.now + 1
		st.queued = append(st.queued, m)
		return
	}
	r := pt.data.visible(m.Name)
	if r == nil && len(pt.unheard) > 0 {
		// A member the gather gave up on may hold it: no "not found",
		// and no second registration, until it is heard or gone.
		n.hold(pt, m)
		return
	}
	if r == nil && m.Op != ReqRegister {
		n.replyTo(m.Origin, m.Req, Answer{}, CodeNotFound)
		return
	}
	switch m.Op {
	case ReqWhereis:
		n.replyTo(m.Origin, m.Req, r.answer(), CodeOK)
	case ReqRegister:
		if r != nil {
			n.wait(pt, m.Origin, m.Req, r.answer(), CodeOK)
			return
		}
		rec := Record{Name: m.Name, Spec: m.Spec}
		if rec.size() > n.cfg.MaxMsgBytes/2 {
			n.replyTo(m.Origin, m.Req, Answer{}, CodeTooLarge)
			return
		}
		n.regSeq++
		rec.Reg = RegID{Inc: n.self.Inc, Seq: n.regSeq}
		m.At = n.now + 1
		n.start(pt, &starting{kind: startRegister, rec: rec, queued: []MsgRequest{m}}, nil, false)
	case ReqUnregister:
		ended := r.answer()
		n.endName(pt, r.Name)
		n.stopInst(pt, ended.Name, ended.Inst)
		n.wait(pt, m.Origin, m.Req, ended, CodeOK)
	case ReqJoin, ReqLeave:
		rec := *r.clone()
		groups := slices.Clone(rec.Groups())
		i := slices.Index(groups, m.Group)
		switch {
		case m.Op == ReqJoin && i < 0:
			groups = append(groups, m.Group)
		case m.Op == ReqLeave && i >= 0:
			groups = slices.Delete(groups, i, i+1)
		default:
			n.wait(pt, m.Origin, m.Req, r.answer(), CodeOK)
			return
		}
		if rec.size() > n.cfg.MaxMsgBytes/2 {
			n.replyTo(m.Origin, m.Req, Answer{}, CodeTooLarge)
			return
		}
		rec.setGroups(groups, rec.GVer()+1)
		n.commit(pt, Op{Kind: OpPut, Rec: rec})
		n.wait(pt, m.Origin, m.Req, r.answer(), CodeOK)
	case ReqCheckpoint:
		n.keepCkpt(pt, r, m)
	default:
		n.replyTo(m.Origin, m.Req, Answer{}, CodeNotFound)
	}
}

// keepCkpt makes a process's checkpoint its record's, if it is the
// name's process and the checkpoint is newer than the record's.
func (n *Node) keepCkpt(pt *part, r *Record, m MsgRequest) {
	c := m.Ckpt
	if c == nil || r.Inst != c.Inst || spent(r) {
		n.replyTo(m.Origin, m.Req, Answer{}, CodeStale)
		return
	}
	prev := r.Ckpt()
	if prev != nil && prev.Inst == c.Inst && prev.Seq >= c.Seq {
		n.wait(pt, m.Origin, m.Req, r.answer(), CodeOK) // a resend, or older than one kept
		return
	}
	merged := carriedBy(r, c.Holds)
	next := &Checkpoint{Inst: c.Inst, Seq: c.Seq, State: c.State, Holds: merged}
	switch {
	case prev == nil:
	case prev.Inst == c.Inst:
		next.Holds, next.Base = unionAbsorbed(prev.Holds, merged), prev.Base
	default: // the one it was restarted from (or handed over after)
		next.Holds, next.Base = unionAbsorbed(prev.Holds, merged), CkRef{Inst: prev.Inst, Seq: prev.Seq}
	}
	rec := *r.clone()
	rec.setCkpt(next)
	if rec.size() > n.cfg.MaxMsgBytes/2 {
		n.replyTo(m.Origin, m.Req, Answer{}, CodeTooLarge)
		return
	}
	n.commit(pt, Op{Kind: OpPut, Rec: rec})
	n.wait(pt, m.Origin, m.Req, r.answer(), CodeOK)
}

// hold keeps a request until the partition can answer it.
func (n *Node) hold(pt *part, m MsgRequest) {
	if len(pt.queued) >= n.cfg.MaxQueued {
		n.replyTo(m.Origin, m.Req, Answer{}, CodeBusy)
		return
	}
	m.At = n.now + 1
	pt.queued = append(pt.queued, m)
}

// stopInst stops the process of an ended registration, here or on its
// node (whose next report would stop it anyway).
func (n *Node) stopInst(pt *part, name string, inst Inst) {
	switch {
	case inst.Node == n.self:
		if l := n.insts[inst.ID]; l != nil && l.state == lRunning {
			n.dropLocal(pt, inst.ID)
			n.effect(Stop{Name: name, Inst: inst})
		}
	case n.alive(inst.Node):
		n.send(inst.Node, MsgVerdict{P: pt.id, Items: []Verdict{{Name: name, Inst: inst, Action: VerdictStop}}})
	}
}

// Lookup returns a copy of name's record if this node serves its
// partition.
func (n *Node) Lookup(name string) (Record, bool) {
	pt := n.parts[PartitionOf(name, n.cfg.Partitions)]
	if pt.role != rolePrimary || !pt.active {
		return Record{}, false
	}
	r := pt.data.visible(name)
	if r == nil {
		return Record{}, false
	}
	return *r.clone(), true
}

// Where returns the instance of name's process if this node serves
// name's partition (served), without copying the record; found is false
// if the name is not registered. It only reads the node: a host may call
// it under a read lock, concurrently with other readers.
func (n *Node) Where(name string) (inst Inst, found, served bool) {
	pt := n.parts[PartitionOf(name, n.cfg.Partitions)]
	if pt.role != rolePrimary || !pt.active {
		return Inst{}, false, false
	}
	if r := pt.data.visible(name); r != nil {
		return r.Inst, true, true
	}
	return Inst{}, false, true
}

// Serving reports whether this node serves name's partition: it is its
// primary and has gathered it.
func (n *Node) Serving(name string) bool {
	pt := n.parts[PartitionOf(name, n.cfg.Partitions)]
	return pt.role == rolePrimary && pt.active
}

// Records calls f for every record of the partitions this node serves.
func (n *Node) Records(f func(Record)) {
	for _, pt := range n.parts {
		if pt.role == rolePrimary && pt.active {
			for _, name := range sortedKeys(pt.data.names) {
				f(*pt.data.visible(name).clone())
			}
		}
	}
}

// List calls f for the record of every name of the partitions this node
// serves, of group only if it is not empty, in no particular order. It
// neither sorts nor copies (listings run often): f must not change the
// record or keep its slices.
func (n *Node) List(group string, f func(r *Record)) {
	for _, pt := range n.parts {
		if !pt.complete() {
			continue
		}
		if group != "" {
			for name := range pt.data.groups[group] {
				f(pt.data.visible(name))
			}
			continue
		}
		for _, r := range pt.data.names {
			f(r)
		}
	}
}

// Locals calls f for every process this node runs, with its record.
func (n *Node) Locals(f func(Record)) {
	for _, id := range sortedKeys(n.insts) {
		f(*n.insts[id].rec.clone())
	}
}

// Local returns the record of the process id this node runs, as this
// node knows it (its groups may lag the primary's by a step).
func (n *Node) Local(id uint64) (Record, bool) {
	l, ok := n.insts[id]
	if !ok {
		return Record{}, false
	}
	return *l.rec.clone(), true
}

// Stats counts what a node holds.
type Stats struct {
	Primary, Replica, Gathering int // partitions by role (Gathering: not answering yet)
	Records, Copies, Tombs      int // records served, records copied, tombstones
	Retained                    int // partitions with a copy not yet handed over
	Locals                      int // processes run here
	// Unheard counts the partitions served without some member's copy
	// (its gather gave up on it; it is still asked).
	Unheard int
	// Unreplicated counts the partitions this node serves that some
	// replica has not yet acknowledged whole: until it has, losing this
	// node loses their latest changes.
	Unreplicated int
	// Unwhole counts the partitions this node serves of which some
	// replica lacks a whole copy (changes on their way to it aside).
	Unwhole int
	// Moving counts the moves whose new process runs here, waiting for
	// the old node's confirmation.
	Moving int
	// Holding counts the conflict losers whose merge this node holds
	// until their winner's node is back or surely gone.
	Holding int
}

// Stats counts what the node holds.
func (n *Node) Stats() Stats {
	var s Stats
	for _, pt := range n.parts {
		switch {
		case pt.role == rolePrimary && pt.active:
			s.Primary++
			s.Records += len(pt.data.names)
			if !pt.serves() { // hearing out members that came back
				s.Gathering++
			}
			if !n.replicated(pt) {
				s.Unreplicated++
			}
			if !n.whole(pt) {
				s.Unwhole++
			}
		case pt.role == rolePrimary:
			s.Gathering++
		case pt.role == roleReplica:
			s.Replica++
			s.Copies += pt.data.regs
		}
		if pt.role == rolePrimary && len(pt.unheard) > 0 {
			s.Unheard++
		}
		s.Tombs += len(pt.data.tombs)
		if pt.retain != nil {
			s.Retained++
		}
	}
	s.Locals = len(n.insts)
	s.Moving = len(n.pending)
	s.Holding = len(n.holds)
	return s
}

// Holders returns the nodes that hold name's partition in this node's
// view: its primary, then its replicas.
func (n *Node) Holders(name string) []NodeID {
	members := n.placement()
	if len(members) == 0 || n.cfg.Quorum > 0 && len(members) < n.cfg.Quorum {
		return nil
	}
	return n.prefList(PartitionOf(name, n.cfg.Partitions), members)
}

// Holds reports whether this node holds anything of name: a live
// registration (served, copied, or given and not yet acknowledged, or a
// process), and a tombstone.
func (n *Node) Holds(name string) (reg, tomb bool) {
	pt := n.parts[PartitionOf(name, n.cfg.Partitions)]
	stores := []*store{pt.data}
	if pt.retain != nil {
		stores = append(stores, pt.retain.data)
	}
	for _, s := range stores {
		reg = reg || s.names[name] != nil
		for _, t := range s.tombs {
			tomb = tomb || t.Name == name
		}
	}
	for _, l := range n.insts {
		reg = reg || l.rec.Name == name
	}
	return reg, tomb
}

// HoldsInGroup reports whether this node holds registration reg of
// name in group, in a copy or with its process. For the simulator.
func (n *Node) HoldsInGroup(name string, reg RegID, group string) bool {
	pt := n.parts[PartitionOf(name, n.cfg.Partitions)]
	in := func(r *Record) bool { return r != nil && r.Reg == reg && slices.Contains(r.Groups(), group) }
	if in(pt.data.find(name, reg)) || pt.retain != nil && in(pt.retain.data.find(name, reg)) {
		return true
	}
	for _, l := range n.insts {
		if l.rec.Name == name && in(l.rec) {
			return true
		}
	}
	return false
}

// Holding says where a node holds a registration (Held).
type Holding int

const (
	// HeldCopy: in the partition's copy (a primary's or a replica's).
	HeldCopy Holding = iota
	// HeldKept: in a copy kept to give to the primary this node sees (on
	// its way to it).
	HeldKept
	// HeldRun: its process runs here.
	HeldRun
)

// Held calls f for every live registration of partition p this node
// holds, with where it holds it (a conflict's loser excepted), in no
// particular order. For the simulator's listing check.
func (n *Node) Held(p int, f func(name string, reg RegID, in Holding)) {
	pt := n.parts[p]
	each := func(s *store, in Holding) {
		for name := range s.names {
			for _, r := range s.all(name) {
				if _, dead := s.tombs[r.Reg]; !dead {
					f(name, r.Reg, in)
				}
			}
		}
	}
	each(pt.data, HeldCopy)
	if pt.retain != nil {
		each(pt.retain.data, HeldKept)
	}
	for name := range pt.locals {
		for _, id := range pt.localsOf(nil, name) {
			if l := n.insts[id]; l.state != lLosing {
				f(l.rec.Name, l.rec.Reg, HeldRun)
			}
		}
	}
}

// Covers reports whether a listing of name's partition here accounts for
// registration reg of name: this node lists name, or knows reg ended.
func (n *Node) Covers(name string, reg RegID) bool {
	pt := n.parts[PartitionOf(name, n.cfg.Partitions)]
	if _, dead := pt.data.tombs[reg]; dead {
		return true
	}
	return pt.data.names[name] != nil
}

// PartitionState describes one partition as this node holds it (for
// tests, the simulator and operators).
type PartitionState struct {
	Primary, Replica, Serving bool
	// Complete: a listing counts on this node's records of the partition
	// (it serves it, and has every member's copy).
	Complete bool
	// Leader is the primary this node sees (itself, if Primary).
	Leader      NodeID
	Stream      Stream
	Seq         uint64 // primary: changes made; replica: changes applied
	Hash        uint64
	Regs, Tombs int
}

// Partition describes partition p as this node holds it.
func (n *Node) Partition(p int) PartitionState {
	pt := n.parts[p]
	st := PartitionState{Primary: pt.role == rolePrimary, Replica: pt.role == roleReplica, Serving: pt.role == rolePrimary && pt.serves(),
		Complete: pt.complete(), Leader: pt.primary,
		Hash: pt.data.hash, Regs: pt.data.regs, Tombs: len(pt.data.tombs)}
	if st.Primary {
		st.Stream, st.Seq = pt.stream, pt.seq
	} else {
		st.Stream, st.Seq = pt.from, pt.rseq
	}
	return st
}

// Running returns the number of processes the node runs for the
// directory (those serving or paused, and the new ones of moves not yet
// confirmed).
func (n *Node) Running() int { return len(n.insts) + len(n.pending) }

// Lead returns the primary this node sees for partition p, and whether
// this node serves p complete (as Partition, without the rest).
func (n *Node) Lead(p int) (primary NodeID, complete bool) {
	pt := n.parts[p]
	return pt.primary, pt.complete()
}

// Served lists the partitions this node serves (primary, gathered).
func (n *Node) Served() []int {
	var out []int
	for _, pt := range n.parts {
		if pt.complete() {
			out = append(out, pt.id)
		}
	}
	return out
}

// Partitions returns the number of partitions.
func (n *Node) Partitions() int { return len(n.parts) }

// Unheard returns the members some served partition has no copy from
// yet (its gather gave up on them), sorted.
func (n *Node) Unheard() []NodeID {
	set := map[NodeID]bool{}
	for _, pt := range n.parts {
		if pt.role == rolePrimary {
			for id := range pt.unheard {
				set[id] = true
			}
		}
	}
	out := make([]NodeID, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.SortFunc(out, byLess(NodeID.less))
	return out
}

// Progress says what keeps a draining node from being drained, for its
// host's logs: partitions it is still primary of (and of those, how many
// are not serving yet), copies it still gives, and its processes by
// what they are doing.
func (n *Node) Progress() string {
	var primary, gathering, retained, running, moving, paused, losing int
	for _, pt := range n.parts {
		if pt.role == rolePrimary {
			primary++
			if !pt.serves() {
				gathering++
			}
		}
		if pt.retain != nil {
			retained++
		}
	}
	for _, l := range n.insts {
		switch {
		case l.state == lRunning:
			running++
		case l.state == lMoving && l.movedAt == 0:
			paused++ // asked to pause, not answered yet
		case l.state == lMoving:
			moving++
		default:
			losing++
		}
	}
	return fmt.Sprintf("primary of %d partitions (%d not serving), giving %d copies; processes: %d running, %d pausing, %d moving, %d losing",
		primary, gathering, retained, running, paused, moving, losing)
}
