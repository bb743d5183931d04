package directory

// Reports and verdicts: each node tells a partition's primary which of
// its processes run; the primary judges each against the record and
// tells the node to keep, stop or give it up, and nodes restart what a
// record names but nothing runs.

// report tells the primary which processes of the partition run here.
func (n *Node) report(pt *part) {
	pt.reportNow = false
	if pt.primary.IsZero() || pt.primary == n.self {
		return
	}
	n.reportSeq++
	m := MsgReport{P: pt.id, Seq: n.reportSeq, MaxID: n.maxID}
	size := 0
	for _, id := range pt.localIDs() {
		if l := n.insts[id]; l.state != lLosing {
			if size += l.rec.size(); size > n.cfg.MaxMsgBytes/2 {
				m.Partial = true
				break
			}
			m.Items = append(m.Items, *l.rec.clone())
		}
	}
	for _, id := range sortedKeys(pt.exits) {
		r := pt.exits[id]
		if size += r.size(); size > n.cfg.MaxMsgBytes-256 {
			break
		}
		m.Exited = append(m.Exited, r)
	}
	n.send(pt.primary, m)
}

// onReport judges the processes a node runs in a partition this node
// leads.
func (n *Node) onReport(pt *part, from NodeID, m MsgReport) {
	if pt.role != rolePrimary || !pt.active || m.Seq <= pt.reportSeen[from] {
		return
	}
	pt.reportSeen[from], pt.reportAt[from] = m.Seq, n.now
	var vs []Verdict
	var gs []GroupsOf
	for _, e := range m.Exited {
		if e.Inst.Node != from {
			continue
		}
		n.exited(pt, e)
		vs = append(vs, Verdict{Name: e.Name, Inst: e.Inst, Action: VerdictStop})
	}
	seen := map[Inst]bool{}
	for _, it := range m.Items {
		if it.Inst.Node != from {
			continue
		}
		seen[it.Inst] = true
		v, ok := n.judge(pt, it)
		switch {
		case !ok:
		case v.Action != VerdictKeep:
			vs = append(vs, v)
		default:
			r := pt.data.find(it.Name, it.Reg)
			switch {
			case r == nil || r.Inst != it.Inst:
			case groupsAhead(r, &it): // its copy missed a join or leave
				gs = append(gs, GroupsOf{Name: it.Name, Inst: it.Inst, Groups: r.Groups(), GVer: r.GVer()})
			case groupsAhead(&it, r):
				// This copy missed one (every copy that saw it was lost,
				// or has not come back yet): the process's node kept it.
				rec := *r.clone()
				rec.setGroups(it.Groups(), it.GVer())
				n.commit(pt, Op{Kind: OpPut, Rec: rec})
			}
		}
	}
	if !m.Partial {
		for _, name := range sortedKeys(pt.data.names) {
			r := pt.data.visible(name)
			if r.Inst.Node == from && r.Inst.ID <= m.MaxID && !seen[r.Inst] && pt.starting[name] == nil {
				n.restart(pt, r) // it is gone
			}
		}
	}
	if len(vs) > 0 {
		n.send(from, MsgVerdict{P: pt.id, Items: vs})
	}
	if len(gs) > 0 {
		n.send(from, MsgGroups{P: pt.id, Items: gs})
	}
}

// exited ends the registration of a process that exited by itself.
func (n *Node) exited(pt *part, e Record) {
	if r := pt.data.visible(e.Name); r != nil && r.Inst == e.Inst {
		n.endName(pt, e.Name)
	}
}

// endName ends every registration of name this primary knows: the one it
// resolves to and those it shadows.
func (n *Node) endName(pt *part, name string) {
	for _, r := range pt.data.all(name) {
		n.commit(pt, Op{Kind: OpDel, Tomb: Tomb{Name: name, Reg: r.Reg, Expires: n.now + n.cfg.TombstoneTicks}})
	}
}

// judge decides what becomes of a process that runs it (ok false: not
// yet).
func (n *Node) judge(pt *part, it Record) (Verdict, bool) {
	v := Verdict{Name: it.Name, Inst: it.Inst}
	if _, dead := pt.data.tombs[it.Reg]; dead {
		v.Action = VerdictStop
		return v, true
	}
	if pt.starting[it.Name] != nil {
		return v, false
	}
	if pt.data.find(it.Name, it.Reg) == nil { // unknown here: it keeps its registration
		rec := it
		rec.setFrom(Inst{})
		n.commit(pt, Op{Kind: OpPut, Rec: rec})
	}
	r := pt.data.visible(it.Name)
	switch {
	case r.Reg != it.Reg: // shadowed: its state goes to the one in front
		if !n.serving(r) {
			return v, false // once that one runs
		}
		v.Action, v.Winner = VerdictLose, r.Inst
	case r.Inst == it.Inst && spent(r):
		return v, false // its state went to another copy: the record is repointed first
	case r.Inst == it.Inst:
		v.Action = VerdictKeep
	case !it.From().IsZero() && r.Inst == it.From():
		// Handed over from the record's process (a move confirmed after
		// its primary let go of it): it is the name's process now.
		rec := *r.clone()
		rec.Inst, rec.Gen = it.Inst, max(r.Gen, it.Gen-1)+1
		rec.setFrom(it.From())
		n.commit(pt, Op{Kind: OpPut, Rec: rec})
		v.Action = VerdictKeep
	case !n.serving(r): // the record's process is gone: adopt this one
		rec := *r.clone()
		rec.Inst, rec.Gen = it.Inst, r.Gen+1
		rec.setFrom(Inst{})
		adoptCkpts(&rec, &it)
		n.commit(pt, Op{Kind: OpPut, Rec: rec})
		v.Action = VerdictKeep
	default:
		v.Action, v.Winner = VerdictLose, r.Inst
	}
	return v, true
}

// running reports whether inst may be running: on a live member, and if
// here, known.
func (n *Node) running(inst Inst) bool {
	if inst.IsZero() || !n.alive(inst.Node) {
		return false
	}
	if inst.Node == n.self {
		l := n.insts[inst.ID]
		return l != nil && l.state != lLosing
	}
	return true
}

// spent reports whether r's process has given its state to another copy
// (it lost a conflict, and the merge was approved): it is not the name's
// process any more, whatever a merge of records made of it.
func spent(r *Record) bool { return r.absorbed(r.Inst) }

// serving reports whether r's process may be running as the name's.
func (n *Node) serving(r *Record) bool { return n.running(r.Inst) && !spent(r) }

// restart starts the process of a record whose process is gone, adopting
// a local process of the same registration if there is one.
func (n *Node) restart(pt *part, r *Record) {
	for _, id := range pt.localsOf(nil, r.Name) {
		if l := n.insts[id]; l.rec.Name == r.Name && l.rec.Reg == r.Reg && l.state == lRunning && l.rec.Inst != r.Inst {
			rec := *r.clone()
			rec.Inst, rec.Gen = l.rec.Inst, r.Gen+1
			rec.setFrom(Inst{})
			adoptCkpts(&rec, l.rec)
			n.commit(pt, Op{Kind: OpPut, Rec: rec})
			return
		}
	}
	if c := r.Ckpt(); c != nil {
		// From its newest checkpoint: it holds the losers' states that
		// one holds, and no other.
		n.start(pt, &starting{kind: startRestart, rec: *r.clone(), absorbed: c.Holds}, c.State, true)
		return
	}
	// From its spec: it holds no loser's state (the merges the record
	// lists died with the process they went into, and a loser asking
	// again merges into this one).
	n.start(pt, &starting{kind: startRestart, rec: *r.clone()}, nil, false)
}

// reconcile makes a partition's processes follow its records: restarts
// the gone, asks remote ones to move here, checks on remote nodes, and
// judges the local processes.
func (n *Node) reconcile(pt *part, full bool) {
	var names []string
	if full || pt.checkAll {
		names = sortedKeys(pt.data.names)
	} else {
		names = sortedKeys(pt.check)
	}
	pt.check, pt.checkAll = nil, false
	for _, id := range sortedKeys(pt.exits) {
		n.exited(pt, pt.exits[id])
		delete(pt.exits, id)
	}
	moves := map[NodeID][]Verdict{}
	check := map[NodeID]bool{}
	for _, name := range names {
		r := pt.data.visible(name)
		if r == nil || pt.starting[name] != nil {
			continue
		}
		if len(r.Orphans()) > 0 {
			n.tendOrphans(pt, r)
			if r = pt.data.visible(name); r == nil {
				continue
			}
		}
		if at, ok := pt.moves[name]; ok {
			if n.now-at < 3*n.cfg.ResendTicks {
				continue
			}
			delete(pt.moves, name)
		}
		switch {
		case !n.serving(r):
			n.restart(pt, r)
		case r.Inst.Node != n.self:
			node := r.Inst.Node
			if !pt.stays[name] {
				pt.moves[name] = n.now
				moves[node] = append(moves[node], Verdict{Name: name, Inst: r.Inst, Action: VerdictMove})
			}
			if n.now-pt.reportAt[node] > 2*n.cfg.ReportTicks && n.now-pt.checkAt[node] >= n.cfg.ResendTicks {
				check[node] = true
			}
		}
	}
	for _, node := range n.Members() {
		if vs := moves[node]; len(vs) > 0 {
			n.send(node, MsgVerdict{P: pt.id, Items: vs})
		}
		if check[node] {
			pt.checkAt[node] = n.now
			n.send(node, MsgCheck{P: pt.id})
		}
	}
	var ids []uint64
	if full {
		ids = pt.localIDs()
	} else {
		for _, name := range names {
			ids = pt.localsOf(ids, name)
		}
	}
	for _, id := range ids {
		l := n.insts[id]
		if l == nil || int(l.p) != pt.id || l.state != lRunning {
			continue
		}
		if v, ok := n.judge(pt, *l.rec); ok {
			n.applyVerdict(pt, v)
		}
	}
	// What this pass changed is checked at the next tick.
}

// onVerdict carries out what the primary decided about local processes.
func (n *Node) onVerdict(pt *part, from NodeID, m MsgVerdict) {
	if from != pt.primary {
		return
	}
	for _, v := range m.Items {
		if v.Inst.Node != n.self {
			continue
		}
		if _, ok := pt.exits[v.Inst.ID]; ok {
			if v.Action == VerdictStop {
				delete(pt.exits, v.Inst.ID) // acknowledged
			}
			continue
		}
		n.applyVerdict(pt, v)
	}
}

func (n *Node) applyVerdict(pt *part, v Verdict) {
	n.logf("%v p%d verdict %s %v action=%d winner=%v", n.self, pt.id, v.Name, v.Inst, v.Action, v.Winner)
	l := n.insts[v.Inst.ID]
	if l == nil || int(l.p) != pt.id {
		return
	}
	switch v.Action {
	case VerdictStop:
		if l.state == lRunning {
			n.dropLocal(pt, v.Inst.ID)
			n.effect(Stop{Name: v.Name, Inst: v.Inst})
		}
	case VerdictLose:
		if l.state == lRunning {
			l.pause(lLosing, v.Winner)
			n.effect(Pause{Name: v.Name, Inst: v.Inst})
		}
	case VerdictMove:
		switch {
		case l.state == lRunning:
			l.pause(lMoving, Inst{})
			n.moving[v.Inst.ID] = true
			n.effect(Pause{Name: v.Name, Inst: v.Inst, MayStay: !n.draining})
		case n.moveDue(l):
			n.resendMove(pt, l) // asked again: the state may be lost
		}
	}
}

// onGroups takes the groups the primary's records list for processes
// that run here into their local records.
func (n *Node) onGroups(pt *part, from NodeID, m MsgGroups) {
	if from != pt.primary {
		return
	}
	for _, g := range m.Items {
		l := n.insts[g.Inst.ID]
		if l == nil || int(l.p) != pt.id || g.Inst != l.rec.Inst || g.Name != l.rec.Name {
			continue
		}
		if got := (Record{More: &RecordMore{Groups: g.Groups, GVer: g.GVer}}); groupsAhead(&got, l.rec) {
			rec := l.rec.clone() // l.rec may be the store's
			rec.setGroups(g.Groups, g.GVer)
			l.rec = rec
		}
	}
}
