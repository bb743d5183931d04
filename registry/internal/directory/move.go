package directory

// Moves. The primary asks the node running a process to hand it over;
// the process pauses and its state travels to the primary (MsgMoveState,
// sent again until answered), which starts the new process from it and
// tells the old node where it runs (MsgMoved). The old node retires its
// process — what waited for it, and what comes later, goes on to the new
// one — and confirms (MsgForwarded, on the same link, after that
// backlog). Only then does the primary point the record at the new
// process. So:
//
//   - a sender that looks the name up during the move finds the new
//     process only once the old one's backlog is on its way ahead of it;
//   - a move's state is never run twice: a new process the old node does
//     not confirm (it runs on, it went to another primary's process, or
//     it is gone) is stopped without having served anything.
//
// While the old node cannot be reached the name is restarted from its
// spec (each side of a split serves) and the new process waits, detached
// from the record: if the old node confirms after all, the new process
// is reported like any other and the primary keeps the better of it and
// the restarted one, merging the other's state into it. If the old node
// is seen again as a new incarnation (it crashed), or has not answered
// for retireTicks resends, the new process is stopped: whether the old
// node retired its process into it, or into another primary's process
// before it went, nobody can say, and a crash loses the state of what the
// node ran (as it would have a moment earlier) rather than risk two
// processes holding one state.

// retireTicks is how long, in ResendTicks, a new process waits for an
// unreachable old node's answer, and (twice that) how long a node
// remembers where a retired process went.
const retireTicks = 64

// sendMoveState sends a paused process's state to its primary.
func (n *Node) sendMoveState(pt *part, m MsgMoveState) {
	switch {
	case pt.primary.IsZero():
	case pt.primary == n.self:
		n.onMoveState(pt, n.self, m)
	default:
		n.send(pt.primary, m)
	}
}

// moveDue reports whether a paused process's move state should be sent
// again: unanswered for ResendTicks, doubled with each try up to 16
// times (a primary slow to answer is not buried in copies).
func (n *Node) moveDue(l *local) bool {
	return l.state == lMoving && l.movedAt != 0 && n.now-l.movedAt >= n.cfg.ResendTicks<<min(l.moveTry, 4)
}

func (n *Node) resendMove(pt *part, l *local) {
	l.movedAt = n.now
	l.moveTry++
	n.sendMoveState(pt, *l.moveMsg)
}

// onMoveState starts the new process of a move, at the primary.
func (n *Node) onMoveState(pt *part, from NodeID, m MsgMoveState) {
	n.logf("%v p%d movestate %s %v from %v action=%d role=%d active=%v", n.self, pt.id, m.Name, m.Inst, from, m.Action, pt.role, pt.active)
	if pt.role != rolePrimary || !pt.active {
		return // the old node sends it again
	}
	old := m.Inst.Node
	r := pt.data.visible(m.Name)
	switch {
	case r != nil && r.From() == m.Inst && n.running(r.Inst):
		n.sendOrLocal(pt, old, MsgMoved{P: pt.id, Name: m.Name, Old: m.Inst, New: r.Inst}) // done already
	case r == nil || r.Inst != m.Inst:
		n.sendOrLocal(pt, old, MsgMoved{P: pt.id, Name: m.Name, Old: m.Inst}) // stale: resume
	case m.Action == ActionStay:
		pt.stays[m.Name] = true
		delete(pt.moves, m.Name)
	case pt.starting[m.Name] != nil:
		if st := pt.starting[m.Name]; st.kind == startMove && st.old == m.Inst && !st.inst.IsZero() {
			n.sendMoved(pt, st) // the old node did not hear of it
		}
	default:
		delete(pt.moves, m.Name)
		if st := n.pending[m.Inst]; st != nil && st.p == pt.id && st.rec.Reg == r.Reg {
			// Its new process runs here already, detached (this node
			// lost the partition, or the old node was out of reach): it
			// is the move's again.
			st.orphan = false
			pt.starting[m.Name] = st
			n.sendMoved(pt, st)
			return
		}
		st := &starting{kind: startMove, rec: *r.clone(), old: m.Inst}
		if m.Action == ActionMove {
			st.absorbed = m.Absorbed // with the state that holds them
			st.state = m.State
		} else if c := r.Ckpt(); c != nil {
			// Not handed its state (its node is draining and it would
			// stay): it starts from its newest checkpoint.
			st.absorbed = c.Holds
			n.start(pt, st, c.State, true)
			return
		}
		n.start(pt, st, m.State, m.Action == ActionMove)
	}
}

// movePending holds a move's new process, now running, until the old
// node confirms it retired the old one.
func (n *Node) movePending(pt *part, st *starting, inst Inst) {
	if cur := pt.data.find(st.rec.Name, st.rec.Reg); cur == nil || cur.Inst != st.old {
		// The record moved on while it started: the old one resumes.
		delete(pt.starting, st.rec.Name)
		n.effect(Stop{Name: st.rec.Name, Inst: inst})
		n.sendOrLocal(pt, st.old.Node, MsgMoved{P: pt.id, Name: st.rec.Name, Old: st.old})
		n.requeue(st)
		return
	}
	st.inst, st.since = inst, n.now
	if prev := n.pending[st.old]; prev != nil {
		n.dropPending(prev) // an earlier attempt, detached: this one replaces it
	}
	n.pending[st.old] = st
	n.pendingQ = append(n.pendingQ, st)
	n.sendMoved(pt, st)
}

// movingIn reports whether inst is a process moved in here whose old
// node has not confirmed the move yet.
func (n *Node) movingIn(inst Inst) bool {
	for _, st := range n.pending {
		if st.inst == inst {
			return true
		}
	}
	return false
}

// sendMoved tells the old node of a pending move where its process now
// runs.
func (n *Node) sendMoved(pt *part, st *starting) {
	st.movedAt = n.now
	st.moveTry++
	n.sendOrLocal(pt, st.old.Node, MsgMoved{P: pt.id, Name: st.rec.Name, Old: st.old, New: st.inst})
}

// onMoved finishes (or undoes) the move of a local process.
func (n *Node) onMoved(pt *part, from NodeID, m MsgMoved) {
	l := n.insts[m.Old.ID]
	n.logf("%v p%d moved %s %v -> %v known=%v", n.self, pt.id, m.Name, m.Old, m.New, l != nil)
	if m.Old.Node != n.self {
		return
	}
	if m.New.IsZero() {
		if l != nil && l.state == lMoving {
			n.resumeMoving(pt, l)
		}
		return
	}
	if r := n.retired[m.Old.ID]; r != nil {
		// Asked again: its confirmation was lost (or it went to another
		// primary's process, which this one must give way to).
		r.asker = from
		n.sendForwarded(pt, r)
		return
	}
	if l == nil || l.state != lMoving {
		// It runs on, or is gone: that one must stop.
		n.sendForwarded(pt, &retiredTo{old: m.Old, name: m.Name, asker: from})
		return
	}
	pending := l.resolves
	l.resolves = nil
	n.dropLocal(pt, m.Old.ID)
	n.effect(Forward{Name: m.Name, From: m.Old, To: m.New})
	r := n.retire(pt, m.Old, m.New, m.Name)
	r.asker, r.acked = from, false
	n.sendForwarded(pt, r)
	for _, r := range pending {
		r.Winner, r.Hops = m.New, 0
		if m.New.Node == n.self {
			n.onResolve(pt, r)
		} else if n.alive(m.New.Node) {
			n.send(m.New.Node, r)
		}
	}
}

// retire remembers where a retired local process went (a move's new
// process, or a conflict's winner): what is still sent to it follows.
func (n *Node) retire(pt *part, old, to Inst, name string) *retiredTo {
	r := &retiredTo{old: old, name: name, to: to, p: pt.id, at: n.now, acked: true}
	n.retired[old.ID] = r
	n.retiredQ = append(n.retiredQ, r)
	return r
}

// retiredTo is where a retired process went.
type retiredTo struct {
	old, to Inst
	name    string
	p       int
	asker   NodeID // the primary that asked (zero: this node)
	at      uint64 // tick retired
	sentAt  uint64 // tick the confirmation was last sent
	tries   int
	acked   bool
}

// sendForwarded answers the primary that asked about a retired process:
// sent again until acknowledged if it is a confirmation.
func (n *Node) sendForwarded(pt *part, r *retiredTo) {
	msg := MsgForwarded{P: pt.id, Name: r.name, Old: r.old, New: r.to}
	r.sentAt = n.now
	r.tries++
	switch {
	case r.asker.IsZero():
		r.acked = true
		n.onForwarded(pt, msg)
	case n.alive(r.asker):
		n.send(r.asker, msg)
	}
}

// resumeMoving undoes the pause of a local process whose move failed.
func (n *Node) resumeMoving(pt *part, l *local) {
	id := l.rec.Inst.ID
	pending := l.resolves
	l.run()
	delete(n.moving, id)
	n.effect(Resume{Name: l.rec.Name, Inst: l.rec.Inst})
	for _, r := range pending {
		n.onResolve(pt, r)
	}
}

// onForwarded ends a pending move with the old node's answer.
func (n *Node) onForwarded(pt *part, m MsgForwarded) {
	st := n.pending[m.Old]
	n.logf("%v p%d forwarded %s %v -> %v pending=%v", n.self, pt.id, m.Name, m.Old, m.New, st != nil)
	if st == nil || st.p != pt.id {
		return
	}
	if m.New == st.inst {
		n.confirmMove(st)
		return
	}
	n.dropPending(st)
}

// confirmMove makes a pending move's new process the name's: the old one
// is retired.
func (n *Node) confirmMove(st *starting) {
	delete(n.pending, st.old)
	pt := n.parts[st.p]
	name := st.rec.Name
	rec := st.rec
	rec.Inst = st.inst
	rec.setFrom(Inst{})
	// It holds what the old one held, and the old one's own state: a
	// copy of it (a checkpoint kept on the other side of a split) is not
	// merged into it again.
	l := newLocal(rec.clone(), pt.id, unionAbsorbed(st.absorbed, []Inst{st.old}))
	if !st.orphan && pt.role == rolePrimary && pt.starting[name] == st {
		delete(pt.starting, name)
		n.addLocal(pt, l)
		if cur := pt.data.find(name, rec.Reg); cur != nil && cur.Inst == st.old {
			rec.Gen, rec.More = cur.Gen+1, cur.More
			rec.setFrom(st.old)
			if rec.Spec.Checkpoints && st.state != nil {
				// Its kind checkpoints: the state it was handed is the
				// newest there is (it holds what the old one held, and
				// what that one was restarted from).
				c := &Checkpoint{Inst: st.inst, State: st.state, Holds: unionAbsorbed(st.absorbed, []Inst{st.old})}
				if prev := cur.Ckpt(); prev != nil {
					c.Base = prev.Base
					if prev.Inst != st.old {
						c.Base = CkRef{Inst: prev.Inst, Seq: prev.Seq}
					}
				}
				rec.setCkpt(c)
			}
			n.commit(pt, Op{Kind: OpPut, Rec: rec})
			if r := pt.data.find(name, rec.Reg); r != nil && r.Inst == st.inst {
				l.rec = r // shared with the store: one copy of the record
			}
		} // else the record moved on: it is judged as any local process
	} else {
		// Detached: reported to the primary, which adopts it if its
		// record still names the old process (From), else keeps the
		// better one and merges the other's state into it.
		l.rec.Gen = st.rec.Gen + 1
		l.rec.setFrom(st.old)
		n.addLocal(pt, l)
		pt.reportNow = true
		if pt.role == rolePrimary && pt.active {
			// Its own primary: judged at once, so that a listing never
			// misses the name it runs.
			if v, ok := n.judge(pt, *l.rec); ok {
				n.applyVerdict(pt, v)
			}
		}
	}
	n.logf("%v p%d move of %s confirmed %v -> %v orphan=%v", n.self, pt.id, name, st.old, st.inst, st.orphan)
	if st.exited {
		n.Exited(st.inst.ID)
	}
	n.requeue(st)
}

// dropPending stops a pending move's new process: the old node did not
// retire its process into it.
func (n *Node) dropPending(st *starting) {
	if n.pending[st.old] == st {
		delete(n.pending, st.old)
	}
	pt := n.parts[st.p]
	name := st.rec.Name
	n.logf("%v p%d move of %s dropped %v -> %v", n.self, pt.id, name, st.old, st.inst)
	if !st.exited {
		n.effect(Stop{Name: name, Inst: st.inst})
	}
	if !st.orphan && pt.role == rolePrimary && pt.starting[name] == st {
		delete(pt.starting, name)
		n.touch(pt, name)
	}
	n.requeue(st)
}

// detach lets a name whose old node is out of reach be served without
// its pending move: it is restarted meanwhile; the new process waits for
// the old node's answer.
func (n *Node) detach(pt *part, st *starting) {
	st.orphan = true
	if pt.starting[st.rec.Name] == st {
		delete(pt.starting, st.rec.Name)
		n.touch(pt, st.rec.Name)
	}
	n.requeue(st)
}

// requeue handles the requests that waited for a start.
func (n *Node) requeue(st *starting) {
	queued := st.queued
	st.queued = nil
	for _, m := range queued {
		n.handleRequest(m)
	}
}

// pendingExited notes that a pending move's new process exited.
func (n *Node) pendingExited(id uint64) {
	for _, st := range n.pendingQ {
		if n.pending[st.old] == st && st.inst.ID == id {
			st.exited = true
		}
	}
}

// replaced reports whether id's node is seen as another incarnation: id
// crashed, and its processes with it.
func (n *Node) replaced(id NodeID) bool {
	m, ok := n.members[id.Name]
	return ok && m.Inc != id.Inc
}

// tickMoves asks the old nodes of pending moves again, and settles the
// moves whose old node is gone; it forgets old retirements.
func (n *Node) tickMoves() {
	wait := n.cfg.ResendTicks * retireTicks
	for len(n.retiredQ) > 0 && n.now-n.retiredQ[0].at >= 2*wait {
		delete(n.retired, n.retiredQ[0].old.ID)
		n.retiredQ = n.retiredQ[1:]
	}
	for len(n.holdQ) > 0 && n.now-n.holdQ[0].at >= 2*wait {
		if h := n.holdQ[0]; n.holds[h.loser] == h.at {
			delete(n.holds, h.loser)
		}
		n.holdQ = n.holdQ[1:]
	}
	for _, r := range n.retiredQ {
		if !r.acked && n.alive(r.asker) && n.now-r.sentAt >= n.cfg.ResendTicks<<min(r.tries-1, 4) {
			n.sendForwarded(n.parts[r.p], r)
		}
	}
	if len(n.pendingQ) == 0 {
		return
	}
	q := n.pendingQ
	n.pendingQ = nil
	var keep []*starting
	for _, st := range q {
		if n.pending[st.old] != st {
			continue // settled
		}
		pt := n.parts[st.p]
		switch {
		case n.alive(st.old.Node):
			if n.now-st.movedAt >= n.cfg.ResendTicks<<min(st.moveTry-1, 4) {
				n.sendMoved(pt, st)
			}
		case n.replaced(st.old.Node) || st.orphan && n.now-st.since >= wait:
			// The old node crashed, or is out of reach for long: whether
			// it retired its process into this one, or into another
			// primary's before it went, nobody can say. Stopped: a crash
			// loses the state of what the node ran, as it would have a
			// moment earlier, rather than risk two processes from it.
			n.dropPending(st)
			continue
		case !st.orphan:
			n.detach(pt, st)
		}
		keep = append(keep, st)
	}
	n.pendingQ = append(keep, n.pendingQ...)
}
