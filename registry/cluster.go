package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/placement"
	"github.com/shoalhq/shoal/process"
)

// How the cluster-wide registry works:
//
//   - Every node holds a replica of every registration. The node that runs
//     a process is the only writer of its registration: it streams each
//     change (registered, groups changed, exited) to every other node, in
//     order, batched; when a node joins, the two exchange their full lists
//     of local processes (anti-entropy), which also removes what the
//     receiver held stale for the sender.
//   - A name's owner is the placement strategy's pick among the live
//     members. Register on any node forwards to the owner's endpoint (a
//     system processes every node runs: EndpointID and workers), which creates the
//     process unless the name exists anywhere.
//   - When a node goes down or leaves, every node drops its registrations;
//     the new owner of each restarts it from its spec, in its groups.
//   - Two processes for one name (registrations racing across differing
//     membership views, or both sides of a healed netsplit) are resolved
//     the same way on every node, whatever its view: the copy on the node
//     with the smaller name wins, the other stops with ErrConflict.

// EndpointID is the system process id of every node's registry endpoint.
const EndpointID = 1

// SystemProcesses is the number of system processes a cluster-wide
// registry runs on its node (the endpoint and its workers).
const SystemProcesses = 1 + workers

// ErrConflict is the exit reason of a process that lost a name to a copy on
// another node.
var ErrConflict = errors.New("name registered on two nodes; this copy lost")

// Membership is what the registry needs of the cluster; *cluster.Cluster
// implements it.
type Membership interface {
	// Name returns this node's name.
	Name() string
	// Nodes returns the other live members.
	Nodes() []string
	// Subscribe returns a subscription to node events.
	Subscribe() *cluster.Subscription
	// Incarnation returns this start of the node's id (random, not 0).
	Incarnation() uint64
	// Members returns every member known, this node included, with its
	// status and incarnation.
	Members() []cluster.Member
}

var _ Membership = (*cluster.Cluster)(nil)

// Record is one registration as nodes exchange it.
type Record struct {
	Name    string
	Node    string
	ID      uint64
	Kind    string
	Args    []byte
	Groups  []string
	Version uint64
	// Prev is the incarnation this one replaced (zero if none): where a
	// node still holds Prev, this record replaces it without a conflict,
	// unless Restart is set and Prev's node is alive there (see apply).
	Prev process.Ref
	// Restart says this incarnation was started from the spec because
	// Prev's node went away in its node's view (not handed off by it).
	Restart bool
}

func (rec Record) ref() process.Ref { return process.Ref{Node: rec.Node, ID: rec.ID} }

func recordOf(name string, e *entry) Record {
	return Record{Name: name, Node: e.ref.Node, ID: e.ref.ID, Kind: e.spec.Kind, Args: e.spec.Args,
		Groups: slices.Clone(e.groups), Version: e.version, Prev: e.prev, Restart: e.restart}
}

// Op is one change in an update: a registration added or changed, or
// removed.
type Op struct {
	Record  Record
	Removed bool
	// MovedTo, if not zero, says the process in Record was handed off to
	// this new incarnation.
	MovedTo process.Ref
	// MovedVersion is the new incarnation's version.
	MovedVersion uint64
}

// Wire messages between registry endpoints.
type (
	msgRegister struct {
		Name, Kind string
		Args       []byte
	}
	msgUnregister struct {
		Name string
		ID   uint64
	}
	msgGroup struct {
		Group, Name string
		Join        bool
	}
	msgUpdate struct {
		From string
		Inc  uint64 // the sender's incarnation
		Ops  []Op
	}
	msgSync struct {
		From    string
		Inc     uint64 // the sender's incarnation
		Records []Record
		Reply   bool
		// At is the sender's version clock when it took the list: an
		// entry stamped later is newer than the list.
		At uint64
		// More says further chunks of the same list follow.
		More bool
	}
	// msgBarrier is answered once everything sent before it on the same
	// link has been applied.
	msgBarrier struct{}
	// msgLeaving tells the other nodes that From is draining: place
	// nothing on it any more.
	msgLeaving struct{ From string }
)

// RegisterTypes registers the registry's wire types in c. Call it on every
// node's codec.
func RegisterTypes(c *codec.Codec) error {
	for name, v := range map[string]any{
		"shoal.registry.record":     Record{},
		"shoal.registry.register":   msgRegister{},
		"shoal.registry.unregister": msgUnregister{},
		"shoal.registry.group":      msgGroup{},
		"shoal.registry.update":     msgUpdate{},
		"shoal.registry.sync":       msgSync{},
		"shoal.registry.leaving":    msgLeaving{},
		"shoal.registry.barrier":    msgBarrier{},
		"shoal.registry.handoff":    msgHandoff{},
		"shoal.registry.handed":     msgHandoffReply{},
		"shoal.registry.handoffend": msgHandoffDone{},
		"shoal.registry.resolve":    msgResolve{},
	} {
		if err := c.Register(name, v); err != nil {
			return err
		}
	}
	return registerDirTypes(c)
}

// registerTypesOnce registers the registry's types in c unless they are
// there already.
func registerTypesOnce(c *codec.Codec) error {
	if _, ok := c.Name(Record{}); ok {
		return nil
	}
	return RegisterTypes(c)
}

type clusterState struct {
	r        *Registry
	self     string
	m        Membership
	codec    *codec.Codec
	strategy placement.Strategy
	table    atomic.Pointer[tableBox]
	tableGen atomic.Uint64 // counts table refreshes
	draining atomic.Bool

	passMu sync.Mutex
	pass   passResult // the balancer's last pass

	leavingMu sync.Mutex
	leaving   map[string]bool // other nodes draining: placed on no more

	syncing map[string]*syncAcc // lists being received, by sender; endpoint only

	syncedMu sync.Mutex
	synced   map[string]bool // peers whose full list has been applied since they came up

	orphanMu sync.Mutex
	orphans  map[string]Record // of gone nodes, owned by another, not seen again

	inc   uint64 // this node's incarnation
	incMu sync.Mutex
	incs  map[string]uint64 // each peer's incarnation, as its messages last said

	parkMu sync.Mutex        // after a shard's lock when both are held
	parked map[string]Record // restarts of what this node holds on a node alive here

	balanceWake chan struct{}
	incoming    incomingHandoffs
	sub         *cluster.Subscription
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	outMu   sync.Mutex
	out     []outMsg
	sending bool // flush is sending what it took from out
	wake    chan struct{}
}

type tableBox struct {
	t   placement.Table
	err error
}

func (r *Registry) startCluster(cfg Config) error {
	cs := &clusterState{
		r:        r,
		self:     cfg.Cluster.Name(),
		m:        cfg.Cluster,
		strategy: cfg.Placement,
		codec:    cfg.Codec,
		wake:     make(chan struct{}, 1),
		leaving:  make(map[string]bool),
		orphans:  make(map[string]Record),
		inc:      cfg.Cluster.Incarnation(),
		incs:     make(map[string]uint64),
		parked:   make(map[string]Record),
		syncing:  make(map[string]*syncAcc),
		synced:   make(map[string]bool),

		balanceWake: make(chan struct{}, 1),
	}
	cs.incoming.m = make(map[string]*incoming)
	cs.pass.done = make(chan struct{})
	if cs.self != r.rt.Node() {
		return fmt.Errorf("new registry: cluster node %q is not the runtime's node %q", cs.self, r.rt.Node())
	}
	if cs.codec == nil {
		return fmt.Errorf("new registry: a cluster-wide registry needs Config.Codec (the remote's codec)")
	}
	if err := registerTypesOnce(cs.codec); err != nil {
		return fmt.Errorf("new registry: register wire types: %w", err)
	}
	if cs.strategy == nil {
		cs.strategy = placement.Rendezvous{}
	}
	cs.ctx, cs.cancel = context.WithCancel(context.Background())
	if _, err := r.rt.StartSystem(cs.ctx, EndpointID, &endpoint{cs: cs}, process.SpawnOptions{Name: "shoal.registry"}); err != nil {
		return fmt.Errorf("new registry: start endpoint: %w", err)
	}
	for i := range uint64(workers) {
		if _, err := r.rt.StartSystem(cs.ctx, firstWorkerID+i, &endpoint{cs: cs}, process.SpawnOptions{Name: fmt.Sprintf("shoal.registry.worker.%d", i)}); err != nil {
			return fmt.Errorf("new registry: start worker: %w", err)
		}
	}
	r.cl = cs
	cs.sub = cs.m.Subscribe()
	cs.refreshTable()
	cs.wg.Add(3)
	go cs.watch()
	go cs.flush()
	go cs.balance()
	for _, n := range cs.m.Nodes() {
		cs.sendSync(n, true)
	}
	return nil
}

// Close stops the registry's cluster work (the endpoint stops with the
// runtime). A single-node registry has nothing to close.
func (r *Registry) Close() error {
	if r.dir != nil {
		r.dir.close()
		return nil
	}
	if r.cl == nil {
		return nil
	}
	r.cl.cancel()
	r.cl.sub.Close()
	r.cl.wg.Wait()
	r.cl.incoming.stop()
	return nil
}

// ErrNotSynced is returned by Synced while this node lacks a peer's
// registrations, and ErrDraining once it is handing its processes off.
var (
	ErrNotSynced = errors.New("registry not yet synced")
	ErrDraining  = errors.New("registry draining: this node is leaving")
)

// Synced reports whether this node's replica is complete: it has applied
// the full list of every other live member since that member came up, and
// it is not draining. A readiness probe uses it. A single-node registry is
// always synced. The error wraps ErrNotSynced (naming the peers waited
// for) or ErrDraining.
func (r *Registry) Synced() error {
	if r.dir != nil {
		return r.dir.synced()
	}
	cs := r.cl
	if cs == nil {
		return nil
	}
	if cs.draining.Load() {
		return ErrDraining
	}
	var waiting []string
	cs.syncedMu.Lock()
	for _, n := range cs.m.Nodes() {
		if !cs.synced[n] {
			waiting = append(waiting, n)
		}
	}
	cs.syncedMu.Unlock()
	if len(waiting) > 0 {
		return fmt.Errorf("%w: waiting for the registrations of %s", ErrNotSynced, strings.Join(waiting, ", "))
	}
	return nil
}

// refreshTable recomputes placement over the live members, leaving out
// those draining (this node included), and wakes the balancer.
func (cs *clusterState) refreshTable() {
	cs.leavingMu.Lock()
	var members []string
	for _, n := range cs.m.Nodes() {
		if !cs.leaving[n] {
			members = append(members, n)
		}
	}
	cs.leavingMu.Unlock()
	if !cs.draining.Load() {
		members = append(members, cs.self)
	}
	t, err := cs.strategy.Table(members)
	cs.table.Store(&tableBox{t: t, err: err})
	cs.tableGen.Add(1)
	// A process that chose to stay did so under the old placement.
	for i := range cs.r.shards {
		sh := &cs.r.shards[i]
		sh.mu.Lock()
		for _, e := range sh.entries {
			e.stays = false
		}
		sh.mu.Unlock()
	}
	cs.wakeBalancer()
}

// setLeaving records whether node is draining.
func (cs *clusterState) setLeaving(node string, leaving bool) {
	cs.leavingMu.Lock()
	if leaving {
		cs.leaving[node] = true
	} else {
		delete(cs.leaving, node)
	}
	cs.leavingMu.Unlock()
}

// owner returns the node that should run name.
func (cs *clusterState) owner(name string) (string, error) {
	tb := cs.table.Load()
	if tb.err != nil {
		return "", fmt.Errorf("place %q: %w", name, tb.err)
	}
	return tb.t.Owner(name), nil
}

func endpointRef(node string) process.Ref { return process.Ref{Node: node, ID: EndpointID} }

// Requests about one name (register, unregister, groups) go to one of
// several workers on the node, picked by the name's hash, so that a node
// serves many at once and those about one name in order.
const (
	firstWorkerID = EndpointID + 1
	workers       = 8
)

// workerRef returns the worker on node that serves requests about name.
// The pick must be the same on every node: codec.Tag is a fixed hash.
func workerRef(node, name string) process.Ref {
	return process.Ref{Node: node, ID: firstWorkerID + uint64(codec.Tag(name)%workers)}
}

// watch follows membership: new nodes get our list; the registrations of
// nodes that went away are dropped and restarted by their new owners.
func (cs *clusterState) watch() {
	defer cs.wg.Done()
	tick := time.NewTicker(resyncEvery)
	defer tick.Stop()
	unsynced := map[string]int{} // ticks each peer has been seen unsynced
	events := cs.sub.Events()
	for {
		var ev cluster.Event
		select {
		case <-tick.C:
			cs.resync(unsynced)
			continue
		case e, ok := <-events:
			if !ok {
				return
			}
			ev = e
		}
		switch ev.Type {
		case cluster.EventUp:
			cs.setLeaving(ev.Member.Name, false) // a new incarnation
			cs.refreshTable()
			cs.sendSync(ev.Member.Name, true)
			if cs.draining.Load() {
				cs.r.rt.Cast(endpointRef(ev.Member.Name), msgLeaving{From: cs.self})
			}
		case cluster.EventDown, cluster.EventLeft:
			cs.syncedMu.Lock()
			delete(cs.synced, ev.Member.Name)
			cs.syncedMu.Unlock()
			cs.incMu.Lock()
			delete(cs.incs, ev.Member.Name) // its next incarnation is news, not a restart to handle again
			cs.incMu.Unlock()
			cs.setLeaving(ev.Member.Name, false)
			cs.refreshTable()
			cs.incoming.nodeGone(cs, ev.Member.Name)
			cs.nodeGone(ev.Member.Name)
		}
	}
}

// resyncEvery is how often a node checks for live peers whose full list
// it has not received (a link was down when they came up, or the list is
// still on its way).
var resyncEvery = 2 * time.Second // a variable for tests

// resync sends this node's list, asking for theirs in reply, to the live
// peers it has had no full list from for two checks or more, backing off:
// after 2, 4, 8, ... checks, so that a large list still on its way is not
// asked for again and again. unsynced counts the checks, by peer.
func (cs *clusterState) resync(unsynced map[string]int) {
	live := map[string]bool{}
	for _, n := range cs.m.Nodes() {
		live[n] = true
		cs.syncedMu.Lock()
		ok := cs.synced[n]
		cs.syncedMu.Unlock()
		if ok {
			delete(unsynced, n)
			continue
		}
		unsynced[n]++
		if c := unsynced[n]; c >= 2 && c&(c-1) == 0 {
			cs.r.log.Info("asking a peer for its registrations again", "peer", n, "checks", c)
			cs.sendSync(n, true)
		}
	}
	for n := range unsynced {
		if !live[n] {
			delete(unsynced, n)
		}
	}
}

// nodeGone drops node's registrations and restarts those this node now
// owns. The others are kept as orphans until their restart is seen: if
// their new owner goes away too before restarting them, the next owner
// does.
func (cs *clusterState) nodeGone(node string) {
	cs.dropNode(node)
	cs.restartOrphans(node, "")
}

// heard notes the incarnation a peer's message came from. A new one under
// a name whose old one this node still holds registrations of is a node
// that restarted in place, perhaps before membership said so: what the
// old one ran is gone, and its names are restarted now (by their owners
// among the other nodes; the balancer moves them to the new one later),
// before the new one's empty list could drop them.
func (cs *clusterState) heard(node string, inc uint64) {
	if inc == 0 {
		return // a node of an older version
	}
	cs.incMu.Lock()
	prev := cs.incs[node]
	cs.incs[node] = inc
	cs.incMu.Unlock()
	if prev == 0 || prev == inc {
		return
	}
	cs.r.log.Info("node restarted in place; restarting what its old incarnation ran", "peer", node)
	cs.dropNode(node)
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		cs.restartOrphans(node, node)
	}()
}

// dropNode drops the registrations of node's processes, keeping them as
// orphans to restart.
func (cs *clusterState) dropNode(node string) {
	r := cs.r
	cs.orphanMu.Lock()
	defer cs.orphanMu.Unlock()
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for name, e := range sh.entries {
			if e.started() && e.proc == nil && e.ref.Node == node {
				cs.orphans[name] = recordOf(name, e)
				r.deleteLocked(sh, name, e)
			}
		}
		sh.mu.Unlock()
	}
	// Parked restarts of what the gone node ran take over; those of the
	// gone node itself are dropped.
	var promoted []string
	cs.parkMu.Lock()
	for name, rec := range cs.parked {
		switch {
		case rec.Node == node:
			delete(cs.parked, name)
		case rec.Prev.Node == node:
			promoted = append(promoted, name)
			delete(cs.orphans, name)
		}
	}
	cs.parkMu.Unlock()
	cs.promote(promoted...)
}

// restartOrphans restarts the orphans this node owns, placing them as if
// without exclude (a node restarted in place: it holds none of them; the
// balancer moves its share back once they run). node names whose
// processes they were, for the log.
func (cs *clusterState) restartOrphans(node, exclude string) {
	r := cs.r
	owner := cs.owner
	if exclude != "" {
		var members []string
		for _, n := range cs.m.Nodes() {
			if n != exclude {
				members = append(members, n)
			}
		}
		if !cs.draining.Load() {
			members = append(members, cs.self)
		}
		t, err := cs.strategy.Table(members)
		owner = func(name string) (string, error) {
			if err != nil {
				return "", err
			}
			return t.Owner(name), nil
		}
	}
	cs.orphanMu.Lock()
	var mine []Record
	for name, rec := range cs.orphans {
		sh := r.shard(name)
		sh.mu.RLock()
		_, registered := sh.entries[name]
		sh.mu.RUnlock()
		if registered {
			delete(cs.orphans, name) // restarted (or re-registered) already
			continue
		}
		if o, err := owner(name); err == nil && o == cs.self {
			mine = append(mine, rec)
			delete(cs.orphans, name)
		}
	}
	cs.orphanMu.Unlock()
	if len(mine) == 0 {
		return
	}
	r.log.Info("restarting processes of nodes that went away", "peer", node, "processes", len(mine))
	next := make(chan Record)
	var wg sync.WaitGroup
	for range min(16, len(mine)) {
		wg.Go(func() {
			for rec := range next {
				ctx, cancel := context.WithTimeout(cs.ctx, 30*time.Second)
				_, _, err := r.registerLocal(ctx, rec.Name, process.Spec{Kind: rec.Kind, Args: rec.Args}, rec.Groups, rec.ref())
				cancel()
				if err != nil && cs.ctx.Err() == nil {
					r.log.Error("could not restart process", "name", rec.Name, "err", err)
				}
			}
		})
	}
	for _, rec := range mine {
		next <- rec
	}
	close(next)
	wg.Wait()
}

// announce queues a change of a local registration for every other node.
func (cs *clusterState) announce(rec Record, removed bool) {
	cs.announceOp(Op{Record: rec, Removed: removed})
}

// outMsg is what this node sends about its own processes, in order: a
// change for every node, or a full list for one.
type outMsg struct {
	op   Op
	sync *msgSync
	to   string // for a sync
}

// announceOp queues one change for every other node.
func (cs *clusterState) announceOp(op Op) {
	cs.outMu.Lock()
	cs.out = append(cs.out, outMsg{op: op})
	cs.outMu.Unlock()
	select {
	case cs.wake <- struct{}{}:
	default:
	}
}

// flush sends queued changes to every node, in order, in batches.
func (cs *clusterState) flush() {
	defer cs.wg.Done()
	for {
		select {
		case <-cs.wake:
		case <-cs.ctx.Done():
			return
		}
		for {
			cs.outMu.Lock()
			ops := cs.out
			cs.out = nil
			cs.sending = len(ops) > 0
			cs.outMu.Unlock()
			if len(ops) == 0 {
				break
			}
			cs.send(ops)
			cs.outMu.Lock()
			cs.sending = false
			cs.outMu.Unlock()
		}
	}
}

// send sends queued messages in order: runs of changes in batches to every
// node, full lists to theirs.
func (cs *clusterState) send(msgs []outMsg) {
	var batch []Op
	sendBatch := func() {
		if len(batch) == 0 {
			return
		}
		for _, n := range cs.m.Nodes() {
			if err := cs.r.rt.Cast(endpointRef(n), msgUpdate{From: cs.self, Inc: cs.inc, Ops: batch}); err != nil {
				cs.r.log.Debug("could not send registry update", "peer", n, "err", err)
			}
		}
		batch = nil
	}
	for _, m := range msgs {
		if m.sync == nil {
			batch = append(batch, m.op)
			if len(batch) == 4096 {
				sendBatch()
			}
			continue
		}
		sendBatch()
		if err := cs.r.rt.Cast(endpointRef(m.to), *m.sync); err != nil {
			cs.r.log.Debug("could not send registry sync", "peer", m.to, "err", err)
		}
	}
	sendBatch()
}

// localRecords lists the registrations of processes this node runs.
func (cs *clusterState) localRecords() []Record {
	r := cs.r
	var out []Record
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for name, e := range sh.entries {
			if e.proc != nil { // handed-off ones not yet announced too
				out = append(out, recordOf(name, e))
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// sendSync queues this node's full list for node. The list is taken with
// the queue locked, so that every change it misses is queued after it: the
// receiver sees this node's changes and lists in the order they happened.
func (cs *clusterState) sendSync(node string, wantReply bool) {
	cs.outMu.Lock()
	at := cs.r.nextVersion()
	recs := cs.localRecords()
	for start := 0; ; start += syncChunk { // chunks keep frames well under the transport's limit
		end := min(len(recs), start+syncChunk)
		last := end == len(recs)
		m := &msgSync{From: cs.self, Inc: cs.inc, Records: recs[start:end], Reply: wantReply && last, At: at, More: !last}
		cs.out = append(cs.out, outMsg{sync: m, to: node})
		if last {
			break
		}
	}
	cs.outMu.Unlock()
	select {
	case cs.wake <- struct{}{}:
	default:
	}
}

// syncChunk bounds the records in one sync message.
var syncChunk = 16384 // a variable for tests

// syncAcc is a list being received in chunks.
type syncAcc struct {
	at   uint64
	keep map[string]process.Ref
}

// winner decides between two nodes running a process for one name, the
// same way on every node whatever its membership view.
func winner(a, b string) string {
	if a < b {
		return a
	}
	return b
}

// apply merges a registration another node reports for a process it runs.
func (cs *clusterState) apply(rec Record) {
	if rec.Node == cs.self || rec.Name == "" {
		return
	}
	r := cs.r
	sh := r.shard(rec.Name)
	sh.mu.Lock()
	e, ok := sh.entries[rec.Name]
	switch {
	case !ok:
		e = &entry{ref: rec.ref(), spec: process.Spec{Kind: rec.Kind, Args: rec.Args}, version: rec.Version, prev: rec.Prev}
		sh.entries[rec.Name] = e
		r.setGroupsLocked(rec.Name, e, rec.Groups)
		sh.mu.Unlock()
		return
	case !e.started():
		// We are creating it right now; once we announce ours, the two
		// nodes resolve the conflict.
		sh.mu.Unlock()
		return
	case e.ref == rec.ref():
		if rec.Version >= e.version {
			e.version = rec.Version
			r.setGroupsLocked(rec.Name, e, rec.Groups)
		}
		sh.mu.Unlock()
		return
	case e.proc == nil && !rec.Prev.IsZero() && e.ref == rec.Prev && rec.Restart && e.ref.Node != rec.Node && cs.live(e.ref.Node):
		// A restart of what we hold, on a node that saw its node go while
		// we still see it: a netsplit, or a death we have not noticed
		// yet. Keep what we hold and park the news: it takes over if
		// that node goes or drops it here (see promote), and is dropped
		// if its own node drops it.
		cs.parkMu.Lock()
		cs.parked[rec.Name] = rec
		cs.parkMu.Unlock()
		sh.mu.Unlock()
		return
	case e.proc == nil && !rec.Prev.IsZero() && e.ref == rec.Prev:
		// The successor (handed off, or restarted) of what we hold.
		e.ref, e.spec, e.version, e.prev, e.restart = rec.ref(), process.Spec{Kind: rec.Kind, Args: rec.Args}, rec.Version, rec.Prev, rec.Restart
		r.setGroupsLocked(rec.Name, e, rec.Groups)
		sh.mu.Unlock()
		cs.unpark(rec.Name, rec.ref())
		return
	case e.prev == rec.ref():
		// Late news of the incarnation what we hold replaced.
		sh.mu.Unlock()
		return
	}
	// Two processes for one name.
	r.log.Debug("registry: two processes for one name", "name", rec.Name, "held", e.ref, "heldPrev", e.prev, "local", e.proc != nil, "news", rec.ref(), "newsPrev", rec.Prev)
	if winner(e.ref.Node, rec.Node) == e.ref.Node {
		local := e.proc != nil
		sh.mu.Unlock()
		if local { // make sure the other node learns it lost
			_ = cs.r.rt.Cast(endpointRef(rec.Node), msgUpdate{From: cs.self, Inc: cs.inc, Ops: []Op{{Record: recordOfLocked(rec.Name, sh)}}})
		}
		return
	}
	loser := e.proc
	lost := recordOf(rec.Name, e)
	r.deleteLocked(sh, rec.Name, e)
	ne := &entry{ref: rec.ref(), spec: process.Spec{Kind: rec.Kind, Args: rec.Args}, version: rec.Version, prev: rec.Prev}
	sh.entries[rec.Name] = ne
	r.setGroupsLocked(rec.Name, ne, rec.Groups)
	sh.mu.Unlock()
	if loser != nil {
		r.log.Warn("name registered on two nodes; this copy lost", "name", rec.Name, "winner", rec.Node)
		cs.announce(lost, true)
		cs.loseConflict(rec.Name, loser, rec.ref())
	}
}

// moved applies another node's report that one of its processes was
// handed off to a new incarnation.
func (cs *clusterState) moved(rec Record, to process.Ref, version uint64) {
	r := cs.r
	sh := r.shard(rec.Name)
	sh.mu.Lock()
	if e, ok := sh.entries[rec.Name]; ok && e.started() && e.proc == nil && e.ref == rec.ref() {
		e.ref, e.version, e.prev, e.restart = to, version, rec.ref(), false
	}
	sh.mu.Unlock()
	cs.unpark(rec.Name, rec.ref()) // a parked restart that moved is gone
}

// live reports whether node is this node or a live member it sees.
func (cs *clusterState) live(node string) bool {
	return node == cs.self || slices.Contains(cs.m.Nodes(), node)
}

// unpark drops the parked record of name if it is ref (its node dropped
// or moved it, or it took over).
func (cs *clusterState) unpark(name string, ref process.Ref) {
	cs.parkMu.Lock()
	if p, ok := cs.parked[name]; ok && p.ref() == ref {
		delete(cs.parked, name)
	}
	cs.parkMu.Unlock()
}

// promote applies the parked restarts of names this node no longer holds
// (their holder was dropped: its node went away or removed it).
func (cs *clusterState) promote(names ...string) {
	var recs []Record
	cs.parkMu.Lock()
	for _, name := range names {
		if rec, ok := cs.parked[name]; ok {
			recs = append(recs, rec)
			delete(cs.parked, name)
		}
	}
	cs.parkMu.Unlock()
	for _, rec := range recs {
		cs.apply(rec)
	}
}

// recordOfLocked returns the current record of name; sh must be the name's
// shard. It locks sh for reading.
func recordOfLocked(name string, sh *shard) Record {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if e, ok := sh.entries[name]; ok {
		return recordOf(name, e)
	}
	return Record{}
}

// remove drops a registration another node reports gone.
func (cs *clusterState) remove(rec Record) {
	r := cs.r
	sh := r.shard(rec.Name)
	sh.mu.Lock()
	held := false
	if e, ok := sh.entries[rec.Name]; ok && e.started() && e.proc == nil && e.ref == rec.ref() {
		r.deleteLocked(sh, rec.Name, e)
		held = true
	}
	sh.mu.Unlock()
	cs.unpark(rec.Name, rec.ref())
	if held {
		cs.promote(rec.Name)
	}
}

// syncFrom replaces everything held for node with its full list.
//
// A list comes in chunks (more is true on all but the last); entries are
// dropped only once the last has arrived. Only the endpoint calls it.
func (cs *clusterState) syncFrom(node string, recs []Record, at uint64, more bool) {
	acc := cs.syncing[node]
	if acc == nil || acc.at != at {
		acc = &syncAcc{at: at, keep: make(map[string]process.Ref, len(recs))}
		cs.syncing[node] = acc
	}
	for _, rec := range recs {
		if rec.Node == node {
			acc.keep[rec.Name] = rec.ref()
			cs.apply(rec)
		}
	}
	if more {
		return
	}
	delete(cs.syncing, node)
	cs.parkMu.Lock()
	for name, rec := range cs.parked {
		if rec.Node == node && acc.keep[name] != rec.ref() {
			delete(cs.parked, name)
		}
	}
	cs.parkMu.Unlock()
	defer func() {
		cs.syncedMu.Lock()
		cs.synced[node] = true
		cs.syncedMu.Unlock()
	}()
	keep := acc.keep
	r := cs.r
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for name, e := range sh.entries {
			if e.started() && e.proc == nil && e.ref.Node == node && keep[name] != e.ref && e.version < at {
				r.deleteLocked(sh, name, e)
			}
		}
		sh.mu.Unlock()
	}
}

// registerCluster registers on the name's owner.
func (r *Registry) registerCluster(ctx context.Context, name string, spec process.Spec) (process.Ref, error) {
	cs := r.cl
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if t, err := r.resolve(ctx, name); err == nil {
			return t.ref, nil
		}
		owner, err := cs.owner(name)
		if err != nil {
			return process.Ref{}, fmt.Errorf("register %q: %w", name, err)
		}
		if owner == cs.self {
			ref, _, err := r.registerLocal(ctx, name, spec, nil, process.Ref{})
			return ref, err
		}
		v, err := r.rt.Call(ctx, workerRef(owner, name), msgRegister{Name: name, Kind: spec.Kind, Args: spec.Args})
		if err == nil {
			rec, ok := v.(Record)
			if !ok {
				return process.Ref{}, fmt.Errorf("register %q: owner %s answered %T", name, owner, v)
			}
			cs.apply(rec)
			return rec.ref(), nil
		}
		if ctx.Err() != nil {
			return process.Ref{}, fmt.Errorf("register %q on %s: %w", name, owner, err)
		}
		// The owner may have just gone; the membership view will change.
		lastErr = err
		select {
		case <-time.After(time.Duration(50*(attempt+1)) * time.Millisecond):
		case <-ctx.Done():
			return process.Ref{}, fmt.Errorf("register %q: %w", name, ctx.Err())
		}
	}
	return process.Ref{}, fmt.Errorf("register %q: %w", name, lastErr)
}

func (r *Registry) unregisterRemote(ctx context.Context, name string, ref process.Ref) error {
	if _, err := r.rt.Call(ctx, workerRef(ref.Node, name), msgUnregister{Name: name, ID: ref.ID}); err != nil {
		return fmt.Errorf("unregister %q on %s: %w", name, ref.Node, err)
	}
	r.cl.remove(Record{Name: name, Node: ref.Node, ID: ref.ID})
	return nil
}

func (r *Registry) groupRemote(ctx context.Context, group, name string, ref process.Ref, join bool) error {
	if _, err := r.rt.Call(ctx, workerRef(ref.Node, name), msgGroup{Group: group, Name: name, Join: join}); err != nil {
		return fmt.Errorf("group %q of %q on %s: %w", group, name, ref.Node, err)
	}
	sh := r.shard(name)
	sh.mu.Lock()
	if e, ok := sh.entries[name]; ok && e.ref == ref {
		groups := slices.Clone(e.groups)
		i := slices.Index(groups, group)
		if join && i < 0 {
			groups = append(groups, group)
		} else if !join && i >= 0 {
			groups = slices.Delete(groups, i, i+1)
		}
		r.setGroupsLocked(name, e, groups)
	}
	sh.mu.Unlock()
	return nil
}

// awaitMove waits briefly for name to point elsewhere than old (a process
// that moved or was restarted) and returns its new home.
func (cs *clusterState) awaitMove(ctx context.Context, name string, old process.Ref) (target, bool) {
	deadline := time.Now().Add(2 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	for time.Now().Before(deadline) {
		if t, err := cs.r.resolve(ctx, name); err == nil && t.ref != old {
			return t, true
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return target{}, false
		}
	}
	return target{}, false
}

// endpoint is the behavior of the registry's system processes on every
// node: the endpoint (replication, handoff) and the workers (requests about
// names). Each handles its messages one at a time: a process whose Init
// registers a name served by the same worker of the node that forwarded
// its own registration waits until its context ends (a known limit, to
// lift by answering asynchronously).
type endpoint struct{ cs *clusterState }

func (ep *endpoint) HandleCall(ctx context.Context, _ process.Self, msg any) (any, error) {
	r := ep.cs.r
	switch m := msg.(type) {
	case msgRegister:
		if ep.cs.draining.Load() { // place it where it will stay
			ref, err := r.registerCluster(ctx, m.Name, process.Spec{Kind: m.Kind, Args: m.Args})
			if err != nil {
				return nil, err
			}
			rec := recordOfLocked(m.Name, r.shard(m.Name))
			if rec.Name == "" || rec.ref() != ref {
				return nil, fmt.Errorf("register %q: placed on %s, not yet known here", m.Name, ref.Node)
			}
			return rec, nil
		}
		_, _, err := r.registerLocal(ctx, m.Name, process.Spec{Kind: m.Kind, Args: m.Args}, nil, process.Ref{})
		if err != nil {
			return nil, err
		}
		sh := r.shard(m.Name)
		return recordOfLocked(m.Name, sh), nil
	case msgHandoff:
		return ep.cs.acceptHandoff(ctx, m), nil
	case msgBarrier:
		return true, nil
	case msgResolve:
		ep.cs.resolveHere(m)
		return true, nil
	case msgUnregister:
		t, err := r.resolve(ctx, m.Name)
		if err != nil || t.proc == nil || t.ref.ID != m.ID {
			return true, nil // already gone (or moved): nothing to stop here
		}
		if err := t.proc.Stop(ctx, nil); err != nil {
			return nil, err
		}
		return true, nil
	case msgGroup:
		if err := r.changeGroup(ctx, m.Group, m.Name, m.Join); err != nil {
			return nil, err
		}
		return true, nil
	}
	return nil, fmt.Errorf("registry endpoint: unknown message %T", msg)
}

func (ep *endpoint) HandleCast(_ context.Context, _ process.Self, msg any) {
	cs := ep.cs
	switch m := msg.(type) {
	case msgUpdate:
		cs.heard(m.From, m.Inc)
		for _, op := range m.Ops {
			if op.Record.Node != m.From {
				continue // a node speaks only for its own processes
			}
			switch {
			case !op.MovedTo.IsZero():
				cs.moved(op.Record, op.MovedTo, op.MovedVersion)
			case op.Removed:
				cs.remove(op.Record)
			default:
				cs.apply(op.Record)
			}
		}
	case msgSync:
		cs.heard(m.From, m.Inc)
		cs.syncFrom(m.From, m.Records, m.At, m.More)
		if m.Reply && !m.More {
			cs.sendSync(m.From, false)
		}
	case msgLeaving:
		cs.setLeaving(m.From, true)
		cs.refreshTable()
	case msgHandoffDone:
		cs.incoming.finish(cs, m.From, m.Names)
	case msgResolve:
		cs.resolveHere(m)
	}
}

func (ep *endpoint) HandleInfo(context.Context, process.Self, any) {}

// versionClock stamps registrations: nanoseconds, strictly increasing.
type versionClock struct{ last atomic.Uint64 }

func (v *versionClock) next() uint64 {
	for {
		last := v.last.Load()
		now := uint64(time.Now().UnixNano())
		if now <= last {
			now = last + 1
		}
		if v.last.CompareAndSwap(last, now) {
			return now
		}
	}
}
