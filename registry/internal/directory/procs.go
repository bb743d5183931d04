package directory

import "slices"

// lstate is what a local process is doing.
type lstate uint8

const (
	lRunning lstate = iota
	lMoving         // paused for a move; its state is on its way to the primary
	lLosing         // paused to give its state to a conflict's winner
)

// local is a process this node runs. It is kept small (one per name the
// node runs): what only a paused process, or one that absorbed a
// conflict's loser, needs is behind extra (nil for most).
type local struct {
	// rec is its registration (rec.Inst is this process), never changed
	// in place: it may be the very record the partition's store holds.
	rec   *Record
	p     int32
	state lstate
	*extra
}

// extra is what few local processes need.
type extra struct {
	// absorbed lists the conflict losers whose state this process (or the
	// incarnations it took over from) merged: a duplicate is dropped.
	absorbed []Inst
	// inherited is what absorbed held when the process started: states
	// its own state holds from the start (its checkpoints say so).
	inherited []Inst
	// The rest only while it is paused (lMoving, lLosing).
	winner Inst // lLosing
	// lLosing with a state to give: the merge asked for, sent again
	// (backoff as for moves) until the winner's node acknowledges it;
	// the loser stays paused until then, so its state is never dropped.
	resolveMsg *MsgResolve
	resolvedAt uint64 // tick resolveMsg was last sent; 0 if none pending
	resolveTry int
	// sentTo is the winner its state was sent to, once a primary
	// approved the merge: resends go there, never elsewhere.
	sentTo  Inst
	moveMsg *MsgMoveState // lMoving, once paused (nil until then)
	movedAt uint64        // tick moveMsg was last sent; 0 until paused
	moveTry int           // sends of moveMsg, for the backoff
	// resolves holds the approved merges that reached it while it moves:
	// they follow it to its new instance (or are delivered if it stays).
	resolves []MsgResolve
}

func newLocal(rec *Record, p int, absorbed []Inst) *local {
	l := &local{rec: rec, p: int32(p)}
	if len(absorbed) > 0 {
		l.extra = &extra{absorbed: absorbed, inherited: absorbed}
	}
	return l
}

// inheritedList returns the losers l held from its start.
func (l *local) inheritedList() []Inst {
	if l.extra == nil {
		return nil
	}
	return l.inherited
}

// absorbedList returns the losers l absorbed.
func (l *local) absorbedList() []Inst {
	if l.extra == nil {
		return nil
	}
	return l.absorbed
}

// setAbsorbed sets the losers l absorbed.
func (l *local) setAbsorbed(a []Inst) {
	if l.extra == nil {
		l.extra = &extra{}
	}
	l.absorbed = a
}

// pause marks l paused (lMoving or lLosing, to winner).
func (l *local) pause(state lstate, winner Inst) {
	l.state, l.extra = state, &extra{absorbed: l.absorbedList(), inherited: l.inheritedList(), winner: winner}
}

// run marks l running again.
func (l *local) run() {
	l.state = lRunning
	if a := l.absorbedList(); len(a) > 0 {
		l.extra = &extra{absorbed: a, inherited: l.inheritedList()}
	} else {
		l.extra = nil
	}
}

// startKind says why a process is being started.
type startKind uint8

const (
	startRegister startKind = iota + 1
	startRestart
	startMove
)

// starting is a process the primary asked its host to start.
type starting struct {
	token    uint64
	p        int
	kind     startKind
	rec      Record
	old      Inst         // startMove: the instance it replaces
	state    []byte       // startMove: the state it starts from, its record's checkpoint once confirmed
	absorbed []Inst       // losers its lineage merged already
	queued   []MsgRequest // requests about the name, handled once it started
	orphan   bool         // the partition moved on meanwhile

	// startMove, once started: the new process, waiting for the old
	// node's confirmation (see move.go).
	inst    Inst
	movedAt uint64 // tick MsgMoved was last sent
	moveTry int
	since   uint64 // tick it started
	exited  bool   // the new process exited meanwhile
}

// start asks the host for a process.
func (n *Node) start(pt *part, st *starting, state []byte, restore bool) {
	n.token++
	st.token, st.p = n.token, pt.id
	n.tokens[st.token] = st
	pt.starting[st.rec.Name] = st
	n.effect(Start{Token: st.token, Name: st.rec.Name, Reg: st.rec.Reg, Spec: st.rec.Spec, Restore: restore, State: state,
		Checkpoint: restore && st.kind != startMove || restore && st.state == nil,
		Restart:    st.kind == startRestart, Move: st.kind == startMove})
}

// Started tells the node that the process of Start token runs, with
// process id id.
func (n *Node) Started(token, id uint64) {
	st := n.tokens[token]
	if st == nil {
		return
	}
	delete(n.tokens, token)
	pt := n.parts[st.p]
	inst := Inst{Node: n.self, ID: id}
	n.maxID = max(n.maxID, id)
	rec := st.rec
	rec.Inst = inst
	rec.setFrom(Inst{})
	l := newLocal(rec.clone(), pt.id, st.absorbed)
	current := !st.orphan && pt.role == rolePrimary && pt.starting[rec.Name] == st
	if current && st.kind == startMove {
		n.movePending(pt, st, inst)
		return
	}
	if !current {
		if st.kind != startRestart {
			// A move's old process still holds the state; a registration
			// was never recorded (its request went on to the new primary).
			n.effect(Stop{Name: rec.Name, Inst: inst})
			return
		}
		n.addLocal(pt, l) // the primary judges it from a report
		pt.reportNow = true
		return
	}
	delete(pt.starting, rec.Name)
	n.addLocal(pt, l)
	cur := pt.data.find(rec.Name, rec.Reg)
	switch st.kind {
	case startRegister:
		rec.Gen = 1
		if cur == nil {
			n.commit(pt, Op{Kind: OpPut, Rec: rec}) // a new registration: nothing to merge with
		} else {
			n.mergeIn(pt, storeOfRecord(rec), true)
		}
	case startRestart:
		if cur != nil && cur.Reg == rec.Reg {
			rec.Gen = cur.Gen + 1
			rec.More = cur.More
			rec.setFrom(Inst{})
			if c := cur.Ckpt(); c != st.rec.Ckpt() {
				// A checkpoint came while it started (from another
				// copy): it did not start from that one.
				combineCkpts(&rec, st.rec.Ckpt(), c, nil)
			}
			n.commit(pt, Op{Kind: OpPut, Rec: rec})
		}
	}
	if r := pt.data.find(rec.Name, rec.Reg); r != nil && r.Inst == inst && n.insts[id] == l {
		l.rec = r // shared with the store: one copy of the record
	}
	n.touch(pt, rec.Name)
	for _, m := range st.queued {
		n.handleRequest(m)
	}
}

// StartFailed tells the node that the process of Start token could not
// be started.
func (n *Node) StartFailed(token uint64) {
	st := n.tokens[token]
	if st == nil {
		return
	}
	delete(n.tokens, token)
	pt := n.parts[st.p]
	if st.orphan || pt.role != rolePrimary || pt.starting[st.rec.Name] != st {
		return
	}
	delete(pt.starting, st.rec.Name)
	switch st.kind {
	case startMove: // the old one carries on there
		pt.stays[st.rec.Name] = true
		n.sendOrLocal(pt, st.old.Node, MsgMoved{P: pt.id, Name: st.rec.Name, Old: st.old})
	case startRestart: // tried again at the next sweep
	}
	for _, m := range st.queued {
		if m.Op == ReqRegister && pt.data.visible(m.Name) == nil {
			n.replyTo(m.Origin, m.Req, Answer{}, CodeStartFailed)
			continue
		}
		n.handleRequest(m)
	}
}

func (n *Node) addLocal(pt *part, l *local) {
	id, name := l.rec.Inst.ID, l.rec.Name
	n.insts[id] = l
	if _, ok := pt.locals[name]; !ok {
		pt.locals[name] = id // the common case, without a slice
	} else {
		ids := pt.localsOf(nil, name)
		if i, found := slices.BinarySearch(ids, id); !found {
			pt.setLocals(name, slices.Insert(ids, i, id))
		}
	}
	n.touch(pt, name)
}

// localsOf appends the ids of name's local processes to out, ascending.
func (pt *part) localsOf(out []uint64, name string) []uint64 {
	if id, ok := pt.locals[name]; ok {
		out = append(out, id)
		out = append(out, pt.moreLocals[name]...)
	}
	return out
}

// setLocals sets the ids of name's local processes (ascending).
func (pt *part) setLocals(name string, ids []uint64) {
	switch len(ids) {
	case 0:
		delete(pt.locals, name)
		delete(pt.moreLocals, name)
	case 1:
		pt.locals[name] = ids[0]
		delete(pt.moreLocals, name)
	default:
		pt.locals[name] = ids[0]
		pt.moreLocals[name] = slices.Clone(ids[1:])
	}
}

func (n *Node) dropLocal(pt *part, id uint64) {
	l := n.insts[id]
	delete(n.insts, id)
	delete(n.moving, id)
	if l == nil {
		return
	}
	name := l.rec.Name
	ids := pt.localsOf(nil, name)
	if i, found := slices.BinarySearch(ids, id); found {
		pt.setLocals(name, slices.Delete(ids, i, i+1))
	}
	n.touch(pt, name)
}

// localIDs returns the ids of the partition's local instances, by name
// then id.
func (pt *part) localIDs() []uint64 {
	var out []uint64
	for _, name := range sortedKeys(pt.locals) {
		out = pt.localsOf(out, name)
	}
	return out
}

// syncLocal points a local process's record at the one a change just
// stored, if that names the process: what the node answers a gather or
// reports with (its groups, its checkpoint) is then the newest it has
// seen, not what it was started with.
func (n *Node) syncLocal(pt *part, op *Op) {
	if op.Kind != OpPut || op.Rec.Inst.Node != n.self {
		return
	}
	l := n.insts[op.Rec.Inst.ID]
	if l == nil || l.rec.Inst != op.Rec.Inst || l.rec.Reg != op.Rec.Reg {
		return
	}
	r := pt.data.find(op.Rec.Name, op.Rec.Reg)
	switch {
	case r == nil || r.Inst != op.Rec.Inst:
	case groupsAhead(l.rec, r): // it heard of a join or leave this copy missed
		rec := r.clone()
		rec.setGroups(l.rec.Groups(), l.rec.GVer())
		l.rec = rec
	default:
		l.rec = r // shared with the store: one copy of the record
	}
}

// touch marks name to be reconciled at the next tick, if this node leads
// the partition.
func (n *Node) touch(pt *part, name string) {
	if pt.role != rolePrimary || pt.checkAll {
		return
	}
	if pt.check == nil {
		pt.check = map[string]struct{}{}
	}
	pt.check[name] = struct{}{}
	if len(pt.check) > 64 && len(pt.check) > len(pt.data.names)/2 {
		pt.check, pt.checkAll = nil, true // cheaper in one pass
	}
}

// touchOp marks the name a change is about.
func (n *Node) touchOp(pt *part, op *Op) {
	switch op.Kind {
	case OpPut:
		n.touch(pt, op.Rec.Name)
	case OpDel:
		n.touch(pt, op.Tomb.Name)
	}
}

// sendOrLocal sends a message about a partition, or handles it here if
// it is for this node.
func (n *Node) sendOrLocal(pt *part, to NodeID, msg any) {
	if to == n.self {
		n.Receive(Inst{}.Node, msg) // from nobody: handled as if received
		return
	}
	n.send(to, msg)
}

// Exited tells the node that local process id exited by itself: its
// registration ends.
func (n *Node) Exited(id uint64) {
	l := n.insts[id]
	if l == nil {
		n.pendingExited(id)
		return
	}
	pt := n.parts[l.p]
	n.dropLocal(pt, id)
	if l.state == lLosing {
		return
	}
	pt.exits[id] = *l.rec
	if pt.role == rolePrimary {
		return // dropLocal marked it
	}
	pt.reportNow = true
}

// Paused tells the node a local process's answer to Pause.
func (n *Node) Paused(id uint64, action Action, state []byte) {
	l := n.insts[id]
	if l == nil {
		return
	}
	pt := n.parts[l.p]
	inst := l.rec.Inst
	n.logf("%v p%d paused %s %v state=%d action=%d", n.self, l.p, l.rec.Name, inst, l.state, action)
	if l.state == lMoving && l.moveMsg != nil || l.state == lLosing && l.resolveMsg != nil {
		// Answered already: this is the answer to an earlier pause that
		// was taken back before it came (the first answer stands).
		return
	}
	switch l.state {
	case lRunning:
		// The pause it answered was taken back meanwhile (a move undone,
		// a lost conflict unlost): it runs on.
		n.effect(Resume{Name: l.rec.Name, Inst: inst})
	case lLosing:
		if action == ActionMove {
			l.resolveMsg = &MsgResolve{P: pt.id, Name: l.rec.Name, Loser: inst, Winner: l.winner, State: state, Absorbed: l.absorbedList(),
				LoserReg: l.rec.Reg, LoserGen: l.rec.Gen}
			l.resolvedAt, l.resolveTry = n.now, 0
			n.moving[id] = true // tickLocals sends it again until acknowledged
			n.routeResolve(pt, *l.resolveMsg)
			return
		}
		n.dropLocal(pt, id)
		n.effect(Forward{Name: l.rec.Name, From: inst, To: l.winner, Conflict: true})
	case lMoving:
		msg := MsgMoveState{P: pt.id, Name: l.rec.Name, Inst: inst, Action: action, State: state, Absorbed: l.absorbedList()}
		switch {
		case action == ActionStay && !n.draining:
			l.run()
			delete(n.moving, id)
		case action == ActionStay:
			msg.Action = ActionRestart
			fallthrough
		default:
			l.moveMsg = &msg
			l.movedAt, l.moveTry = n.now, 0
		}
		n.sendMoveState(pt, msg)
	}
}

// tickLocals sends again the move states not answered.
func (n *Node) tickLocals() {
	var due []uint64 // found unsorted, sent in id order
	for id := range n.moving {
		if l := n.insts[id]; n.moveDue(l) || n.resolveDue(l) {
			due = append(due, id)
		}
	}
	slices.Sort(due)
	for _, id := range due {
		l := n.insts[id]
		if l.state == lLosing {
			l.resolvedAt = n.now
			l.resolveTry++
			m := *l.resolveMsg
			m.Hops = 0
			if m.Sent {
				n.onResolve(n.parts[l.p], m) // to the winner it went to
				continue
			}
			n.routeResolve(n.parts[l.p], m)
			continue
		}
		n.resendMove(n.parts[l.p], l)
	}
}
