package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shoalhq/shoal/process"
)

// Handoff: moving a process, with its state, to the node that now owns its
// name.
//
// The node running the process (the sender) and the new owner (the
// receiver) go through these steps, a batch of names at a time:
//
//  1. The sender asks each process to begin its handoff (process.Process
//     BeginHandoff): the process answers move (with its state), restart or
//     stay, in its turn, and unless it stays it is paused; what is sent to
//     it meanwhile waits.
//  2. The sender calls the receiver's endpoint with the batch. The receiver
//     starts each new incarnation (EndHandoff gets the state) but keeps its
//     registration to itself: nobody else can reach it yet.
//  3. For each name started, the sender forwards to the new incarnation
//     what waited and everything later sent to the old one, and points its
//     replica at the new one and tells the other nodes. For each that
//     failed, the old process resumes: nothing is lost.
//  4. The sender tells the receiver the batch is done, on the same link as
//     the forwarded messages, so they are in the new mailboxes first; only
//     then does the receiver announce the new registrations. Messages from
//     one sender therefore reach the process in the order sent, across the
//     move, except one sent to the old incarnation after the new one was
//     announced, which can arrive after one sent to the new one directly.

const (
	// handoffBatch bounds the names in one handoff call.
	handoffBatch = 1024
	// handoffTimeout bounds one batch (beginning, starting, forwarding).
	handoffTimeout = 30 * time.Second
	// incomingTimeout is how long a receiver keeps a new incarnation to
	// itself when the sender never says the batch is done (it died).
	incomingTimeout = 5 * time.Second
)

// Wire messages of a handoff.
type (
	// HandoffEntry is one process in a handoff batch.
	HandoffEntry struct {
		Name   string
		Kind   string
		Args   []byte
		Groups []string
		// Old is the id of the incarnation on the sending node.
		Old uint64
		// Move says State carries the process's state (codec-encoded);
		// otherwise the new incarnation starts fresh from its spec.
		Move  bool
		State []byte
	}
	msgHandoff struct {
		From    string
		Entries []HandoffEntry
	}
	// msgHandoffReply answers a msgHandoff entry by entry: the new
	// incarnation's id, or why there is none.
	msgHandoffReply struct {
		IDs      []uint64
		Versions []uint64
		Errs     []string
	}
	msgHandoffDone struct {
		From  string
		Names []string
	}
	// msgResolve carries a conflict loser's state to the winner.
	msgResolve struct {
		Name  string
		ID    uint64
		State []byte
		Hops  int // times passed on after the winner moved
	}
)

// balance hands off the local processes whose names this node no longer
// owns, whenever placement changes, retrying failures with backoff.
func (cs *clusterState) balance() {
	defer cs.wg.Done()
	backoff := time.Duration(0)
	var retry <-chan time.Time
	for {
		select {
		case <-cs.balanceWake:
		case <-retry:
		case <-cs.ctx.Done():
			return
		}
		retry = nil
		gen := cs.tableGen.Load()
		misplaced, moved, err := cs.balanceOnce()
		cs.publishPass(gen, misplaced, err)
		switch {
		case err != nil:
			if cs.ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, 100*time.Millisecond), 3*time.Second)
			cs.r.log.Warn("could not hand off every process; will retry", "in", backoff, "err", err)
			retry = time.After(backoff)
		case moved > 0:
			backoff = 0
			cs.wakeBalancer() // one more pass, to see that all went
		default:
			backoff = 0
		}
	}
}

// passResult is what the balancer found in its last pass.
type passResult struct {
	gen       uint64 // placement table generation the pass used
	misplaced int    // local processes owned elsewhere, at the start
	done      chan struct{}
}

// publishPass records a finished pass and wakes whoever waits for one.
func (cs *clusterState) publishPass(gen uint64, misplaced int, _ error) {
	cs.passMu.Lock()
	prev := cs.pass
	cs.pass = passResult{gen: gen, misplaced: misplaced, done: make(chan struct{})}
	cs.passMu.Unlock()
	close(prev.done)
}

// lastPass returns the last pass's result; its done closes at the next.
func (cs *clusterState) lastPass() passResult {
	cs.passMu.Lock()
	defer cs.passMu.Unlock()
	return cs.pass
}

// balanceOnce hands off every local process owned elsewhere. It returns
// how many there were at the start, and how many moved.
func (cs *clusterState) balanceOnce() (misplaced, moved int, err error) {
	moves := map[string][]string{}
	r := cs.r
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for name, e := range sh.entries {
			if e.proc == nil {
				continue
			}
			o, err := cs.owner(name)
			if err != nil || o == cs.self {
				continue
			}
			misplaced++
			if e.started() && !e.moving && !e.stays {
				moves[o] = append(moves[o], name)
			}
		}
		sh.mu.RUnlock()
	}
	var errs []error
	for target, names := range moves {
		for start := 0; start < len(names); start += handoffBatch {
			n, err := cs.handoff(target, names[start:min(len(names), start+handoffBatch)])
			moved += n
			if err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return misplaced, moved, errors.Join(errs...)
}

// pausedProc is a local process in a handoff batch.
type pausedProc struct {
	name  string
	e     *entry
	h     process.Handoff
	err   error
	entry HandoffEntry
}

// handoff moves the named local processes to target and returns how many
// moved.
func (cs *clusterState) handoff(target string, names []string) (int, error) {
	ctx, cancel := context.WithTimeout(cs.ctx, handoffTimeout)
	defer cancel()
	r := cs.r
	mayStay := !cs.draining.Load()

	// 1. Pause them.
	batch := make([]*pausedProc, 0, len(names))
	for _, name := range names {
		sh := r.shard(name)
		sh.mu.Lock()
		if e, ok := sh.entries[name]; ok && e.started() && e.proc != nil && !e.moving {
			e.moving = true
			batch = append(batch, &pausedProc{name: name, e: e, entry: HandoffEntry{
				Name: name, Kind: e.spec.Kind, Args: e.spec.Args, Groups: e.groups, Old: e.ref.ID,
			}})
		}
		sh.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, pp := range batch {
		wg.Add(1)
		err := pp.e.proc.BeginHandoff(ctx, mayStay, func(h process.Handoff, err error) {
			pp.h, pp.err = h, err
			wg.Done()
		})
		if err != nil {
			pp.err = err
			wg.Done()
		}
	}
	wg.Wait()
	send := batch[:0:0]
	for _, pp := range batch {
		switch {
		case pp.err != nil:
			cs.unmark(pp, false)
		case pp.h.Action == process.HandoffStay:
			cs.unmark(pp, true)
		default:
			if pp.h.Action == process.HandoffMove {
				state, err := cs.codec.Marshal(pp.h.State)
				if err != nil {
					r.log.Error("cannot encode handed-off state; the process stays", "name", pp.name, "err", err)
					cs.resume(pp)
					continue
				}
				pp.entry.Move, pp.entry.State = true, state
			}
			send = append(send, pp)
		}
	}
	if len(send) == 0 {
		return 0, nil
	}

	// 2. Start them on target.
	entries := make([]HandoffEntry, len(send))
	for i, pp := range send {
		entries[i] = pp.entry
	}
	v, err := r.rt.Call(ctx, endpointRef(target), msgHandoff{From: cs.self, Entries: entries})
	reply, ok := v.(msgHandoffReply)
	if err == nil && (!ok || len(reply.IDs) != len(send) || len(reply.Errs) != len(send) || len(reply.Versions) != len(send)) {
		err = fmt.Errorf("malformed answer %T", v)
	}
	if err != nil {
		for _, pp := range send {
			cs.resume(pp)
		}
		return 0, fmt.Errorf("hand off %d processes to %s: %w", len(send), target, err)
	}

	// 3. Forward, and point every replica at the new incarnations.
	done := make([]string, 0, len(send))
	var failed int
	for i, pp := range send {
		if reply.IDs[i] == 0 {
			failed++
			r.log.Warn("handoff refused; the process stays", "name", pp.name, "peer", target, "err", reply.Errs[i])
			cs.resume(pp)
			continue
		}
		to := process.Ref{Node: target, ID: reply.IDs[i]}
		old := pp.e.proc
		if err := old.Forward(to, nil); err != nil {
			r.log.Error("could not retire a handed-off process", "name", pp.name, "err", err)
		}
		sh := r.shard(pp.name)
		sh.mu.Lock()
		rec := recordOf(pp.name, pp.e)
		if cur, ok := sh.entries[pp.name]; ok && cur == pp.e {
			pp.e.proc, pp.e.ref, pp.e.version, pp.e.prev, pp.e.moving = nil, to, reply.Versions[i], rec.ref(), false
		}
		sh.mu.Unlock()
		cs.announceOp(Op{Record: rec, MovedTo: to, MovedVersion: reply.Versions[i]})
		done = append(done, pp.name)
	}

	// 4. Let target announce them.
	if len(done) > 0 {
		if err := r.rt.Cast(endpointRef(target), msgHandoffDone{From: cs.self, Names: done}); err != nil {
			r.log.Debug("could not end handoff", "peer", target, "err", err)
		}
	}
	if failed > 0 {
		return len(done), fmt.Errorf("hand off to %s: %d of %d refused", target, failed, len(send))
	}
	return len(done), nil
}

// unmark ends a handoff that did not pause the process.
func (cs *clusterState) unmark(pp *pausedProc, stays bool) {
	sh := cs.r.shard(pp.name)
	sh.mu.Lock()
	pp.e.moving = false
	pp.e.stays = stays
	sh.mu.Unlock()
}

// resume lets a paused process carry on here.
func (cs *clusterState) resume(pp *pausedProc) {
	cs.unmark(pp, false)
	if err := pp.e.proc.ResumeHandoff(); err != nil {
		cs.r.log.Error("could not resume a process after a failed handoff", "name", pp.name, "err", err)
	}
}

// incoming is a new incarnation a receiver keeps to itself until its
// sender has forwarded what was sent to the old one.
type incoming struct {
	from  string
	e     *entry
	timer *time.Timer
}

type incomingHandoffs struct {
	mu sync.Mutex
	m  map[string]*incoming // by name
}

// acceptHandoff starts the new incarnations of a batch (step 2).
func (cs *clusterState) acceptHandoff(ctx context.Context, m msgHandoff) msgHandoffReply {
	n := len(m.Entries)
	reply := msgHandoffReply{IDs: make([]uint64, n), Versions: make([]uint64, n), Errs: make([]string, n)}
	if cs.draining.Load() {
		for i := range reply.Errs {
			reply.Errs[i] = "node is leaving"
		}
		return reply
	}
	for i, he := range m.Entries {
		id, version, err := cs.acceptOne(ctx, m.From, he)
		if err != nil {
			reply.Errs[i] = err.Error()
			continue
		}
		reply.IDs[i], reply.Versions[i] = id, version
	}
	return reply
}

func (cs *clusterState) acceptOne(ctx context.Context, from string, he HandoffEntry) (id, version uint64, err error) {
	r := cs.r
	if he.Name == "" {
		return 0, 0, fmt.Errorf("handoff: %w: empty name", ErrInvalidName)
	}
	h := &process.Handoff{Action: process.HandoffRestart}
	if he.Move {
		state, uerr := cs.codec.Unmarshal(he.State)
		if uerr != nil {
			return 0, 0, fmt.Errorf("handoff %q: state: %w", he.Name, uerr)
		}
		h = &process.Handoff{Action: process.HandoffMove, State: state}
	}
	sh := r.shard(he.Name)
	sh.mu.Lock()
	old, had := sh.entries[he.Name]
	if had && old.proc != nil && old.moving {
		// The copy here is being handed off itself: it cannot take the
		// moving copy's place (it is about to be retired, and a state
		// queued for it would be dropped when it is). The sender keeps
		// its copy and tries again once this one has settled.
		sh.mu.Unlock()
		return 0, 0, fmt.Errorf("handoff %q: a copy here is being handed off right now", he.Name)
	}
	if had && old.proc != nil && old.started() && old.proc.Alive() {
		// This node runs a copy already (registered here meanwhile, or
		// the other side of a healed netsplit): it wins and takes the
		// moving copy's state. It is now the moving copy's successor, so
		// that news of that copy arriving later (a full list sent before
		// the move) reads as stale, not as a conflict this copy would
		// lose, forwarding to a copy that forwards back here.
		old.prev = process.Ref{Node: from, ID: he.Old}
		p, ref, v := old.proc, old.ref, old.version
		sh.mu.Unlock()
		r.log.Debug("handoff: a copy runs here already; it takes the moving one's place", "name", he.Name, "from", from, "here", ref)
		if h.Action == process.HandoffMove {
			_ = p.ResolveConflict(h.State)
		}
		return ref.ID, v, nil
	}
	if had && !old.started() {
		sh.mu.Unlock()
		return 0, 0, fmt.Errorf("handoff %q: being registered here right now", he.Name)
	}
	ne := &entry{spec: process.Spec{Kind: he.Kind, Args: he.Args}, ready: make(chan struct{})}
	sh.entries[he.Name] = ne
	sh.mu.Unlock()

	p, err := r.rt.Spawn(ctx, ne.spec, process.SpawnOptions{Name: he.Name, OnExit: r.exitHook, HandedOff: h})
	sh.mu.Lock()
	if err != nil {
		if had {
			sh.entries[he.Name] = old // the old one carries on
		} else {
			delete(sh.entries, he.Name)
		}
		close(ne.ready)
		ne.ready = nil
		sh.mu.Unlock()
		return 0, 0, fmt.Errorf("handoff %q: %w", he.Name, err)
	}
	if had {
		r.deleteLocked(sh, he.Name, old)
		sh.entries[he.Name] = ne
	}
	ne.proc, ne.ref = p, p.Ref()
	ne.version, ne.prev = r.nextVersion(), process.Ref{Node: from, ID: he.Old}
	version = ne.version
	r.setGroupsLocked(he.Name, ne, he.Groups)
	sh.mu.Unlock()

	in := &incoming{from: from, e: ne}
	cs.incoming.mu.Lock()
	if prior := cs.incoming.m[he.Name]; prior != nil {
		prior.timer.Stop()
	}
	cs.incoming.m[he.Name] = in
	in.timer = time.AfterFunc(incomingTimeout, func() { cs.incoming.finishOne(cs, he.Name, in) })
	cs.incoming.mu.Unlock()
	return p.Ref().ID, version, nil
}

// finish publishes the new incarnations of names (step 4).
func (ih *incomingHandoffs) finish(cs *clusterState, from string, names []string) {
	for _, name := range names {
		ih.mu.Lock()
		in := ih.m[name]
		ih.mu.Unlock()
		if in != nil && in.from == from {
			ih.finishOne(cs, name, in)
		}
	}
}

// nodeGone publishes at once what a node that went away was handing over.
func (ih *incomingHandoffs) nodeGone(cs *clusterState, node string) {
	ih.mu.Lock()
	var names []string
	var ins []*incoming
	for name, in := range ih.m {
		if in.from == node {
			names, ins = append(names, name), append(ins, in)
		}
	}
	ih.mu.Unlock()
	for i, name := range names {
		ih.finishOne(cs, name, ins[i])
	}
}

func (ih *incomingHandoffs) finishOne(cs *clusterState, name string, in *incoming) {
	ih.mu.Lock()
	if ih.m[name] != in {
		ih.mu.Unlock()
		return
	}
	delete(ih.m, name)
	in.timer.Stop()
	ih.mu.Unlock()
	r := cs.r
	sh := r.shard(name)
	sh.mu.Lock()
	e := in.e
	if sh.entries[name] != e || e.started() {
		sh.mu.Unlock()
		return // it exited meanwhile
	}
	close(e.ready)
	e.ready = nil
	rec := recordOf(name, e)
	sh.mu.Unlock()
	cs.announceOp(Op{Record: rec})
	cs.startedHere(name)
}

// startedHere is told that a local process for name has just become
// visible. A balancer pass skips processes still starting; if placement
// changed meanwhile, this one must move, and a pass must see it.
func (cs *clusterState) startedHere(name string) {
	if o, err := cs.owner(name); err == nil && o != cs.self {
		cs.wakeBalancer()
	}
}

// stop cancels the pending publications (the registry is closing).
func (ih *incomingHandoffs) stop() {
	ih.mu.Lock()
	defer ih.mu.Unlock()
	for name, in := range ih.m {
		in.timer.Stop()
		delete(ih.m, name)
	}
}

// loseConflict retires a local process that lost its name to the copy at
// winner: its state goes to the winner's ResolveConflict, then it exits
// with ErrConflict and what is sent to it goes to the winner.
func (cs *clusterState) loseConflict(name string, loser *process.Process, winner process.Ref) {
	r := cs.r
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		ctx, cancel := context.WithTimeout(cs.ctx, handoffTimeout)
		defer cancel()
		type answer struct {
			h   process.Handoff
			err error
		}
		ch := make(chan answer, 1)
		err := loser.BeginHandoff(ctx, false, func(h process.Handoff, err error) { ch <- answer{h, err} })
		var a answer
		if err == nil {
			a = <-ch
		}
		if err != nil || a.err != nil {
			_ = loser.Stop(ctx, ErrConflict) // it is exiting anyway, or stuck
			return
		}
		if a.h.Action == process.HandoffMove {
			if state, err := cs.codec.Marshal(a.h.State); err != nil {
				r.log.Error("cannot encode a conflict loser's state; dropped", "name", name, "err", err)
			} else if err := cs.sendResolve(ctx, winner, msgResolve{Name: name, ID: winner.ID, State: state}); err != nil {
				r.log.Warn("could not send a conflict loser's state to the winner; dropped", "name", name, "winner", winner.Node, "err", err)
			}
		}
		if err := loser.Forward(winner, ErrConflict); err != nil {
			r.log.Error("could not retire a conflict loser", "name", name, "err", err)
		}
	}()
}

// sendResolve delivers a loser's state to the winner's node. Right after a
// heal this node may not see the winner's node yet (links go only to live
// members): it waits for it, and retries.
func (cs *clusterState) sendResolve(ctx context.Context, winner process.Ref, m msgResolve) error {
	var err error
	for attempt := range 5 {
		for !slices.Contains(cs.m.Nodes(), winner.Node) {
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return fmt.Errorf("winner's node %s not seen: %w", winner.Node, ctx.Err())
			}
		}
		if _, err = cs.r.rt.Call(ctx, endpointRef(winner.Node), m); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
	return err
}

// resolveHere hands a conflict loser's state to the process that holds
// the name here or, if it moved on, passes it on to where it now runs.
func (cs *clusterState) resolveHere(m msgResolve) {
	r := cs.r
	sh := r.shard(m.Name)
	sh.mu.Lock()
	e, ok := sh.entries[m.Name]
	switch {
	case !ok:
		sh.mu.Unlock()
		r.log.Warn("dropped a conflict loser's state: the name is gone", "name", m.Name)
	case e.proc != nil && (e.moving || !e.started()):
		// Moving (or just arrived): once that settles, the state goes
		// where the process is.
		sh.mu.Unlock()
		cs.resolveLater(m)
	case e.proc != nil:
		state, err := cs.codec.Unmarshal(m.State)
		if err == nil {
			// Under the lock: a handoff that begins later queues behind it.
			err = e.proc.ResolveConflict(state)
		}
		sh.mu.Unlock()
		if err != nil {
			r.log.Warn("dropped a conflict loser's state", "name", m.Name, "err", err)
		}
	default:
		ref := e.ref
		sh.mu.Unlock()
		if m.Hops >= 3 {
			r.log.Warn("dropped a conflict loser's state: its winner keeps moving", "name", m.Name)
			return
		}
		m.ID, m.Hops = ref.ID, m.Hops+1
		_ = r.rt.Cast(endpointRef(ref.Node), m)
	}
}

// resolveLater retries resolveHere once name is no longer moving here.
func (cs *clusterState) resolveLater(m msgResolve) {
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		deadline := time.Now().Add(handoffTimeout)
		sh := cs.r.shard(m.Name)
		for time.Now().Before(deadline) {
			select {
			case <-time.After(10 * time.Millisecond):
			case <-cs.ctx.Done():
				return
			}
			sh.mu.RLock()
			e, ok := sh.entries[m.Name]
			settled := !ok || e.proc == nil || (!e.moving && e.started())
			sh.mu.RUnlock()
			if settled {
				break
			}
		}
		cs.resolveHere(m)
	}()
}

// Drain hands every process on this node off to the nodes that will own
// their names once it is gone, and from then on places nothing here: call
// it before leaving the cluster (on SIGTERM). It returns when no process is
// left, or with an error when ctx ends first (what is left is restarted
// from its spec by its new owner once this node has gone). Processes that
// answer Stay are restarted there too. A single-node registry has nothing
// to drain.
func (r *Registry) Drain(ctx context.Context) error {
	if r.dir != nil {
		return r.dir.drain(ctx)
	}
	cs := r.cl
	if cs == nil || len(cs.m.Nodes()) == 0 {
		return nil // alone: there is nobody to hand anything to
	}
	cs.draining.Store(true)
	cs.refreshTable()
	gen := cs.tableGen.Load()
	if tb := cs.table.Load(); tb.err != nil {
		return fmt.Errorf("drain: no node to hand processes to: %w", tb.err)
	}
	for _, n := range cs.m.Nodes() {
		_ = r.rt.Cast(endpointRef(n), msgLeaving{From: cs.self})
	}
	// Wait for a balancer pass under the new placement that finds nothing
	// left to move.
	for {
		p := cs.lastPass()
		if p.gen >= gen && p.misplaced == 0 {
			break
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("drain: %d processes not handed off: %w", p.misplaced, ctx.Err())
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	wait := func(what string, done func() (int, bool)) error {
		for {
			left, ok := done()
			if ok {
				return nil
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return fmt.Errorf("drain: %d %s: %w", left, what, ctx.Err())
			}
		}
	}
	// Every other node must have applied the moves before this one goes,
	// or it would route calls here: wait for the announcements to leave,
	// then for each node to answer a call queued behind them.
	if err := wait("announcements unsent", func() (int, bool) {
		cs.outMu.Lock()
		defer cs.outMu.Unlock()
		return len(cs.out), len(cs.out) == 0 && !cs.sending
	}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, n := range cs.m.Nodes() {
		wg.Go(func() {
			if _, err := r.rt.Call(ctx, endpointRef(n), msgBarrier{}); err != nil {
				r.log.Debug("drain: node did not confirm the moves", "peer", n, "err", err)
			}
		})
	}
	wg.Wait()
	// Calls that reached the old incarnations are on their way to the new
	// ones; their replies come back through here.
	return wait("forwarded calls unanswered", func() (int, bool) { n := r.rt.Forwarding(); return n, n == 0 })
}

func (cs *clusterState) wakeBalancer() {
	select {
	case cs.balanceWake <- struct{}{}:
	default:
	}
}
