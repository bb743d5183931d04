package directory

import "slices"

// Conflicts: a loser's merge travels to the name's primary, which records
// it (so that it happens once) and names the winner, back to the loser's
// node, which sends the state to the first winner approved and only ever
// to that one (another primary, its view behind, may approve it too),
// then to the winner's node, which hands it to the winner and
// acknowledges it to the loser's node; until then the loser stays paused
// and sends it again.

// resolveDue reports whether a loser's merge should be sent again.
func (n *Node) resolveDue(l *local) bool {
	return l.state == lLosing && l.resolvedAt != 0 && n.now-l.resolvedAt >= n.cfg.ResendTicks<<min(l.resolveTry, 4)
}

// ackResolve tells a loser's node that its merge is done (or not
// needed: winner zero, the name is gone).
func (n *Node) ackResolve(pt *part, m MsgResolve, winner Inst) {
	n.sendOrLocal(pt, m.Loser.Node, MsgResolveAck{P: pt.id, Name: m.Name, Loser: m.Loser, Winner: winner})
}

// onResolveAck retires a loser whose state reached the winner: what
// waited for it goes on to the winner.
func (n *Node) onResolveAck(pt *part, m MsgResolveAck) {
	l := n.insts[m.Loser.ID]
	if m.Loser.Node != n.self || l == nil || l.state != lLosing || l.resolvedAt == 0 {
		return
	}
	if m.Winner == m.Loser { // the record's process after all
		if l.sentTo.IsZero() {
			n.unlose(l)
		}
		// Else its state is on its way to a winner, which may have it
		// already: it stays paused until that one acknowledges it.
		return
	}
	pending := l.resolves
	n.dropLocal(pt, m.Loser.ID)
	if m.Winner.IsZero() {
		n.effect(Stop{Name: m.Name, Inst: m.Loser})
		for _, r := range pending {
			r.Winner, r.Hops = Inst{}, 0
			n.routeResolve(pt, r) // the primary names the name's process
		}
		return
	}
	n.effect(Forward{Name: m.Name, From: m.Loser, To: m.Winner, Conflict: true})
	n.retire(pt, m.Loser, m.Winner, m.Name)
	for _, r := range pending {
		r.Winner, r.Hops, r.Again = m.Winner, 0, true
		n.onResolve(pt, r) // on to the winner, which took this one's state
	}
}

// unlose takes back a conflict's verdict against a local process: the
// name's primary now says it is the name's process (two primaries had
// each made the other side's copy the winner, while their views of a
// heal differed). It runs on with its own state.
func (n *Node) unlose(l *local) {
	n.logf("%v p%d unlose %s %v", n.self, l.p, l.rec.Name, l.rec.Inst)
	pending := l.resolves
	l.run()
	delete(n.moving, l.rec.Inst.ID)
	n.effect(Resume{Name: l.rec.Name, Inst: l.rec.Inst})
	for _, r := range pending { // the merges it held while paused
		n.onResolve(n.parts[l.p], r)
	}
}

// sendResolve takes an approved merge to the loser's node, which sends
// its state to the winner the first approval named and to no other:
// it reports whether m (now sent) goes on from here.
func (n *Node) sendResolve(pt *part, m *MsgResolve) bool {
	if m.Loser.Node != n.self {
		if n.alive(m.Loser.Node) && m.Hops < maxHops {
			m.Hops++
			n.send(m.Loser.Node, *m)
		}
		return false // else the loser asks again
	}
	l := n.insts[m.Loser.ID]
	if l == nil || l.state != lLosing || l.resolveMsg == nil || !l.sentTo.IsZero() {
		return false // gone, running again, or sent to the first winner approved
	}
	l.sentTo = m.Winner
	m.Sent, m.Hops, m.State = true, 0, l.resolveMsg.State
	again := *m
	again.Again = true // a resend: the winner may hold it already
	l.resolveMsg = &again
	return true
}

// holdResolve reports whether a loser's merge must wait: the winner it
// was told of runs on a node out of reach, which may have merged it
// already (its acknowledgement cut off by a split; the record that says
// so is on the other side). It waits until that node is back or surely
// gone (seen as a new incarnation), or for retireTicks resends.
func (n *Node) holdResolve(m MsgResolve) bool {
	w := m.Winner
	if w.IsZero() || n.alive(w.Node) || n.replaced(w.Node) {
		delete(n.holds, m.Loser)
		return false
	}
	first, seen := n.holds[m.Loser]
	if !seen {
		first = n.now
		n.holds[m.Loser] = first
		n.holdQ = append(n.holdQ, heldAt{m.Loser, first})
	}
	if n.now-first < n.cfg.ResendTicks*retireTicks {
		n.logf("%v hold resolve %s loser=%v winner=%v", n.self, m.Name, m.Loser, w)
		return true
	}
	delete(n.holds, m.Loser)
	return false
}

// heldAt is when a held merge was first asked for.
type heldAt struct {
	loser Inst
	at    uint64
}

// holdsState reports whether winner, a process of this node, holds the
// state of loser (merged into it, or into the processes it took over
// from), whether it runs or is paused to give it on.
func (n *Node) holdsState(winner, loser Inst) bool {
	if winner.Node != n.self {
		return false
	}
	l := n.insts[winner.ID]
	return l != nil && slices.Contains(l.absorbedList(), loser)
}

// routeResolve sends a loser's state towards the name's process.
func (n *Node) routeResolve(pt *part, m MsgResolve) {
	if pt.primary == n.self {
		n.onResolve(pt, m)
	} else if !pt.primary.IsZero() {
		n.send(pt.primary, m)
	}
}

// onResolve passes a loser's state towards the name's process. The
// primary records each merge in the name's record first, so that a
// duplicate is merged once; nodes deliver only what it approved.
func (n *Node) onResolve(pt *part, m MsgResolve) {
	n.logf("%v p%d resolve %s loser=%v winner=%v approved=%v hops=%d absorbed=%v", n.self, pt.id, m.Name, m.Loser, m.Winner, m.Approved, m.Hops, m.Absorbed)
	if pt.role == rolePrimary && pt.active {
		r := pt.data.visible(m.Name)
		if r == nil {
			n.ackResolve(pt, m, Inst{}) // the name is gone: nothing to merge into
			return
		}
		if spent(r) {
			return // being replaced (its process merged into another): the loser asks again
		}
		if r.Inst == m.Loser && !m.Sent {
			// The loser is the record's process: it lost to a copy that
			// another primary's view preferred. It keeps running, unless
			// the winner it was told of is out of reach: that one may
			// hold its state already (merged on the other side of a
			// split), and two copies of one state would meet at the heal.
			if m.Winner != m.Loser && n.holdResolve(m) {
				return // the loser asks again
			}
			n.ackResolve(pt, m, m.Loser)
			return
		}
		if r.carried(m.Loser) && !m.Checkpoint {
			// Its state came inside another loser's, merged already: this
			// is a resend, and the name's process has what it held. (An
			// orphan checkpoint is sent because that one is gone.)
			n.ackResolve(pt, m, r.Inst)
			return
		}
		switch {
		case m.Again || m.Sent:
			// On its way to the winner the loser's node chose, unless
			// that one is gone: to the process that took over from it,
			// or (its node out of reach for long, or gone) the name's.
			switch {
			case m.Winner.IsZero() || r.From() == m.Winner:
				m.Winner = r.Inst
			case m.Winner.Node != n.self && !n.alive(m.Winner.Node):
				if n.holdResolve(m) {
					return // the loser asks again
				}
				m.Late = true
				m.Winner = r.Inst
			}
		case !m.Approved && r.absorbed(m.Loser):
			// Approved before: this is the loser asking again, its
			// acknowledgement lost (or the merge). It goes again to the
			// process the approval named (the loser may have been told
			// of another), if that may still run: that one holds it, or
			// holds it pending, or never got it; another process may
			// hold it inside that one's state.
			if into, _ := r.absorbedInto(m.Loser); !into.IsZero() {
				m.Winner = into
			}
			if n.holdResolve(m) {
				return // that one is out of reach: the loser asks again
			}
			m.Approved, m.Again = true, true
			if !n.running(m.Winner) && !n.holdsState(m.Winner, m.Loser) {
				if m.Winner.Node != n.self && !n.alive(m.Winner.Node) {
					m.Late = true
				}
				m.Winner = r.Inst
			}
		case !m.Approved && n.holdResolve(m):
			return // the loser asks again
		case !m.Approved:
			rec := *r.clone()
			rec.setAbsorbed(unionMerges(rec.Absorbed(), mergesInto(m.Loser, true, m.Absorbed), mergesInto(r.Inst, false, []Inst{m.Loser})))
			n.commit(pt, Op{Kind: OpPut, Rec: rec})
			m.Approved = true
			m.Winner = r.Inst
		default:
			m.Winner = r.Inst
		}
	}
	if !m.Approved {
		if !pt.primary.IsZero() && pt.primary != n.self && m.Hops < maxHops {
			m.Hops++
			n.send(pt.primary, m)
		}
		return
	}
	if !m.Sent && !n.sendResolve(pt, &m) {
		return
	}
	if m.Winner.Node == n.self {
		l := n.insts[m.Winner.ID]
		if n.holdsState(m.Winner, m.Loser) {
			// It has the loser's state already (a resend), and takes it
			// wherever it goes, paused or not. An orphan checkpoint is
			// sent until the winner's own checkpoint holds it: it is
			// asked for one.
			if m.Checkpoint && l.state == lRunning {
				n.effect(Flush{Name: m.Name, Inst: m.Winner})
			}
			n.ackResolve(pt, m, m.Winner)
			return
		}
		if l != nil && l.state == lLosing && !m.Again && l.sentTo.IsZero() {
			n.unlose(l) // the primary now names it the winner
		}
		switch {
		case m.Loser == m.Winner:
			return // never into itself (passed on along its own lineage): the loser asks again
		case l != nil && l.state == lRunning:
			if !slices.Contains(l.absorbedList(), m.Loser) {
				if n.cfg.Decodable != nil && !n.cfg.Decodable(m.Name, m.State) {
					n.logf("%v p%d undecodable %s loser=%v winner=%v", n.self, pt.id, m.Name, m.Loser, m.Winner)
					return // not taken: the loser keeps it and asks again
				}
				l.setAbsorbed(unionAbsorbed(l.absorbedList(), m.Absorbed, []Inst{m.Loser}))
				n.noteCarried(l, m.Loser, m.Absorbed)
				n.logf("%v p%d deliver %s loser=%v winner=%v", n.self, pt.id, m.Name, m.Loser, m.Winner)
				n.effect(Resolve{Name: m.Name, Winner: m.Winner, Loser: m.Loser, State: m.State,
					WinnerReg: l.rec.Reg, WinnerGen: l.rec.Gen, LoserReg: m.LoserReg, LoserGen: m.LoserGen, Late: m.Late, Checkpoint: m.Checkpoint})
			}
			n.ackResolve(pt, m, m.Winner)
			return
		case l != nil && l.state == lLosing && m.Sent && l.sentTo == m.Loser && l.rec.Inst.less(m.Loser) &&
			!slices.Contains(m.Absorbed, l.rec.Inst):
			// Each sent its state to the other (two primaries' verdicts
			// crossed), and neither was delivered (a paused process takes
			// none): the smaller runs on and takes the other's; its own,
			// queued at the other, is dropped there (never into itself).
			n.unlose(l)
			n.onResolve(pt, m)
			return
		case l != nil:
			// It is on its way to a new instance, or losing to another:
			// the merge follows it there.
			if !slices.Contains(l.absorbedList(), m.Loser) && l.state != lRunning && !slices.ContainsFunc(l.resolves, func(r MsgResolve) bool { return r.Loser == m.Loser }) {
				l.resolves = append(l.resolves, m)
			}
			return
		case m.Again || m.Sent:
			if r := n.retired[m.Winner.ID]; r != nil {
				m.Winner = r.to // it went there, with what it held
				break
			}
			if n.movingIn(m.Winner) {
				return // not yet here (moved in, unconfirmed): the loser asks again
			}
			m.Winner = Inst{} // gone: the primary names the name's process
			if pt.primary == n.self && pt.role == rolePrimary && m.Hops < maxHops {
				m.Hops++
				n.onResolve(pt, m)
				return
			}
		}
	}
	if m.Hops >= maxHops {
		return
	}
	m.Hops++
	switch {
	case m.Winner.Node != n.self && n.alive(m.Winner.Node):
		n.send(m.Winner.Node, m)
	case pt.primary != n.self && !pt.primary.IsZero():
		n.send(pt.primary, m)
	case pt.role == rolePrimary && pt.active && (m.Sent || m.Again):
		// This node is the primary, and the winner (or the process it
		// went to) is out of reach: the primary decides, as for one it
		// received.
		n.onResolve(pt, m)
	}
}
