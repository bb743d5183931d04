package directory

import "slices"

// role is what a node is for a partition, in its own view.
type role uint8

const (
	roleNone role = iota
	roleReplica
	rolePrimary
)

// part is one partition as this node holds it.
type part struct {
	id       int
	role     role
	primary  NodeID   // in this node's view; zero if none serves it
	replicas []NodeID // when primary
	data     *store

	// As primary.
	active      bool // gathered: serving
	stream      Stream
	seq         uint64
	acks        map[NodeID]uint64
	waiters     []waiter
	gatherWait  map[NodeID]bool
	gatherUntil uint64
	gatherAt    uint64 // tick the gathers were last sent
	// unheard lists the members a gather gave up on: the partition is
	// served without their copies, which it keeps asking for (a node is
	// not synced until it has them).
	unheard    map[NodeID]bool
	unheardTry int // asks of the unheard since the gather gave up
	gives      map[NodeID]*giveAcc
	starting   map[string]*starting
	moves      map[string]uint64 // names asked to move here: tick asked
	stays      map[string]bool   // answered stay in this view
	reportSeen map[NodeID]uint64 // newest report seq, by node
	reportAt   map[NodeID]uint64 // tick of the newest report
	checkAt    map[NodeID]uint64 // tick of the last check sent
	snapAt     map[NodeID]uint64 // tick of the last snapshot sent
	snapSeq    map[NodeID]uint64 // stream position of the last snapshot sent
	queued     []MsgRequest      // while gathering
	pending    []Op              // committed, not yet sent
	// check lists the names to reconcile at the next tick (what changed
	// since the last); checkAll asks for every name (a new view, a large
	// merge). A sweep checks every name now and then whatever changed.
	check    map[string]struct{}
	checkAll bool

	// As replica.
	from        Stream
	rseq        uint64
	snap        *snapAcc
	snapAskedAt uint64

	// A copy given to the primary, kept until acknowledged.
	retain *retained
	// askedBy is the gather this node answered busy (it saw another
	// primary): answered once it sees the asker as the primary.
	askedBy Stream

	// Local instances (any role), by name: the smallest id in locals,
	// the others ascending in moreLocals (rare: a name's duplicates).
	locals     map[string]uint64
	moreLocals map[string][]uint64
	exits      map[uint64]Record // exited, not yet acknowledged
	reportNow  bool
}

// retained is a copy this node gives to the primary it sees.
type retained struct {
	data   *store
	id     uint64 // of the last give sent
	to     NodeID // where it went
	sentAt uint64
	tries  int  // gives of the same id sent, for the backoff
	dirty  bool // changed since sent
}

// resendDue reports whether the retained copy should be sent (again):
// it changed, or its give went unacknowledged for ResendTicks, doubled
// with each try up to 8 times (an overloaded primary is not flooded).
func (n *Node) resendDue(rt *retained) bool {
	return rt.dirty || n.now-rt.sentAt >= n.cfg.ResendTicks<<min(rt.tries, 3)
}

type giveAcc struct {
	id     uint64
	total  int
	chunks map[int]MsgGive
}

type waiter struct {
	seq    uint64
	origin NodeID
	req    uint64
	ans    Answer
	code   ErrCode
}

func newPart(id int) *part {
	return &part{id: id, data: newStore(), locals: map[string]uint64{}, moreLocals: map[string][]uint64{}, exits: map[uint64]Record{}}
}

func (pt *part) hasData() bool { return !pt.data.empty() }

func (pt *part) clearData() { pt.data = newStore() }

// setRole moves a partition to the role pref gives this node.
func (n *Node) setRole(pt *part, pref []NodeID) {
	var primary NodeID
	var replicas []NodeID
	if len(pref) > 0 {
		primary, replicas = pref[0], pref[1:]
	}
	next := roleNone
	switch {
	case primary == n.self:
		next = rolePrimary
	case slices.Contains(replicas, n.self):
		next = roleReplica
	}
	prevRole, prevPrimary := pt.role, pt.primary
	pt.primary = primary
	if prevRole != next || prevPrimary != primary {
		n.logf("%v p%d role %d->%d primary %v", n.self, pt.id, prevRole, next, primary)
	}
	switch {
	case next == rolePrimary && prevRole != rolePrimary:
		pt.role, pt.replicas = rolePrimary, slices.Clone(replicas)
		n.becomePrimary(pt)
		return
	case next == rolePrimary:
		n.setReplicas(pt, replicas)
		for id := range pt.gatherWait {
			if !n.alive(id) {
				delete(pt.gatherWait, id)
			}
		}
		for id := range pt.unheard {
			if !n.alive(id) {
				delete(pt.unheard, id) // what waited for it is served below
			}
		}
		if len(n.added) > 0 {
			// Members it did not see may hold copies of their own (the
			// other side of a healed split): it hears them out before it
			// answers again, as when it took the partition.
			if pt.gatherWait == nil {
				pt.gatherWait = map[NodeID]bool{}
			}
			for _, id := range n.Members() {
				if n.added[id] {
					pt.gatherWait[id] = true
				}
			}
			n.sendGathers(pt)
			pt.gatherUntil = n.now + n.cfg.GatherTicks
		}
		n.maybeActivate(pt)
		pt.checkAll = true // instances on nodes gone need restarting
		return
	}
	var requeue []MsgRequest
	if prevRole == rolePrimary {
		requeue = n.losePrimary(pt)
	}
	pt.role, pt.replicas = next, nil
	// A node that just became a replica asks for a snapshot at once,
	// even under the same primary: the one the primary sent when it saw
	// the change may have come before this node saw it, and been dropped.
	becameReplica := next == roleReplica && prevRole != roleReplica
	if prevRole == rolePrimary || primary != prevPrimary || (next == roleNone && prevRole == roleReplica) || becameReplica {
		// What this node holds goes to the primary it now sees; a
		// replica keeps its copy until a snapshot replaces it.
		if pt.hasData() {
			n.keep(pt, pt.data)
			if next == roleNone {
				pt.clearData()
			}
		}
		pt.from, pt.rseq, pt.snap = Stream{}, 0, nil
		pt.reportNow = len(pt.locals)+len(pt.exits) > 0
		if next == roleReplica {
			n.askSnapshot(pt)
		}
	}
	for _, m := range requeue {
		n.handleRequest(m)
	}
}

// becomePrimary starts gathering a partition this node now leads.
func (n *Node) becomePrimary(pt *part) {
	pt.active = false
	n.epoch++
	pt.stream, pt.seq = Stream{Node: n.self, Epoch: n.epoch}, 0
	pt.acks, pt.snapAt, pt.snapSeq, pt.gives = map[NodeID]uint64{}, map[NodeID]uint64{}, map[NodeID]uint64{}, map[NodeID]*giveAcc{}
	pt.starting, pt.moves, pt.stays = map[string]*starting{}, map[string]uint64{}, map[string]bool{}
	pt.reportSeen, pt.reportAt, pt.checkAt = map[NodeID]uint64{}, map[NodeID]uint64{}, map[NodeID]uint64{}
	pt.from, pt.rseq, pt.snap = Stream{}, 0, nil
	if pt.retain != nil { // what this node was giving is its own again
		n.mergeIn(pt, pt.retain.data, false)
		pt.retain = nil
	}
	if local := n.localStore(pt); !local.empty() { // and so are its processes
		n.mergeIn(pt, local, false)
	}
	pt.gatherWait, pt.unheard = map[NodeID]bool{}, nil
	for _, m := range n.Members() {
		if m != n.self {
			pt.gatherWait[m] = true
		}
	}
	n.sendGathers(pt)
	pt.gatherUntil = n.now + n.cfg.GatherTicks
	n.maybeActivate(pt)
}

// sendGathers asks the members not yet heard from for their copies.
func (n *Node) sendGathers(pt *part) {
	pt.gatherAt = n.now
	for _, m := range n.Members() {
		if pt.gatherWait[m] {
			n.send(m, MsgGather{P: pt.id, Stream: pt.stream})
		}
	}
}

func (n *Node) maybeActivate(pt *part) {
	switch {
	case len(pt.gatherWait) > 0:
	case !pt.active:
		n.activate(pt)
	case len(pt.queued) > 0: // heard out the members that came back
		n.serveQueued(pt)
	}
}

// serves reports whether a primary answers requests now: it has gathered
// and is not hearing out members that came back.
func (pt *part) serves() bool { return pt.active && len(pt.gatherWait) == 0 }

// complete reports whether the partition's records here are all there
// are: it is served, and no member's copy is still missing (a listing
// skips it until then, and asks elsewhere or again).
func (pt *part) complete() bool {
	return pt.role == rolePrimary && pt.serves() && len(pt.unheard) == 0
}

// serveQueued handles the requests held while the partition gathered.
func (n *Node) serveQueued(pt *part) {
	queued := pt.queued
	pt.queued = nil
	for _, m := range queued {
		n.handleRequest(m)
	}
}

// activate starts serving a gathered partition.
func (n *Node) activate(pt *part) {
	pt.active, pt.gatherWait = true, nil
	for reg, t := range pt.data.tombs { // their expiry was another node's clock
		t.Expires = n.now + n.cfg.TombstoneTicks
		pt.data.tombs[reg] = t
	}
	for _, r := range pt.replicas {
		n.sendSnapshot(pt, r)
	}
	pt.data.nextExpiry = 1 // rescan
	n.reconcile(pt, true)
	n.serveQueued(pt)
}

// losePrimary ends this node's lead of a partition and returns the
// requests it held, to pass on to the new primary.
func (n *Node) losePrimary(pt *part) []MsgRequest {
	pt.check, pt.checkAll = nil, false
	for _, w := range pt.waiters {
		n.replyTo(w.origin, w.req, Answer{}, CodeTimeout)
	}
	requeue := pt.queued
	for _, name := range sortedKeys(pt.starting) {
		st := pt.starting[name]
		requeue = append(requeue, st.queued...)
		st.queued = nil
		st.orphan = true // its process, once started, reports to the new primary
	}
	if len(pt.pending) > 0 {
		n.flushOps(pt)
	}
	pt.active, pt.waiters, pt.queued, pt.gatherWait, pt.unheard = false, nil, nil, nil, nil
	pt.acks, pt.snapAt, pt.snapSeq, pt.gives, pt.starting, pt.moves, pt.stays = nil, nil, nil, nil, nil, nil, nil
	pt.reportSeen, pt.reportAt, pt.checkAt = nil, nil, nil
	return requeue
}

// setReplicas updates a primary's replica list: new ones get a snapshot.
func (n *Node) setReplicas(pt *part, replicas []NodeID) {
	for _, r := range replicas {
		if pt.active && !slices.Contains(pt.replicas, r) {
			n.sendSnapshot(pt, r)
		}
	}
	for id := range pt.acks {
		if !slices.Contains(replicas, id) {
			delete(pt.acks, id)
			delete(pt.snapSeq, id)
		}
	}
	pt.replicas = slices.Clone(replicas)
	n.releaseWaiters(pt)
}

// keep merges a copy into what this node gives to the primary it sees.
func (n *Node) keep(pt *part, src *store) {
	if pt.retain == nil {
		pt.retain = &retained{data: newStore()}
	}
	if pt.retain.data.merge(src) || pt.retain.id == 0 {
		pt.retain.dirty = true
	}
}

// sendRetained gives the retained copy to the primary this node sees (or
// takes it back, if that is now itself), in answer to its gather of
// stream answers (zero: pushed).
func (n *Node) sendRetained(pt *part, answers Stream) {
	rt := pt.retain
	switch {
	case pt.primary.IsZero():
		return // nobody serves it: keep it
	case pt.primary == n.self:
		n.mergeIn(pt, rt.data, pt.active)
		pt.retain = nil
		return
	}
	// The same content to the same primary keeps its id: an ack that
	// comes back after the give was sent again still counts.
	if rt.dirty || rt.id == 0 || rt.to != pt.primary {
		n.giveSeq++
		rt.id, rt.to, rt.tries = n.giveSeq, pt.primary, 0
	}
	rt.sentAt, rt.dirty = n.now, false
	rt.tries++
	n.sendGive(pt, pt.primary, rt.id, rt.data, answers)
}

// sendGive sends a copy in chunks that fit a message.
func (n *Node) sendGive(pt *part, to NodeID, id uint64, data *store, answers Stream) {
	chunks := n.chunk(data)
	for i, c := range chunks {
		n.send(to, MsgGive{P: pt.id, ID: id, Index: i, Total: len(chunks), Records: c.recs, Tombs: c.tombs, Answers: answers})
	}
}

type chunk struct {
	recs  []Record
	tombs []Tomb
}

// chunk cuts a store into chunks of at most MaxMsgBytes (estimated), in
// a fixed order; there is always at least one chunk.
func (n *Node) chunk(data *store) []chunk {
	out := []chunk{{}}
	size := 0
	add := func(sz int) *chunk {
		if size+sz > n.cfg.MaxMsgBytes-256 && size > 0 {
			out = append(out, chunk{})
			size = 0
		}
		size += sz
		return &out[len(out)-1]
	}
	for _, reg := range sortedRegs(data.tombs) {
		t := data.tombs[reg]
		c := add(32 + len(t.Name))
		c.tombs = append(c.tombs, t)
	}
	data.each(func(r *Record) {
		c := add(r.size())
		c.recs = append(c.recs, *r.clone())
	})
	return out
}

// onGather answers a new primary with this node's copy.
func (n *Node) onGather(pt *part, from NodeID, m MsgGather) {
	n.logf("%v p%d gather from %v role=%d primary=%v", n.self, pt.id, from, pt.role, pt.primary)
	if pt.role == rolePrimary || from != pt.primary {
		// This node serves it, or sees another primary: the asker
		// waits, and gets the copy once the views agree.
		n.send(from, MsgGive{P: pt.id, Busy: true, Total: 1})
		pt.askedBy = m.Stream
		return
	}
	pt.askedBy = Stream{}
	if pt.hasData() {
		n.keep(pt, pt.data)
		if pt.role == roleNone {
			pt.clearData()
		}
	}
	// The processes running here are registrations too: a primary that
	// lost its copy (k = 0, or every holder crashed) learns of them
	// before it answers for the partition.
	if local := n.localStore(pt); !local.empty() {
		n.keep(pt, local)
	}
	if pt.retain != nil {
		n.sendRetained(pt, m.Stream)
		return
	}
	n.send(from, MsgGive{P: pt.id, Total: 1, Answers: m.Stream})
}

// onGive takes a holder's copy, chunk by chunk.
func (n *Node) onGive(pt *part, from NodeID, m MsgGive) {
	n.logf("%v p%d give from %v id=%d %d/%d busy=%v recs=%d role=%d", n.self, pt.id, from, m.ID, m.Index, m.Total, m.Busy, len(m.Records), pt.role)
	if m.Busy || m.Total <= 0 || m.Index < 0 || m.Index >= m.Total {
		return
	}
	if pt.gives == nil {
		pt.gives = map[NodeID]*giveAcc{}
	}
	acc := pt.gives[from]
	if acc == nil || acc.id != m.ID || acc.total != m.Total {
		acc = &giveAcc{id: m.ID, total: m.Total, chunks: map[int]MsgGive{}}
		pt.gives[from] = acc
	}
	acc.chunks[m.Index] = m
	if len(acc.chunks) < acc.total {
		return
	}
	delete(pt.gives, from)
	var recs [][]Record
	var tombs [][]Tomb
	for i := range acc.total {
		recs, tombs = append(recs, acc.chunks[i].Records), append(tombs, acc.chunks[i].Tombs)
	}
	if src := fromChunks(recs, tombs); !src.empty() {
		if pt.role == rolePrimary {
			n.mergeIn(pt, src, pt.active)
		} else {
			// Passed on once the views agree. Not acknowledged: the
			// giver keeps its copy too, and gives it to the primary it
			// comes to see. (An acknowledgement here let the giver drop
			// it and answer the real primary's gather without it, while
			// this node had already answered: the primary served the
			// partition without those names until this node's copy came.)
			n.keep(pt, src)
			return
		}
	}
	if pt.role != rolePrimary {
		return
	}
	if m.Answers != pt.stream {
		// Pushed, or an answer to an earlier gather: it may lack what
		// the sender held since (its processes are only in an answer).
		if m.ID != 0 {
			n.send(from, MsgGiveAck{P: pt.id, ID: m.ID})
		}
		return
	}
	if pt.unheard[from] {
		delete(pt.unheard, from)
		if len(pt.unheard) == 0 {
			n.maybeActivate(pt) // what waited for it
		}
	}
	if pt.gatherWait[from] {
		delete(pt.gatherWait, from)
		n.maybeActivate(pt)
	}
	if m.ID != 0 {
		n.send(from, MsgGiveAck{P: pt.id, ID: m.ID})
	}
}

func (n *Node) onGiveAck(pt *part, from NodeID, m MsgGiveAck) {
	if rt := pt.retain; rt != nil && rt.id == m.ID && !rt.dirty {
		pt.retain = nil
	}
}

// mergeIn merges a copy into a primary's data by the merge rule; an
// active primary streams the changes it makes.
func (n *Node) mergeIn(pt *part, src *store, stream bool) {
	for _, op := range pt.data.diff(src, n.now+n.cfg.TombstoneTicks) {
		if stream {
			n.commit(pt, op)
		} else {
			pt.data.apply(&op)
			n.touchOp(pt, &op)
			n.syncLocal(pt, &op)
		}
	}
}

// expireTombs forgets the tombstones whose time is up. It scans them
// only when the first is due, and then forgets those due within the
// next sixteenth of TombstoneTicks too, so that a steady stream of
// unregistrations costs a scan every TombstoneTicks/16 ticks, not one a
// tick.
func (n *Node) expireTombs(pt *part) {
	s := pt.data
	if s.nextExpiry == 0 || s.nextExpiry > n.now {
		return
	}
	until := n.now + n.cfg.TombstoneTicks/16
	s.nextExpiry = 0
	for _, reg := range sortedRegs(s.tombs) {
		t := s.tombs[reg]
		switch {
		case t.Expires == 0:
		case t.Expires <= until:
			n.commit(pt, Op{Kind: OpDropTomb, Tomb: t})
		case s.nextExpiry == 0 || t.Expires < s.nextExpiry:
			s.nextExpiry = t.Expires
		}
	}
}

// localStore returns the records of the partition's processes that run
// here (not those losing a conflict).
func (n *Node) localStore(pt *part) *store {
	s := newStore()
	for _, id := range pt.localIDs() {
		if l := n.insts[id]; l.state != lLosing {
			rec := *l.rec.clone()
			rec.setFrom(Inst{})
			if cur := s.find(rec.Name, rec.Reg); cur == nil || rec.better(cur) {
				s.apply(&Op{Kind: OpPut, Rec: rec})
			}
		}
	}
	return s
}
