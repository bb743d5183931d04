package directory

import (
	"fmt"
	"slices"
)

// Config sets a Node's identity and rules. Every node of a cluster must
// use the same Partitions and Replicas.
type Config struct {
	// Self is this node's incarnation.
	Self NodeID
	// Partitions is the number of partitions names hash to.
	Partitions int
	// Replicas is how many nodes after the primary hold copies (k); 0
	// keeps a single copy.
	Replicas int
	// Quorum, if above 0, is the number of members (leaving ones not
	// counted) a node must see to serve any partition.
	Quorum int
	// MaxMsgBytes bounds a message's estimated size: snapshots, gives and
	// batches are cut to fit; a record that cannot fit is refused.
	MaxMsgBytes int
	// Timings, in ticks.
	GatherTicks    uint64 // longest a new primary waits for members' copies
	DigestTicks    uint64 // between digests to replicas
	ReportTicks    uint64 // between reports of remote instances
	ResendTicks    uint64 // before a give, snapshot request or move state is sent again
	RequestTicks   uint64 // before a client request fails with ErrTimeout
	TombstoneTicks uint64 // how long a dead registration is remembered
	SweepTicks     uint64 // between full reconciliations of every partition
	// MaxQueued bounds the requests a partition holds while it gathers.
	MaxQueued int
	// Logf, if set, is told the node's decisions (for tests and the
	// simulator's traces).
	Logf func(format string, args ...any)
	// Decodable, if set, reports whether this node can decode a state
	// (of name) that a conflict loser sends to a process here. One it
	// cannot is not taken, nor acknowledged: it stays with the loser,
	// which sends it again (a node of another build may be the winner's
	// by then), rather than being lost here.
	Decodable func(name string, state []byte) bool
}

// DefaultConfig returns a configuration for self, for ticks of about
// 100 ms.
func DefaultConfig(self NodeID) Config {
	return Config{
		Self: self, Partitions: 1024, Replicas: 1, MaxMsgBytes: 1 << 20,
		GatherTicks: 30, DigestTicks: 20, ReportTicks: 10, ResendTicks: 10,
		RequestTicks: 30, TombstoneTicks: 36000, SweepTicks: 50, MaxQueued: 10000,
	}
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	switch {
	case c.Self.Name == "":
		return fmt.Errorf("directory config: Self.Name is empty")
	case c.Partitions <= 0:
		return fmt.Errorf("directory config: Partitions %d must be positive", c.Partitions)
	case c.Replicas < 0:
		return fmt.Errorf("directory config: Replicas %d is negative", c.Replicas)
	case c.Quorum < 0:
		return fmt.Errorf("directory config: Quorum %d is negative", c.Quorum)
	case c.MaxMsgBytes < 4096:
		return fmt.Errorf("directory config: MaxMsgBytes %d is below 4096", c.MaxMsgBytes)
	case c.GatherTicks == 0 || c.DigestTicks == 0 || c.ReportTicks == 0 || c.ResendTicks == 0 ||
		c.RequestTicks == 0 || c.TombstoneTicks == 0 || c.SweepTicks == 0:
		return fmt.Errorf("directory config: every tick count must be positive")
	case c.MaxQueued <= 0:
		return fmt.Errorf("directory config: MaxQueued %d must be positive", c.MaxQueued)
	}
	return nil
}

// Envelope is a message for another node.
type Envelope struct {
	To  NodeID
	Msg any
}

// Ready is what a Node asks its host to do: send Msgs, carry out Effects,
// in order.
type Ready struct {
	Msgs    []Envelope
	Effects []Effect
}

// Node is one node's directory. It is not safe for concurrent use: its
// host serialises every call.
type Node struct {
	cfg      Config
	self     NodeID
	now      uint64
	members  map[string]NodeID // live members by name, self included
	sorted   []NodeID          // members sorted (nil: not yet)
	leaving  map[NodeID]bool
	added    map[NodeID]bool // members new in the view being set
	draining bool
	parts    []*part
	epoch    uint64 // streams this incarnation has started
	regSeq   uint64 // registrations this incarnation has created
	giveSeq  uint64

	insts     map[uint64]*local // local instances by process id
	moving    map[uint64]bool   // the ids of insts paused for a move
	maxID     uint64
	reportSeq uint64

	tokens map[uint64]*starting // starts waiting for the host, by token
	token  uint64
	// pending holds the moves whose new process runs, waiting for the
	// old node to confirm it retired the old one, by the old instance;
	// pendingQ lists them in the order started (walked each tick).
	pending  map[Inst]*starting
	pendingQ []*starting
	// retired remembers where the old processes of moves went, to answer
	// a MsgMoved asked again and to confirm until acknowledged; retiredQ
	// lists them in the order retired.
	retired  map[uint64]*retiredTo
	retiredQ []*retiredTo
	// holds lists the conflict losers whose merge waits for their
	// winner's node (see holdResolve), and the processes whose orphan
	// checkpoints wait for them to be gone (see ckptGone): tick first
	// asked, by process; holdQ in that order, to forget them.
	holds map[Inst]uint64
	holdQ []heldAt
	// carries lists, by loser merged into a local process that
	// checkpoints, the losers whose states came inside its (noteCarried).
	carries map[Inst][]Inst
	reqs    map[uint64]uint64 // this node's client requests: deadline by id
	reqQ    []uint64          // the same ids in the order asked (so by deadline)
	served  map[reqKey]uint64 // requests served here, until when to remember them
	servedQ []reqKey          // the same keys in the order served (so by expiry)
	// servedPeak is the most served has held since last rebuilt: a Go
	// map never shrinks, so one that fell well below it is copied.
	servedPeak int
	// flushList lists partitions with changes not yet sent.
	flushList []int
	// strs holds one copy of the kinds and node names records carry
	// (see intern.go).
	strs    map[string]string
	out     []Envelope
	effects []Effect
}

// New returns a node that serves nothing until SetView gives it its
// first view: a node that has just started must not take itself for the
// whole cluster (the host calls SetView once membership has settled).
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, self: cfg.Self,
		members: map[string]NodeID{cfg.Self.Name: cfg.Self},
		leaving: map[NodeID]bool{},
		insts:   map[uint64]*local{},
		moving:  map[uint64]bool{},
		tokens:  map[uint64]*starting{},
		pending: map[Inst]*starting{},
		retired: map[uint64]*retiredTo{},
		holds:   map[Inst]uint64{},
		carries: map[Inst][]Inst{},
		strs:    map[string]string{cfg.Self.Name: cfg.Self.Name},
		reqs:    map[uint64]uint64{},
		served:  map[reqKey]uint64{},
	}
	n.parts = make([]*part, cfg.Partitions)
	for i := range n.parts {
		n.parts[i] = newPart(i)
	}
	return n, nil // it serves nothing until its first view
}

// Self returns this node's incarnation.
func (n *Node) Self() NodeID { return n.self }

// Now returns the node's logical time in ticks.
func (n *Node) Now() uint64 { return n.now }

// Ready hands over, and forgets, what the node has to send and do.
func (n *Node) Ready() Ready {
	n.flush()
	r := Ready{Msgs: n.out, Effects: n.effects}
	n.out, n.effects = nil, nil
	return r
}

func (n *Node) send(to NodeID, msg any) {
	if to == n.self {
		panic(fmt.Sprintf("directory: %v sends %T to itself", n.self, msg))
	}
	n.out = append(n.out, Envelope{To: to, Msg: msg})
}

func (n *Node) effect(e Effect) { n.effects = append(n.effects, e) }

func (n *Node) logf(format string, args ...any) {
	if n.cfg.Logf != nil {
		n.cfg.Logf(format, args...)
	}
}

// SetView tells the node which members are alive (itself included or
// not: it always counts itself). A name seen with another incarnation
// replaces the old one, whose processes are then dead.
func (n *Node) SetView(members []NodeID) {
	next := map[string]NodeID{n.self.Name: n.self}
	for _, m := range members {
		if m.Name == n.self.Name {
			continue
		}
		next[m.Name] = m
	}
	n.added = map[NodeID]bool{}
	for _, m := range next {
		if n.members[m.Name] != m {
			n.added[m] = true
		}
	}
	n.members, n.sorted = next, nil
	defer func() { n.added = nil }()
	for id := range n.leaving {
		if n.members[id.Name] != id {
			delete(n.leaving, id)
		}
	}
	n.recompute()
}

// Members returns the live members this node sees, sorted, itself
// included. The slice is shared: the caller must not change it.
func (n *Node) Members() []NodeID {
	if n.sorted == nil {
		out := make([]NodeID, 0, len(n.members))
		for _, m := range n.members {
			out = append(out, m)
		}
		slices.SortFunc(out, byLess(NodeID.less))
		n.sorted = out
	}
	return n.sorted
}

// byLess turns a less function into a comparison for slices.SortFunc.
func byLess[T any](less func(a, b T) bool) func(a, b T) int {
	return func(a, b T) int {
		switch {
		case less(a, b):
			return -1
		case less(b, a):
			return 1
		}
		return 0
	}
}

// alive reports whether id is a live member (this incarnation).
func (n *Node) alive(id NodeID) bool {
	m, ok := n.members[id.Name]
	return ok && m == id
}

// Drain makes this node leave placement: its partitions go to others,
// and their primaries move its processes away. The node tells the others
// it is leaving.
func (n *Node) Drain() {
	if n.draining {
		return
	}
	n.draining = true
	for _, m := range n.Members() {
		if m != n.self {
			n.send(m, MsgLeaving{})
		}
	}
	n.recompute()
}

// Leaving reports whether the node called name told this one it is
// draining (or is this node, draining): what runs there is moving away.
func (n *Node) Leaving(name string) bool {
	if name == n.self.Name {
		return n.draining
	}
	for id := range n.leaving {
		if id.Name == name {
			return true
		}
	}
	return false
}

// Drained reports whether the node holds nothing the cluster needs: no
// partition role, no copy not yet handed over, no process. left counts
// what remains (records held, processes run).
func (n *Node) Drained() (left int, ok bool) {
	for _, pt := range n.parts {
		if pt.role == rolePrimary {
			left += pt.data.regs + 1
		}
		if pt.retain != nil {
			left += pt.retain.data.regs + 1
		}
	}
	left += len(n.insts) + len(n.pending)
	for _, r := range n.retiredQ {
		if !r.acked && n.alive(r.asker) {
			left++ // its confirmation may not have arrived
		}
	}
	return left, left == 0
}

// Placeable returns the number of members partitions can be placed on
// (those seen, less the leaving and a draining self): 0 means no node is
// left to hand anything to.
func (n *Node) Placeable() int { return len(n.placement()) }

// placement lists the members partitions are placed on.
func (n *Node) placement() []NodeID {
	var out []NodeID
	for _, m := range n.Members() {
		if n.leaving[m] || (m == n.self && n.draining) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// prefList returns partition p's preference list among members, by
// rendezvous weight on the member's name (a new incarnation of a node
// keeps its place), cut to 1 + Replicas.
func (n *Node) prefList(p int, members []NodeID) []NodeID {
	type w struct {
		id NodeID
		w  uint64
	}
	ws := make([]w, len(members))
	base := mix(uint64(p)*0x9e3779b97f4a7c15 + 1)
	for i, m := range members {
		ws[i] = w{m, mix(base ^ fnv(14695981039346656037, m.Name))}
	}
	slices.SortFunc(ws, func(a, b w) int {
		switch {
		case a.w > b.w:
			return -1
		case a.w < b.w:
			return 1
		case a.id.Name < b.id.Name:
			return -1
		case a.id.Name > b.id.Name:
			return 1
		}
		return 0
	})
	k := min(len(ws), 1+n.cfg.Replicas)
	out := make([]NodeID, k)
	for i := range k {
		out[i] = ws[i].id
	}
	return out
}

// PrimaryOf returns the primary of name's partition in this node's view.
func (n *Node) PrimaryOf(name string) (NodeID, bool) {
	pt := n.parts[PartitionOf(name, n.cfg.Partitions)]
	return pt.primary, !pt.primary.IsZero()
}

// recompute sets every partition's role from the current view.
func (n *Node) recompute() {
	members := n.placement()
	serve := len(members) > 0 && (n.cfg.Quorum == 0 || len(members) >= n.cfg.Quorum)
	for _, pt := range n.parts {
		var pref []NodeID
		if serve {
			pref = n.prefList(pt.id, members)
		}
		n.setRole(pt, pref)
	}
}

// Tick advances logical time by one and does what is due.
func (n *Node) Tick() {
	n.now++
	for len(n.reqQ) > 0 {
		id := n.reqQ[0]
		deadline, ok := n.reqs[id]
		if ok && n.now < deadline {
			break
		}
		n.reqQ = n.reqQ[1:]
		if ok {
			delete(n.reqs, id)
			n.effect(Reply{Req: id, Err: ErrTimeout})
		}
	}
	// Forgotten in the order served: they expire in that order.
	for len(n.servedQ) > 0 && n.served[n.servedQ[0]] <= n.now {
		delete(n.served, n.servedQ[0])
		n.servedQ = n.servedQ[1:]
	}
	if n.servedPeak > 4096 && len(n.served) < n.servedPeak/4 {
		served := make(map[reqKey]uint64, len(n.served)) // maps.Clone keeps the size
		for k, v := range n.served {
			served[k] = v
		}
		n.served = served
		n.servedQ = slices.Clone(n.servedQ)
		n.servedPeak = len(n.served)
	}
	if n.draining && n.now%n.cfg.DigestTicks == 0 {
		// Said again: a member that missed it would keep giving this
		// node copies and asking it to serve.
		for _, m := range n.Members() {
			if m != n.self {
				n.send(m, MsgLeaving{})
			}
		}
	}
	for _, pt := range n.parts {
		// Each partition's full pass on a tick of its own: the cost is
		// spread over the period.
		n.tickPart(pt, n.now%n.cfg.SweepTicks == uint64(pt.id)%n.cfg.SweepTicks)
	}
	n.tickLocals()
	n.tickMoves()
}

func (n *Node) tickPart(pt *part, sweep bool) {
	switch pt.role {
	case rolePrimary:
		if len(pt.gatherWait) > 0 {
			if n.now >= pt.gatherUntil {
				// Serve without the silent ones; their copies merge later.
				if pt.unheard == nil {
					pt.unheard = map[NodeID]bool{}
				}
				for id := range pt.gatherWait {
					pt.unheard[id] = true
				}
				pt.unheardTry = 0
				pt.gatherWait = nil
				n.maybeActivate(pt)
			} else if n.now-pt.gatherAt >= n.cfg.ResendTicks {
				n.sendGathers(pt) // asked again: a request or its answer may be lost
			}
		} else if len(pt.unheard) > 0 && n.now-pt.gatherAt >= n.cfg.ResendTicks<<min(pt.unheardTry, 3) {
			pt.gatherAt = n.now
			pt.unheardTry++ // backing off: each ask costs the member a copy
			for _, m := range n.Members() {
				if pt.unheard[m] {
					n.send(m, MsgGather{P: pt.id, Stream: pt.stream})
				}
			}
		}
		if !pt.active {
			break
		}
		n.expireTombs(pt)
		if n.now%n.cfg.DigestTicks == uint64(pt.id)%n.cfg.DigestTicks {
			n.sendDigests(pt)
		}
		if sweep {
			n.reconcile(pt, true)
		} else if pt.checkAll || len(pt.check) > 0 || len(pt.exits) > 0 {
			n.reconcile(pt, false)
		}
	case roleReplica:
		if pt.snap != nil && n.now-pt.snapAskedAt >= 3*n.cfg.ResendTicks {
			pt.snap = nil // never completed: ask again below
			n.askSnapshot(pt)
		}
	}
	if a := pt.askedBy; !a.Node.IsZero() && a.Node == pt.primary && pt.role != rolePrimary {
		n.onGather(pt, a.Node, MsgGather{P: pt.id, Stream: a}) // the views agree now
	} else if pt.retain != nil && n.resendDue(pt.retain) {
		n.sendRetained(pt, Stream{})
	}
	if pt.role != rolePrimary && len(pt.locals)+len(pt.exits) > 0 &&
		(pt.reportNow || n.now%n.cfg.ReportTicks == uint64(pt.id)%n.cfg.ReportTicks) {
		n.report(pt)
	}
}

// Receive handles a message from another node.
func (n *Node) Receive(from NodeID, msg any) {
	if from == n.self {
		return
	}
	msg = n.internMsg(msg)
	switch m := msg.(type) {
	case MsgLeaving:
		if n.alive(from) && !n.leaving[from] {
			n.leaving[from] = true
			n.recompute()
		}
		return
	case MsgRequest:
		n.handleRequest(m)
		return
	case MsgReply:
		n.handleReply(m)
		return
	}
	p, ok := partOf(msg)
	if !ok || p < 0 || p >= len(n.parts) {
		return // not ours to read
	}
	pt := n.parts[p]
	switch m := msg.(type) {
	case MsgOps:
		n.onOps(pt, from, m)
	case MsgAck:
		n.onAck(pt, from, m)
	case MsgDigest:
		n.onDigest(pt, from, m)
	case MsgSnapReq:
		n.onSnapReq(pt, from)
	case MsgSnap:
		n.onSnap(pt, from, m)
	case MsgGather:
		n.onGather(pt, from, m)
	case MsgGive:
		n.onGive(pt, from, m)
	case MsgGiveAck:
		n.onGiveAck(pt, from, m)
	case MsgReport:
		n.onReport(pt, from, m)
	case MsgCheck:
		if pt.role != rolePrimary || !pt.active {
			n.report(pt)
		}
	case MsgVerdict:
		n.onVerdict(pt, from, m)
	case MsgGroups:
		n.onGroups(pt, from, m)
	case MsgMoveState:
		n.onMoveState(pt, from, m)
	case MsgMoved:
		n.onMoved(pt, from, m)
	case MsgForwarded:
		n.onForwarded(pt, m)
		if !from.IsZero() {
			n.send(from, MsgForwardedAck{P: m.P, Old: m.Old})
		}
	case MsgForwardedAck:
		if r := n.retired[m.Old.ID]; r != nil && m.Old.Node == n.self {
			r.acked = true
		}
	case MsgResolve:
		n.onResolve(pt, m)
	case MsgResolveAck:
		n.onResolveAck(pt, m)
	}
}

// partMsg is a message about one partition.
type partMsg interface{ partition() int }

func partOf(msg any) (int, bool) {
	if m, ok := msg.(partMsg); ok {
		return m.partition(), true
	}
	return 0, false
}
