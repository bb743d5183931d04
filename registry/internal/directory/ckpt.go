package directory

import "slices"

// Checkpoints. A process whose kind checkpoints sends its state to the
// name's primary after the messages it handles (ReqCheckpoint); the
// primary puts it in the name's record, which the partition's stream
// copies to the replicas, and answers once every replica has it. The
// record's checkpoint is what the name restarts from when its process is
// gone (its node crashed, or came back as a new incarnation), instead of
// its spec. A move's state becomes the record's checkpoint too (the new
// process starts from it), once the move is confirmed.
//
// A checkpoint belongs to one process (Inst) and its Seq orders that
// process's checkpoints: a record keeps the newest of the process it
// names. When two copies of a record meet (a heal), the winning copy's
// checkpoint stays; the other copy's, unless the winner's state holds it
// already, is kept beside it as an orphan, to be merged into the name's
// process (through its conflict hook) if the process it belongs to is
// gone for good: an acknowledged checkpoint is never dropped while a copy
// of the record lives.

// Checkpoint is a saved state of a name's process.
type Checkpoint struct {
	// Inst is the process whose state it is; Seq orders its checkpoints
	// (0: the state it was handed over with at a move).
	Inst  Inst
	Seq   uint64
	State []byte
	// Holds lists the processes whose whole state State includes: the
	// conflict losers merged into Inst (or into the processes it took
	// over from) and the processes it was handed over from.
	Holds []Inst
	// Base is the checkpoint Inst was restarted from (zero if none):
	// State includes it.
	Base CkRef
}

// CkRef names a checkpoint: a process's checkpoint Seq.
type CkRef struct {
	Inst Inst
	Seq  uint64
}

// maxHolds bounds Checkpoint.Holds (the largest kept, as for
// Record.Absorbed).
const maxHolds = maxAbsorbed

// covers reports whether c's state includes o's.
func (c *Checkpoint) covers(o *Checkpoint) bool {
	switch {
	case o == nil:
		return true
	case c == nil:
		return false
	case c.Inst == o.Inst:
		return c.Seq >= o.Seq
	case c.Base.Inst == o.Inst && c.Base.Seq >= o.Seq:
		return true
	}
	return slices.Contains(c.Holds, o.Inst)
}

// size estimates the bytes c takes on the wire.
func (c *Checkpoint) size() int {
	return 96 + len(c.State) + len(c.Inst.Node.Name) + 48*len(c.Holds)
}

// hashInto mixes c's identity into h: a process's checkpoint Seq has
// one content, so its bytes need not be hashed.
func (c *Checkpoint) hashInto(h uint64) uint64 {
	h = mixIn(h, c.Inst.ID)
	h = mixIn(h, c.Inst.Node.Inc)
	h = mixIn(h, c.Seq+1)
	for _, x := range c.Holds {
		h = mixIn(h, x.ID)
	}
	return h
}

// Ckpt returns the record's checkpoint: its process's newest saved
// state, or the state it was restarted from (nil: none).
func (r *Record) Ckpt() *Checkpoint {
	if r.More == nil {
		return nil
	}
	return r.More.Ckpt
}

// Orphans returns the checkpoints of the name's other copies that its
// process does not hold yet.
func (r *Record) Orphans() []Checkpoint {
	if r.More == nil {
		return nil
	}
	return r.More.Orphans
}

// setCkpt sets the record's checkpoint (and drops the orphans it
// covers).
func (r *Record) setCkpt(c *Checkpoint) {
	r.setMore(func(m *RecordMore) {
		m.Ckpt = c
		m.Orphans = uncovered(c, m.Orphans)
	})
}

// setOrphans sets the record's orphan checkpoints.
func (r *Record) setOrphans(o []Checkpoint) {
	r.setMore(func(m *RecordMore) { m.Orphans = o })
}

// uncovered returns the checkpoints of os that c does not cover (os
// itself if it covers none).
func uncovered(c *Checkpoint, os []Checkpoint) []Checkpoint {
	if !slices.ContainsFunc(os, func(o Checkpoint) bool { return c.covers(&o) }) {
		return os
	}
	var out []Checkpoint
	for _, o := range os {
		if !c.covers(&o) {
			out = append(out, o)
		}
	}
	return out
}

// mergeCkpts gives rec (the better of two copies of one registration,
// or of two registrations of one name) the checkpoints of other too.
func mergeCkpts(rec *Record, other *Record) {
	combineCkpts(rec, rec.Ckpt(), other.Ckpt(), other.Orphans())
}

// adoptCkpts gives rec, now naming it's process (which did not take over
// from rec's), it's checkpoint and rec's as orphans.
func adoptCkpts(rec *Record, it *Record) {
	combineCkpts(rec, it.Ckpt(), rec.Ckpt(), it.Orphans())
}

// combineCkpts settles rec's checkpoints from base (what its process
// holds), another checkpoint and more orphans beside rec's own.
func combineCkpts(rec *Record, base, other *Checkpoint, more []Checkpoint) {
	if base == nil && other == nil && len(rec.Orphans()) == 0 && len(more) == 0 {
		return
	}
	var cands []Checkpoint
	if other != nil {
		cands = append(cands, *other)
	}
	settleCkpts(rec, base, append(append(cands, rec.Orphans()...), more...))
}

// settleCkpts gives rec as its checkpoint the newest of base and cands
// that is its process's own, else base (the one it was restarted from),
// and as orphans the newest of every other process's that it does not
// cover.
func settleCkpts(rec *Record, base *Checkpoint, cands []Checkpoint) {
	main := base
	for i := range cands {
		if c := &cands[i]; c.Inst == rec.Inst && (main == nil || main.Inst != rec.Inst || c.Seq > main.Seq) {
			main = c
		}
	}
	var rest []Checkpoint
	if base != nil && base != main {
		rest = append(rest, *base)
	}
	for i := range cands {
		if &cands[i] != main {
			rest = append(rest, cands[i])
		}
	}
	orphans := newestOf(uncovered(main, rest))
	// One covered by another kept too goes with that one's state.
	for i := 0; i < len(orphans); {
		o := &orphans[i]
		if slices.ContainsFunc(orphans, func(c Checkpoint) bool { return c.Inst != o.Inst && c.covers(o) }) {
			orphans = slices.Delete(orphans, i, i+1)
			continue
		}
		i++
	}
	if main == rec.Ckpt() && slices.EqualFunc(orphans, rec.Orphans(), sameCk) {
		return
	}
	if main != nil && main != rec.Ckpt() {
		c := *main // not a pointer into cands
		main = &c
	}
	rec.setMore(func(m *RecordMore) { m.Ckpt, m.Orphans = main, orphans })
}

func sameCk(a, b Checkpoint) bool { return a.Inst == b.Inst && a.Seq == b.Seq }

// newestOf keeps the newest checkpoint of each process, ordered by
// process.
func newestOf(cs []Checkpoint) []Checkpoint {
	if len(cs) == 0 {
		return nil
	}
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b Checkpoint) int {
		if a.Inst != b.Inst {
			return byLess(Inst.less)(a.Inst, b.Inst)
		}
		switch {
		case a.Seq > b.Seq:
			return -1
		case a.Seq < b.Seq:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(cs, func(a, b Checkpoint) bool { return a.Inst == b.Inst })
}

// tendOrphans drops the orphan checkpoints of a name that its process's
// checkpoint now covers, and merges into its process each orphan whose
// own process is gone for good (its node crashed, or has been out of
// reach for retireTicks resends): the state acknowledged there is not
// lost. An orphan whose process may still run waits: that process's own
// state (newer) is merged when it is found, and then the winner's next
// checkpoint covers the orphan. A merge delivered twice to one process is
// taken once (it is in the process's absorbed list); a process restarted
// meanwhile from an older checkpoint gets it again.
func (n *Node) tendOrphans(pt *part, r *Record) {
	orphans := r.Orphans()
	if len(orphans) == 0 {
		return
	}
	if keep := uncovered(r.Ckpt(), orphans); len(keep) < len(orphans) {
		rec := *r.clone()
		rec.setOrphans(keep)
		n.commit(pt, Op{Kind: OpPut, Rec: rec})
		r = pt.data.visible(rec.Name)
		if r == nil {
			return
		}
	}
	if !n.serving(r) || pt.starting[r.Name] != nil {
		return
	}
	for _, o := range r.Orphans() {
		var late bool
		if into, ok := r.absorbedInto(o.Inst); ok && into != r.Inst {
			// Its live state went into another copy, which brings it
			// along when it merges; if that one is gone, the orphan
			// is all there is (a resend of the live state, if its
			// process still runs, is then taken as a duplicate). One
			// out of reach may bring it on the other side of a split:
			// waited for as a loser's merge waits for its winner
			// (holdResolve), then it is late.
			switch {
			case into.Node == n.self && n.insts[into.ID] != nil:
				continue
			case (into.Node == n.self || n.replaced(into.Node)) &&
				(o.Inst.Node == n.self || n.alive(o.Inst.Node) || n.replaced(o.Inst.Node)):
				// That one is gone; so is the orphan's process, or it is
				// in reach (if it still waits to merge, its resend is a
				// duplicate).
			case !n.waited(into):
				// Alive, or out of reach: it (or a process it handed
				// its state on to) may yet bring it.
				continue
			default:
				late = true
			}
		} else {
			var gone bool
			if gone, late = n.ckptGone(o.Inst); !gone {
				continue
			}
		}
		n.logf("%v p%d orphan %s %v@%d into %v late=%v", n.self, pt.id, r.Name, o.Inst, o.Seq, r.Inst, late)
		n.onResolve(pt, MsgResolve{P: pt.id, Name: r.Name, Loser: o.Inst, Winner: r.Inst, State: o.State,
			Approved: true, Sent: true, Again: true, Absorbed: o.Holds, LoserReg: r.Reg, LoserGen: r.Gen, Late: late, Checkpoint: true})
	}
}

// ckptGone reports whether the process inst, whose checkpoint is an
// orphan of a partition this node leads, is gone for good: it is not
// here (nor retired into another process), or its node was replaced by
// a new incarnation; or late, after retireTicks resends (it may live on,
// on the other side of a split, or have handed its state on). Most
// orphans go before: the process's live state is merged, or it moved,
// and the name's next checkpoint covers it.
func (n *Node) ckptGone(inst Inst) (gone, late bool) {
	switch {
	case inst.Node == n.self:
		return n.insts[inst.ID] == nil && n.retired[inst.ID] == nil, false
	case n.replaced(inst.Node):
		return true, false
	}
	return n.waited(inst), true
}

// waited reports whether this node has waited retireTicks resends for
// inst (the wait begins at the first call).
func (n *Node) waited(inst Inst) bool {
	first, seen := n.holds[inst]
	if !seen {
		first = n.now
		n.holds[inst] = first
		n.holdQ = append(n.holdQ, heldAt{inst, first})
	}
	return n.now-first >= n.cfg.ResendTicks*retireTicks
}

// carriedBy returns losers and every process whose state came inside
// theirs, as r's approved merges say (Merge.In, transitively).
func carriedBy(r *Record, losers []Inst) []Inst {
	out := unionAbsorbed(losers)
	for grew := len(out) > 0; grew; {
		grew = false
		for _, m := range r.Absorbed() {
			if m.In && slices.Contains(out, m.Into) && !slices.Contains(out, m.Loser) {
				out = append(out, m.Loser)
				grew = true
			}
		}
	}
	return unionAbsorbed(out)
}

// HeldCkpts calls f with the state of every checkpoint of name this node
// holds (in its copy of the partition, or one it keeps to give), in no
// particular order: for tests, which check that none is lost.
func (n *Node) HeldCkpts(name string, f func(state []byte)) {
	pt := n.parts[PartitionOf(name, n.cfg.Partitions)]
	stores := []*store{pt.data}
	if pt.retain != nil {
		stores = append(stores, pt.retain.data)
	}
	for _, s := range stores {
		for _, r := range s.all(name) {
			if c := r.Ckpt(); c != nil {
				f(c.State)
			}
			for _, o := range r.Orphans() {
				f(o.State)
			}
		}
	}
}

// noteCarried remembers, for a process that checkpoints, the losers whose
// states came inside loser's, merged into it: its next checkpoint holds
// them too.
func (n *Node) noteCarried(l *local, loser Inst, inside []Inst) {
	if !l.rec.Spec.Checkpoints || len(inside) == 0 {
		return
	}
	if len(n.carries) >= 4096 {
		clear(n.carries) // old ones: checkpointed long ago
	}
	n.carries[loser] = inside
}

// withCarried returns merged and the losers whose states came inside
// theirs.
func (n *Node) withCarried(merged []Inst) []Inst {
	out := merged
	for _, x := range merged {
		out = append(out, n.carries[x]...)
	}
	return unionAbsorbed(out)
}
