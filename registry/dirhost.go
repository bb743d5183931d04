package registry

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/internal/sys"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry/internal/directory"
)

// dirHost runs the partitioned directory (package directory, a pure state
// machine) on a node. It owns the machine and feeds it, one call at a
// time under mu: membership views, a tick every Config.Tick, messages
// from peers (through the registry endpoint), client requests and the
// outcomes of what it asked for. What the machine asks (messages to
// peers, effects on local processes) is queued in order under mu and
// carried out by one goroutine, outside the lock, so that a process's
// hook that calls the registry never waits on itself. Starting a process
// runs on a goroutine of its own: its Init may call the registry.
type dirHost struct {
	r      *Registry
	sys    process.System // the runtime's side door: handoffs, system processes
	m      Membership
	codec  *codec.Codec
	log    *slog.Logger
	self   directory.NodeID
	tick   time.Duration
	quorum int
	shape  [2]int // partitions and replicas, which every node must share

	// mu serialises every call into the machine; lookups that only read
	// it (Where, Serving) share it as readers.
	mu      sync.RWMutex
	node    *directory.Node
	view    map[string]directory.NodeID // live members by name, self included
	reqSeq  uint64
	waiting map[uint64]chan dirAnswer // client requests by id
	// ckWaiting holds checkpoint requests by id; ckStored the hash of
	// each local process's last stored checkpoint (ckSeed's).
	ckWaiting map[uint64]*ckptWait
	ckBatch   []*ckptWait   // async checkpoints waiting for others (flushCkBatch)
	ckSteps   atomic.Uint64 // steps that handed checkpoints to the machine
	ckTimer   *time.Timer   // flushes ckBatch; stopped by close
	// ckRetrying holds the checkpoint requests waiting to be asked again,
	// with their timers (stopped by close).
	ckRetrying map[*ckptWait]*time.Timer
	ckStored   map[uint64]uint64
	// ckLast holds the last stored checkpoint (or the state it started
	// from) of each local process its kind restarts in place, for its
	// restart (process.SpawnOptions.Restore).
	ckLast   map[uint64][]byte
	ckSeed   maphash.Seed
	queue    []dirJob
	draining bool
	misfits  map[directory.NodeID][2]int // peers heard with another shape

	cache  *refCache // where calls by name last found remote-primary names
	lists  listFlights
	writes atomic.Uint64 // client writes answered, for listFlights
	wake   chan struct{}
	sub    cluster.Subscription
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	asked  drainAsked // a drain another node asked for
}

// dirAnswer is the outcome of a client request.
type dirAnswer struct {
	ans directory.Answer
	err error
}

// dirJob is one thing to carry out: a message to send or an effect, with
// the local process it is about (looked up under mu).
type dirJob struct {
	to  directory.NodeID
	msg any
	eff directory.Effect
	p   *process.Process
	fn  func() // a callback to run in order instead
}

// Defaults of the partitioned directory.
const (
	defaultPartitions = 1024
	defaultTick       = 100 * time.Millisecond
)

func (r *Registry) startDirectory(cfg Config) error {
	self := directory.NodeID{Name: cfg.Cluster.Name(), Inc: cfg.Cluster.Incarnation()}
	dc := directory.DefaultConfig(self)
	if cfg.Partitions > 0 {
		dc.Partitions = cfg.Partitions
	}
	dc.Quorum = cfg.Quorum
	switch {
	case cfg.Replicas > 0:
		dc.Replicas = cfg.Replicas
	case cfg.Replicas < 0:
		dc.Replicas = 0
	}
	h := &dirHost{
		r: r, m: cfg.Cluster, codec: cfg.Codec, log: r.log, self: self, tick: cfg.Tick, quorum: cfg.Quorum,
		sys:       r.rt.System(sys.Key{}),
		view:      map[string]directory.NodeID{},
		waiting:   map[uint64]chan dirAnswer{},
		ckWaiting: map[uint64]*ckptWait{}, ckStored: map[uint64]uint64{}, ckLast: map[uint64][]byte{}, ckSeed: maphash.MakeSeed(),
		ckRetrying: map[*ckptWait]*time.Timer{},
		cache:      newRefCache(refCacheTTL, refCacheMax),
		wake:       make(chan struct{}, 1),
	}
	if h.tick <= 0 {
		h.tick = defaultTick
	}
	if r.log.Enabled(context.Background(), slog.LevelDebug-4) {
		dc.Logf = func(format string, args ...any) {
			r.log.Log(context.Background(), slog.LevelDebug-4, fmt.Sprintf(format, args...))
		}
	}
	// A conflict loser's state this build cannot decode stays with the
	// loser (sent again) rather than being taken and lost here.
	dc.Decodable = func(name string, state []byte) bool {
		_, err := h.decodeState(state)
		if err != nil {
			h.log.Warn("registry: cannot decode a conflict loser's state; it stays with the loser, which sends it again", "name", name, "err", err)
		}
		return err == nil
	}
	node, err := directory.New(dc)
	if err != nil {
		return fmt.Errorf("new registry: %w", err)
	}
	h.node = node
	h.shape = [2]int{dc.Partitions, dc.Replicas}
	if self.Name != r.rt.Node() {
		return fmt.Errorf("new registry: cluster node %q is not the runtime's node %q", self.Name, r.rt.Node())
	}
	if h.codec == nil {
		return fmt.Errorf("new registry: a cluster-wide registry needs Config.Codec (the remote's codec)")
	}
	if err := registerTypesOnce(h.codec); err != nil {
		return fmt.Errorf("new registry: register wire types: %w", err)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if _, err := h.sys.Start(h.ctx, endpointID, &dirEndpoint{h: h}, process.SpawnOptions{Name: "shoal.registry"}); err != nil {
		h.cancel()
		return fmt.Errorf("new registry: start endpoint: %w", err)
	}
	// Listings have an endpoint of their own: they do not wait behind the
	// directory's traffic, nor it behind them.
	if _, err := h.sys.Start(h.ctx, listEndpointID, &dirEndpoint{h: h}, process.SpawnOptions{Name: "shoal.registry.list"}); err != nil {
		h.cancel()
		return fmt.Errorf("new registry: start list endpoint: %w", err)
	}
	if _, err := h.sys.Start(h.ctx, opsEndpointID, &opsEndpoint{r: r}, process.SpawnOptions{Name: "shoal.registry.ops"}); err != nil {
		h.cancel()
		return fmt.Errorf("new registry: start operator endpoint: %w", err)
	}
	r.dir = h
	h.sub = h.m.Subscribe()
	h.setView()
	h.wg.Add(3)
	go h.run()
	go h.ticker()
	go h.watch()
	return nil
}

// close stops the host's goroutines; local processes stay (the runtime
// stops them).
func (h *dirHost) close() {
	h.cancel()
	h.lists.mu.Lock()
	h.lists.closed = true
	h.lists.mu.Unlock()
	h.sub.Close()
	h.wg.Wait()
	h.mu.Lock()
	for id, ch := range h.waiting {
		ch <- dirAnswer{err: errRegistryClosed}
		delete(h.waiting, id)
	}
	cks := slices.Collect(maps.Values(h.ckWaiting))
	h.ckWaiting = map[uint64]*ckptWait{}
	if h.ckTimer != nil {
		h.ckTimer.Stop()
	}
	cks = append(cks, h.ckBatch...)
	h.ckBatch, h.ckTimer = nil, nil
	for w, t := range h.ckRetrying {
		t.Stop()
		cks = append(cks, w)
	}
	clear(h.ckRetrying)
	h.mu.Unlock()
	for _, w := range cks {
		w.done(errRegistryClosed)
	}
}

// step calls f on the machine under mu and takes what it asks for.
func (h *dirHost) step(f func(n *directory.Node)) {
	h.mu.Lock()
	f(h.node)
	h.takeLocked()
	h.mu.Unlock()
}

// takeLocked moves the machine's output to the queue, answers client
// requests at once and keeps the table of local processes in step with
// the effects (a process stopped or retired is no longer the machine's:
// its exit is not reported).
func (h *dirHost) takeLocked() {
	rd := h.node.Ready()
	if len(rd.Msgs) == 0 && len(rd.Effects) == 0 {
		return
	}
	for _, env := range rd.Msgs {
		h.queue = append(h.queue, dirJob{to: env.To, msg: env.Msg})
	}
	for _, e := range rd.Effects {
		switch e := e.(type) {
		case directory.Reply:
			if ch, ok := h.waiting[e.Req]; ok {
				delete(h.waiting, e.Req)
				ch <- dirAnswer{ans: e.Answer, err: e.Err}
			} else if w, ok := h.ckWaiting[e.Req]; ok {
				delete(h.ckWaiting, e.Req)
				h.checkpointedLocked(w, e.Err)
			}
			continue
		case directory.Stop:
			h.queue = append(h.queue, dirJob{eff: e, p: h.proc(e.Inst.ID)})
			continue
		case directory.Forward:
			h.queue = append(h.queue, dirJob{eff: e, p: h.proc(e.From.ID)})
			continue
		case directory.Pause:
			h.queue = append(h.queue, dirJob{eff: e, p: h.proc(e.Inst.ID)})
			continue
		case directory.Resume:
			h.queue = append(h.queue, dirJob{eff: e, p: h.proc(e.Inst.ID)})
			continue
		case directory.Resolve:
			h.queue = append(h.queue, dirJob{eff: e, p: h.proc(e.Winner.ID)})
			continue
		case directory.Flush:
			h.queue = append(h.queue, dirJob{eff: e, p: h.proc(e.Inst.ID)})
			continue
		}
		h.queue = append(h.queue, dirJob{eff: e})
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run carries out the queue, in order.
func (h *dirHost) run() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.wake:
		}
		h.mu.Lock()
		jobs := h.queue
		h.queue = nil
		h.mu.Unlock()
		// Effects in order; messages batched per peer, each peer's in
		// order (the order between peers, or between a message and a
		// local effect, carries no meaning).
		var batches []*dirBatch
		byPeer := map[directory.NodeID]*dirBatch{}
		for _, j := range jobs {
			if j.fn != nil {
				j.fn()
				continue
			}
			if j.eff != nil {
				h.carryOut(j)
				continue
			}
			body, err := h.codec.Marshal(j.msg)
			if err != nil {
				h.log.Error("registry: cannot encode a directory message", "type", fmt.Sprintf("%T", j.msg), "err", err)
				continue
			}
			b := byPeer[j.to]
			if b == nil || b.size+len(body) > maxBatchBytes {
				b = &dirBatch{to: j.to}
				byPeer[j.to] = b
				batches = append(batches, b)
			}
			b.bodies = append(b.bodies, body)
			b.size += len(body)
		}
		for _, b := range batches {
			h.send(b.to, b.bodies)
		}
	}
}

// dirBatch is the messages for one peer carried out in one run.
type dirBatch struct {
	to     directory.NodeID
	bodies [][]byte
	size   int
}

// maxBatchBytes bounds the messages sent to a peer in one wire message
// (the directory's own messages are at most about 1 MiB; link frames 16).
const maxBatchBytes = 4 << 20

// ticker ticks the machine.
func (h *dirHost) ticker() {
	defer h.wg.Done()
	t := time.NewTicker(h.tick)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.step(func(n *directory.Node) { n.Tick() })
		}
	}
}

// watch gives the machine a new view on every membership event.
func (h *dirHost) watch() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case _, ok := <-h.sub.Events():
			if !ok {
				return
			}
			h.setView()
		}
	}
}

// setView gives the machine the live members (alive or suspect), with
// their incarnations.
func (h *dirHost) setView() {
	members := h.m.Members()
	h.mu.Lock()
	defer h.mu.Unlock()
	view := make([]directory.NodeID, 0, len(members))
	next := map[string]directory.NodeID{h.self.Name: h.self}
	present := map[string]uint64{}
	for _, m := range members {
		present[m.Name] = m.Incarnation
		if m.Self || m.Name == h.self.Name || (m.Status != cluster.StatusAlive && m.Status != cluster.StatusSuspect) {
			continue
		}
		id := directory.NodeID{Name: m.Name, Inc: m.Incarnation}
		if _, bad := h.misfits[id]; bad {
			continue
		}
		next[m.Name] = id
		view = append(view, id)
	}
	for id := range h.misfits { // forget incarnations that are gone
		if m, ok := present[id.Name]; !ok || m != id.Inc {
			delete(h.misfits, id)
		}
	}
	h.view = next
	h.cache.clear()
	h.node.SetView(view)
	h.takeLocked()
}

// send delivers encoded messages to a peer's endpoint; a failure is
// dropped (the machine sends again what matters).
func (h *dirHost) send(to directory.NodeID, bodies [][]byte) {
	w := dirWire{From: h.self, To: to, Shape: h.shape, Bodies: bodies}
	if err := h.r.rt.Cast(endpointRef(to.Name), w); err != nil {
		h.log.Debug("registry: directory message not sent", "peer", to.Name, "err", err)
	}
}

// receive hands a peer's message to the machine, unless it comes from or
// was meant for an incarnation that is not live here.
func (h *dirHost) receive(w dirWire) {
	if w.To != h.self {
		return
	}
	if w.Shape != h.shape {
		h.misfit(w)
		return
	}
	msgs := make([]any, 0, len(w.Bodies))
	for _, body := range w.Bodies {
		msg, err := h.codec.Unmarshal(body)
		if err != nil {
			h.log.Debug("registry: undecodable directory message", "peer", w.From.Name, "err", err)
			continue
		}
		msgs = append(msgs, msg)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.view[w.From.Name] != w.From {
		// Membership may list the sender already while its event is on
		// its way here (a node that just joined talks at once): take the
		// view now rather than drop what it sent.
		h.mu.Unlock()
		known := h.isMember(w.From)
		if known {
			h.setView()
		}
		h.mu.Lock()
		if !known || h.view[w.From.Name] != w.From {
			return
		}
	}
	for _, msg := range msgs {
		h.node.Receive(w.From, msg)
		if _, ok := msg.(directory.MsgLeaving); ok {
			// Its processes move away, and it stops once they have:
			// calls by name find them again through their primaries.
			h.cache.dropNode(w.From.Name)
		}
	}
	h.takeLocked()
}

// misfit notes a peer configured with another partition or replica
// count: its messages are dropped, and Synced says why, until it is gone;
// the peer is told (an empty message carries this node's shape).
// It is left out of the machine's view: no partition waits on it.
func (h *dirHost) misfit(w dirWire) {
	h.mu.Lock()
	if h.misfits == nil {
		h.misfits = map[directory.NodeID][2]int{}
	}
	_, known := h.misfits[w.From]
	h.misfits[w.From] = w.Shape
	h.mu.Unlock()
	if !known {
		h.log.Error("registry: a node uses another partition or replica count; the two do not share names until every node uses the same",
			"peer", w.From.Name, "its_partitions", w.Shape[0], "its_replicas", w.Shape[1], "partitions", h.shape[0], "replicas", h.shape[1])
		h.setView()
		// Told back at once: it may never hear from this node otherwise
		// (the misfit is out of this node's view), and then would wait
		// for it for ever instead of saying why.
		h.send(w.From, nil)
	}
}

// isMember reports whether membership lists id as a live member now.
func (h *dirHost) isMember(id directory.NodeID) bool {
	for _, m := range h.m.Members() {
		if m.Name == id.Name && m.Incarnation == id.Inc && (m.Status == cluster.StatusAlive || m.Status == cluster.StatusSuspect) {
			return true
		}
	}
	return false
}

// request runs a client request through the machine and waits for its
// answer.
func (h *dirHost) request(ctx context.Context, op directory.ReqOp, name, group string, spec process.Spec) (directory.Answer, error) {
	for try := 1; ; try++ {
		a, err := h.requestOnce(ctx, op, name, group, spec)
		// Every request is idempotent (a registration of a name that
		// exists answers it): one that got no answer in the machine's
		// time is asked again while ctx lets it.
		if !errors.Is(err, directory.ErrTimeout) {
			return a, err
		}
		if ctx.Err() != nil {
			return a, ctx.Err()
		}
		h.log.Debug("registry: request unanswered in time; asking again", "op", op, "name", name, "try", try)
	}
}

// requestOnce asks the machine once.
func (h *dirHost) requestOnce(ctx context.Context, op directory.ReqOp, name, group string, spec process.Spec) (directory.Answer, error) {
	if err := ctx.Err(); err != nil {
		return directory.Answer{}, err
	}
	ch := make(chan dirAnswer, 1)
	var id uint64
	h.step(func(n *directory.Node) {
		h.reqSeq++
		id = h.reqSeq
		h.waiting[id] = ch
		n.Request(id, op, name, group, directory.Spec{Kind: spec.Kind, Args: spec.Args,
			Checkpoints: op == directory.ReqRegister && h.checkpointMode(spec.Kind).Checkpoints != process.CheckpointOff})
	})
	select {
	case a := <-ch:
		if op != directory.ReqWhereis {
			h.writes.Add(1)
		}
		return a.ans, h.dirErr(a.err)
	case <-ctx.Done():
		h.mu.Lock()
		delete(h.waiting, id)
		h.mu.Unlock()
		return directory.Answer{}, ctx.Err()
	}
}

// dirErr turns the machine's errors into the registry's.
func (h *dirHost) dirErr(err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, directory.ErrNoPrimary) && h.quorum > 0:
		h.mu.Lock()
		seen := len(h.view)
		h.mu.Unlock()
		if seen < h.quorum {
			return fmt.Errorf("%w: %w: %d of %d members visible", err, ErrNoQuorum, seen, h.quorum)
		}
	}
	return err
}

// drainLogEvery is how often a slow drain says what it waits for.
const drainLogEvery = 5 * time.Second

// drain hands everything this node holds to the others and waits until
// it holds nothing.
func (h *dirHost) drain(ctx context.Context) error {
	h.step(func(n *directory.Node) {
		h.draining = true
		n.Drain()
	})
	t := time.NewTicker(h.tick / 2)
	defer t.Stop()
	began := time.Now()
	nextLog := began.Add(drainLogEvery)
	for {
		var left int
		var ok bool
		var progress string
		h.mu.Lock()
		left, ok = h.node.Drained()
		alone, nobody := len(h.view) == 1, h.node.Placeable() == 0
		if !ok && time.Now().After(nextLog) {
			progress = h.node.Progress()
		}
		h.mu.Unlock()
		if progress != "" {
			nextLog = time.Now().Add(drainLogEvery)
			h.log.Warn("registry: still draining", "after", time.Since(began).Round(time.Millisecond), "left", left, "holds", progress)
		}
		if ok {
			// Calls that reached retired processes are on their way to
			// the new ones; their replies come back through here.
			if n := h.sys.Forwarding(); n > 0 {
				left = n
			} else {
				return nil
			}
		}
		switch {
		case alone:
			return nil // a single node has nobody to hand anything to
		case nobody:
			// Every other node is leaving too (scaled to zero).
			return fmt.Errorf("drain: no node to hand processes to: %w (every other node is leaving): %d names and processes stop with this node", ErrNoMembers, left)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d names and processes not yet handed over: %w", left, ctx.Err())
		case <-t.C:
		}
	}
}

// synced reports whether this node serves every partition it is primary
// of.
func (h *dirHost) synced() error {
	members := h.m.Members()
	h.mu.Lock()
	draining, st, unheard := h.draining, h.node.Stats(), h.node.Unheard()
	var misfits []string
	live := map[directory.NodeID]bool{}
	for _, m := range members {
		live[directory.NodeID{Name: m.Name, Inc: m.Incarnation}] = m.Status == cluster.StatusAlive || m.Status == cluster.StatusSuspect
	}
	for id, shape := range h.misfits {
		if live[id] {
			misfits = append(misfits, fmt.Sprintf("%s (%d partitions, %d replicas)", id.Name, shape[0], shape[1]))
		}
	}
	var unseen []string
	for _, m := range members {
		if !m.Self && (m.Status == cluster.StatusAlive || m.Status == cluster.StatusSuspect) && h.view[m.Name].Inc != m.Incarnation {
			unseen = append(unseen, m.Name)
		}
	}
	h.mu.Unlock()
	switch {
	case draining:
		return ErrDraining
	case len(misfits) > 0:
		slices.Sort(misfits)
		return fmt.Errorf("%w: this node has %d partitions and %d replicas, but %s: set the same on every node", ErrNotSynced, h.shape[0], h.shape[1], strings.Join(misfits, ", "))
	case len(unseen) > 0:
		return fmt.Errorf("%w: membership of %s not yet applied", ErrNotSynced, strings.Join(unseen, ", "))
	case st.Gathering > 0:
		return fmt.Errorf("%w: gathering %d partitions", ErrNotSynced, st.Gathering)
	case len(unheard) > 0:
		names := make([]string, len(unheard))
		for i, id := range unheard {
			names[i] = id.Name
		}
		return fmt.Errorf("%w: %d partitions lack the copies of %s", ErrNotSynced, st.Unheard, strings.Join(names, ", "))
	case st.Unwhole > 0:
		// Not Unreplicated: under steady writes some partition almost
		// always has a change on its way to a replica.
		return fmt.Errorf("%w: %d partitions not yet copied whole to their replicas", ErrNotSynced, st.Unwhole)
	}
	return nil
}
