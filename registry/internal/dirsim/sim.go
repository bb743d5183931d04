// Package dirsim drives the directory state machine (package directory)
// through seeded, replayable schedules of faults — dropped, delayed,
// reordered and duplicated messages, partitions and heals, crashes and
// restarts at the same name, joins and drains, lagging membership views —
// and checks it against a naive model once the faults stop.
//
// A schedule is a pure function of its seed: the simulator owns every
// source of time and randomness, and iterates maps in order. A failing
// seed is a one-line repro:
//
//	go test ./registry/internal/dirsim -run TestSimulation -sim.seed=N -v
//
// Checked at every step, faults or not: a conflict's loser is retired
// only once its state was merged into a winner (or it chose to keep it,
// answering stay); a primary that calls a partition
// complete (a listing counts on it) lists every registration that the
// members which followed it from its start hold or run (checkListings).
// Checked once the faults stop and the cluster is quiet: one running
// process per registered name, the record's; every node agreeing where
// each name is; one serving primary per partition, whose replicas hold
// exactly what it holds; no acknowledged registration lost while a node
// holding it survived; an ended registration never back; no process
// holding any state twice, however it came to (Strict, as the tests run
// it; a loser asks again until acknowledged, so a re-merge into a process
// restarted after the first winner crashed is allowed); nothing left gathering or
// unhanded, no move waiting for its old node. Not modelled yet: the
// order of one sender's messages to a name across moves, and timers.
//
// In half the schedules (Options.Checkpoints) clients also write to
// names' processes, which checkpoint after every change (see ckpt.go):
// at quiescence the name's process holds every acknowledged write while
// some copy of it survived, and a state restored from a checkpoint (a
// restart, or a gone process's orphan checkpoint merged) may be held
// twice only as the shared history of two sides of a split.
//
// Beside the random schedules, scripted scenarios (scenario_test.go)
// replay the faults that broke the first registry, one each: a node
// restarted in place, updates lost on cut links, processes that stayed
// off their primary across a split, a heal with every name on both
// sides, records bounded by bytes, a lost snapshot chunk.
//
// `make unit` runs seeds 1-300 under the race detector, `make test`
// 1-5000 without, `make sim` 100,000.
package dirsim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/shoalhq/shoal/registry/internal/directory"
)

// Options shape a schedule.
type Options struct {
	Nodes      int  // nodes at the start
	MaxNodes   int  // nodes joining may bring it to this many
	Names      int  // the pool of names clients use
	Partitions int  // partitions
	Replicas   int  // k
	Steps      int  // steps of faults and requests
	Settle     int  // longest the quiet phase may take, in steps
	Faults     bool // drops, duplicates, partitions, crashes, drains
	Trace      bool // keep a trace of events for the failure report
	// Strict fails any process that holds one state twice, however it
	// came to (by default only a loser merged twice is checked; see
	// Resolve in effect).
	Strict bool
	// Checkpoints makes clients write to the names' processes, and each
	// process checkpoint its state after every change (sync mode).
	Checkpoints bool
	// AloneStarts lets a node that boots after the start see only
	// itself for a while (as one that finds its peers by DNS, before the
	// records list them, or before memberlist has joined): it takes
	// every partition, then hears of the others.
	AloneStarts bool
	Seed        uint64 // the schedule
}

// DefaultOptions returns the options of the standard schedules for seed.
func DefaultOptions(seed uint64) Options {
	r := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	return Options{
		Nodes: 3 + r.IntN(3), MaxNodes: 6, Names: 12 + r.IntN(20), Partitions: 8 + r.IntN(9),
		Replicas: r.IntN(3), Steps: 150 + r.IntN(250), Settle: 3000, Faults: true, Trace: true, Seed: seed,
		Checkpoints: r.IntN(2) == 0, AloneStarts: r.IntN(2) == 0,
	}
}

// requestTicks is the nodes' RequestTicks.
const requestTicks = 200

// flight is a message on the network.
type flight struct {
	at       uint64
	seq      uint64
	from, to directory.NodeID
	msg      any
}

// host is one node: the state machine and the processes it runs.
type host struct {
	id     directory.NodeID
	dn     *directory.Node
	nextID uint64
	procs  map[uint64]*proc
	group  int // partition side
	// view refresh: the view it will take at viewAt
	viewAt  uint64
	drained bool   // drained and stopped: gone for good
	drainAt uint64 // when it began draining; 0 if not
	viewed  bool   // its state machine has had a view
	// aloneUntil: until then its view lists only itself (AloneStarts)
	aloneUntil uint64
	// leader is the primary it sees of each partition, and since when
	leader      []directory.NodeID
	leaderSince []uint64
	reqs        map[uint64]clientOp
	// undecodable: the node cannot decode the states conflict losers
	// send (as a node of another build might not), until it can again.
	undecodable bool
}

// proc is a process the host runs.
type proc struct {
	inst   directory.Inst
	name   string
	reg    directory.RegID
	paused bool
	state  []byte
	// Checkpoints (Options.Checkpoints): the last one's seq, the request
	// in flight (0: none), whether the state changed since the last one
	// sent, and the losers merged since the last one acknowledged.
	seq      uint64
	inflight uint64
	dirty    bool
	merged   []directory.Inst
}

// clientOp is a request a client made and waits for.
type clientOp struct {
	op      directory.ReqOp
	name    string
	crashes map[string]int // every node's crash count when it was made
	at      uint64         // step it was made
	ck      *ckOp          // ReqCheckpoint
}

// ckOp is a checkpoint a process asked its primary to keep.
type ckOp struct {
	inst   directory.Inst
	state  []byte
	merged []directory.Inst
}

// callback is a host's delayed report to its state machine.
type callback struct {
	at   uint64
	seq  uint64
	node directory.NodeID
	f    func(*host)
}

// Sim is one schedule.
type Sim struct {
	opt      Options
	rng      *rand.Rand
	now      uint64
	seq      uint64
	hosts    map[string]*host
	order    []string // host names, sorted (hosts are never removed)
	net      flights
	calls    callbacks
	model    *model
	trace    []string
	reqSeq   uint64
	writeSeq uint64
	nodeSeq  int
	faults   bool
	merged   map[directory.Inst]int  // conflict losers merged, by loser
	kept     map[directory.Inst]bool // processes that answered a pause with stay
	late     map[string]bool         // states merged late (Resolve.Late), by part
	// restored are the parts of states restarted from a checkpoint: the
	// other side of a split, restarting from its copy of the record,
	// may hold them too, and the heal merges the two (a process's
	// conflict hook sees the history they share twice).
	restored  map[string]bool
	pool      []string // the names clients use
	splitAt   uint64   // the last step some node saw not every other
	lastCrash uint64   // the last step a node crashed
	failure   []string
	// Set by scripted scenarios (scenario_test.go), nil in random ones.
	cut     func(from, to *host, msg any) bool // drops a message the views say may pass
	stays   func(name string) bool             // the process answers a pause with stay
	replies map[uint64]directory.Reply         // answers, by request
}

// New returns a schedule ready to Run.
func New(opt Options) *Sim {
	s := &Sim{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, 0xd1ec7041)), hosts: map[string]*host{},
		model: newModel(), merged: map[directory.Inst]int{}, kept: map[directory.Inst]bool{}, late: map[string]bool{}, restored: map[string]bool{}, faults: opt.Faults}
	for range opt.Nodes {
		s.addNode()
	}
	s.refreshViews(true)
	return s
}

func (s *Sim) logf(format string, args ...any) {
	if s.opt.Trace {
		s.trace = append(s.trace, fmt.Sprintf("%5d ", s.now)+fmt.Sprintf(format, args...))
	}
}

func (s *Sim) fail(format string, args ...any) {
	s.failure = append(s.failure, fmt.Sprintf(format, args...))
}

// names returns the host names in order (every map walk is ordered).
func (s *Sim) names() []string { return s.order }

func (s *Sim) live() []*host {
	var out []*host
	for _, n := range s.names() {
		if h := s.hosts[n]; h.dn != nil {
			out = append(out, h)
		}
	}
	return out
}

func (s *Sim) addNode() *host {
	name := fmt.Sprintf("n%d", s.nodeSeq)
	s.nodeSeq++
	h := &host{}
	s.hosts[name] = h
	s.order = append(s.order, name)
	slices.Sort(s.order)
	s.boot(name, h)
	return h
}

// boot starts a new incarnation of a node.
func (s *Sim) boot(name string, h *host) {
	h.id = directory.NodeID{Name: name, Inc: s.rng.Uint64() | 1}
	cfg := directory.DefaultConfig(h.id)
	cfg.Partitions, cfg.Replicas = s.opt.Partitions, s.opt.Replicas
	cfg.MaxMsgBytes = 4096 // small: snapshots and gives go in several chunks
	cfg.GatherTicks, cfg.DigestTicks, cfg.ReportTicks, cfg.ResendTicks = 40, 15, 10, 12
	cfg.RequestTicks, cfg.SweepTicks, cfg.TombstoneTicks = requestTicks, 25, 1<<40
	if s.opt.Trace {
		cfg.Logf = func(format string, args ...any) { s.logf(format, args...) }
	}
	h.undecodable = false
	cfg.Decodable = func(string, []byte) bool { return !h.undecodable }
	dn, err := directory.New(cfg)
	if err != nil {
		panic(err)
	}
	h.dn, h.procs, h.reqs, h.drained, h.drainAt, h.viewed = dn, map[uint64]*proc{}, map[uint64]clientOp{}, false, 0, false
	h.nextID = uint64(s.rng.IntN(1000)+1) * 1000
	h.viewAt, h.aloneUntil = s.now, 0
	if s.opt.AloneStarts && s.now > 0 && s.rng.IntN(2) == 0 {
		h.aloneUntil = s.now + 1 + uint64(s.rng.IntN(20))
	}
	s.logf("boot %v (alone until %d)", h.id, h.aloneUntil)
}

// reachable reports whether a and b can talk.
func (s *Sim) reachable(a, b *host) bool {
	return a.dn != nil && b.dn != nil && a.group == b.group
}

// refreshViews gives every host whose refresh is due the members it can
// reach (all of them at once if now).
func (s *Sim) refreshViews(now bool) {
	for _, h := range s.live() {
		if !now && h.viewAt > s.now {
			continue
		}
		var view []directory.NodeID
		for _, o := range s.live() {
			if s.reachable(h, o) && (o == h || s.now >= h.aloneUntil) {
				view = append(view, o.id)
			}
		}
		h.viewAt = ^uint64(0)
		if s.now < h.aloneUntil {
			h.viewAt = h.aloneUntil // then it sees the others
		}
		if !h.viewed || !slices.Equal(view, h.dn.Members()) {
			h.viewed = true
			s.logf("view %v: %v", h.id, view)
			h.dn.SetView(view)
			s.drain(h)
		}
	}
}

// membershipChanged schedules every node's view refresh after a lag.
func (s *Sim) membershipChanged() {
	for _, h := range s.live() {
		lag := uint64(0)
		if s.faults {
			lag = uint64(s.rng.IntN(12))
		}
		h.viewAt = min(h.viewAt, s.now+lag)
	}
}

// drain dispatches what a host's state machine asked for.
func (s *Sim) drain(h *host) {
	if h.dn == nil {
		return
	}
	rd := h.dn.Ready()
	for _, env := range rd.Msgs {
		s.sendMsg(h, env)
	}
	for _, e := range rd.Effects {
		s.effect(h, e)
	}
}

func (s *Sim) sendMsg(h *host, env directory.Envelope) {
	to := s.hosts[env.To.Name]
	if to == nil {
		return
	}
	copies := 1
	if s.faults {
		switch r := s.rng.Float64(); {
		case r < 0.02:
			s.logf("drop %v->%v %T", h.id, env.To, env.Msg)
			return
		case r < 0.03:
			copies = 2
		}
	}
	for range copies {
		delay := uint64(1)
		if s.faults {
			delay += uint64(s.rng.IntN(4))
		}
		s.seq++
		heap.Push(&s.net, flight{at: s.now + delay, seq: s.seq, from: h.id, to: env.To, msg: env.Msg})
	}
}

func (s *Sim) later(h *host, f func(*host)) {
	delay := uint64(0)
	if s.faults {
		delay = uint64(s.rng.IntN(3))
	}
	s.seq++
	heap.Push(&s.calls, callback{at: s.now + delay, seq: s.seq, node: h.id, f: f})
}

// effect carries out one effect on host h.
func (s *Sim) effect(h *host, e directory.Effect) {
	switch e := e.(type) {
	case directory.Start:
		fail := s.faults && s.rng.Float64() < 0.01
		s.later(h, func(h *host) {
			if fail {
				s.logf("start failed %v %s", h.id, e.Name)
				h.dn.StartFailed(e.Token)
				return
			}
			h.nextID++
			p := &proc{inst: directory.Inst{Node: h.id, ID: h.nextID}, name: e.Name, reg: e.Reg}
			if e.Restore {
				p.state = slices.Clone(e.State)
				if e.Checkpoint {
					for _, part := range strings.Split(string(e.State), "+") {
						s.restored[part] = true
					}
				}
			} else {
				p.state = []byte(p.inst.String()) // unique: node incarnation and id
			}
			h.procs[p.inst.ID] = p
			s.logf("started %v %s", p.inst, e.Name)
			h.dn.Started(e.Token, p.inst.ID)
		})
	case directory.Stop:
		s.logf("stop %v %s", e.Inst, e.Name)
		delete(h.procs, e.Inst.ID)
	case directory.Pause:
		stay := e.MayStay && s.rng.Float64() < 0.05
		if s.stays != nil {
			stay = e.MayStay && s.stays(e.Name)
		}
		var answer func(h *host)
		answer = func(h *host) {
			p := h.procs[e.Inst.ID]
			if p == nil {
				return
			}
			if p.paused {
				// As the runtime does: a pause asked of a paused process
				// waits in its mailbox until it runs again.
				s.seq++
				heap.Push(&s.calls, callback{at: s.now + 1, seq: s.seq, node: h.id, f: answer})
				return
			}
			if stay {
				s.kept[e.Inst] = true
				s.logf("stays %v %s", e.Inst, e.Name)
				h.dn.Paused(p.inst.ID, directory.ActionStay, nil)
				return
			}
			p.paused = true
			h.dn.Paused(p.inst.ID, directory.ActionMove, p.state)
		}
		s.later(h, answer)
	case directory.Resume:
		if p := h.procs[e.Inst.ID]; p != nil {
			p.paused = false
			s.checkpoint(h, p)
		}
	case directory.Forward:
		s.logf("forward %v -> %v %s conflict=%v", e.From, e.To, e.Name, e.Conflict)
		if e.Conflict && s.merged[e.From] == 0 && !s.kept[e.From] {
			// A conflict's loser is retired once its state is merged
			// (or it chose to keep it: it answered stay).
			s.fail("%v (%s) retired as a conflict's loser, its state merged nowhere", e.From, e.Name)
		}
		delete(h.procs, e.From.ID)
	case directory.Resolve:
		// Strict (the default): no process ever holds a state twice,
		// however it came to (along two chains of merges, A into B, then
		// B and a resend of A both into C). A loser's state may be merged
		// again only into a process that does not hold it yet (one
		// restarted after the first winner crashed with it). Without
		// -sim.strict only a loser merged twice is checked.
		// A late merge (its first winner out of reach for the whole
		// hold) may be held twice after the heal, by design.
		s.merged[e.Loser]++
		if e.Late {
			for _, part := range strings.Split(string(e.State), "+") {
				s.late[part] = true
			}
		}
		if e.Checkpoint {
			// A gone process's checkpoint, restored into the winner:
			// as for a restart from it, the other side of a split may
			// restore it too.
			for _, part := range strings.Split(string(e.State), "+") {
				s.restored[part] = true
			}
		}
		if p := h.procs[e.Winner.ID]; p != nil {
			p.state = append(append(p.state, '+'), e.State...)
			if dup := repeated(p.state); dup != "" && !s.late[dup] && !s.restored[dup] && (s.opt.Strict || s.merged[e.Loser] > 1) {
				s.fail("%v (%s) holds the state %s twice: the state of %v was merged again (%d merges)", p.inst, e.Name, dup, e.Loser, s.merged[e.Loser])
			}
			if s.opt.Checkpoints {
				p.merged = append(p.merged, e.Loser)
				p.dirty = true
				s.checkpoint(h, p)
			}
		}
		s.logf("resolve %s: %v into %v", e.Name, e.Loser, e.Winner)
	case directory.Flush:
		if p := h.procs[e.Inst.ID]; p != nil && s.opt.Checkpoints {
			p.dirty = true
			s.checkpoint(h, p)
		}
	case directory.Reply:
		op, ok := h.reqs[e.Req]
		if !ok {
			s.fail("%v: reply to unknown request %d", h.id, e.Req)
			return
		}
		delete(h.reqs, e.Req)
		if s.replies != nil {
			s.replies[e.Req] = e
		}
		if op.op == directory.ReqCheckpoint {
			s.checkpointed(h, e.Req, op, e)
			return
		}
		s.logf("reply %v req %d %v %s: %v %v %v", h.id, e.Req, op.op, op.name, e.Answer.Inst, e.Answer.Reg, e.Err)
		s.model.reply(s, h, op, e)
	}
}

// Run plays the schedule and checks the invariants; it returns the
// violations found (none: it passed).
func (s *Sim) Run() []string {
	for range s.opt.Steps {
		s.step(true)
		if len(s.failure) > 0 {
			return s.failure
		}
	}
	s.quiesce()
	return s.failure
}

// step advances time by one: faults and requests (if busy), deliveries,
// callbacks, view refreshes and ticks.
func (s *Sim) step(busy bool) {
	s.now++
	if busy {
		s.act()
	}
	s.refreshViews(false)
	if s.split() {
		s.splitAt = s.now
	}
	s.deliver()
	for _, h := range s.live() {
		h.dn.Tick()
		s.drain(h)
	}
	if s.lastCrash > 0 {
		s.model.crashed(s)
	}
	s.trackLeaders()
	if busy {
		s.checkListings()
	}
}

// trackLeaders notes the primary each node sees of each partition, and
// since when.
func (s *Sim) trackLeaders() {
	live := s.live()
	for _, h := range live {
		if len(h.leader) != s.opt.Partitions {
			h.leader, h.leaderSince = make([]directory.NodeID, s.opt.Partitions), make([]uint64, s.opt.Partitions)
		}
		for p := range s.opt.Partitions {
			if l, _ := h.dn.Lead(p); l != h.leader[p] {
				h.leader[p], h.leaderSince[p] = l, s.now
			}
		}
	}
}

// checkListings checks, at every step, faults or not, what a listing
// counts on: a primary that calls a partition complete lists every live
// registration of it (or knows it ended) that a member of its view which
// sees it as the primary runs, or holds in a copy of the primary's own
// stream. Not counted: a copy kept to give to the primary (on its way: a
// member whose view changed after the primary heard it out, as across a
// split that the primary's view never saw, gives its copy then), a copy of
// another stream (a replica of an earlier primary, waiting for a
// snapshot; what it holds is kept and given too), and members on the
// other side of a split that the primary's view still lists.
func (s *Sim) checkListings() {
	live := s.live()
	var bad []string // sorted: Held's order is a map's
	for _, ph := range live {
		var members []directory.NodeID
		for p := range s.opt.Partitions {
			if _, complete := ph.dn.Lead(p); !complete {
				continue
			}
			if members == nil {
				members = ph.dn.Members()
			}
			var stream directory.Stream // of this primary, when first needed
			for _, id := range members {
				xh := s.hosts[id.Name]
				if xh == nil || xh.dn == nil || xh.id != id || xh.leader[p] != ph.id || xh.leaderSince[p] > ph.leaderSince[p] {
					continue // it came to this primary after this one took the lead: what it holds is on its way
				}
				if stream.Node.IsZero() {
					stream = ph.dn.Partition(p).Stream
				}
				sameStream := xh == ph || xh.dn.Partition(p).Stream == stream
				xh.dn.Held(p, func(name string, reg directory.RegID, in directory.Holding) {
					if in == directory.HeldKept || in == directory.HeldCopy && !sameStream {
						return
					}
					if !ph.dn.Covers(name, reg) {
						bad = append(bad, fmt.Sprintf("partition %d: %v serves it complete but does not list %s, held by %v as %v (%d)", p, ph.id, name, id, reg, in))
					}
				})
			}
		}
	}
	slices.Sort(bad)
	for _, b := range bad {
		s.fail("%s", b)
	}
}

// deliver hands over every message and callback due now, in order.
func (s *Sim) deliver() {
	for {
		c := len(s.calls) > 0 && s.calls[0].at <= s.now
		f := len(s.net) > 0 && s.net[0].at <= s.now
		switch {
		case c:
			cb := heap.Pop(&s.calls).(callback)
			if h := s.hosts[cb.node.Name]; h != nil && h.dn != nil && h.id == cb.node {
				cb.f(h)
				s.drain(h)
			}
		case f:
			f := heap.Pop(&s.net).(flight)
			to, from := s.hosts[f.to.Name], s.hosts[f.from.Name]
			if to == nil || to.dn == nil || to.id != f.to || from == nil || !s.reachable(from, to) {
				continue // the link is cut, or the receiver is gone
			}
			if s.cut != nil && s.cut(from, to, f.msg) {
				s.logf("cut %v->%v %T", f.from, f.to, f.msg)
				continue
			}
			to.dn.Receive(f.from, f.msg)
			s.drain(to)
		default:
			return
		}
	}
}

// flights is the network: a heap by delivery time, then send order.
type flights []flight

func (q flights) Len() int { return len(q) }
func (q flights) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q flights) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *flights) Push(x any)   { *q = append(*q, x.(flight)) }
func (q *flights) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// callbacks are the hosts' reports due: a heap like flights.
type callbacks []callback

func (q callbacks) Len() int { return len(q) }
func (q callbacks) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q callbacks) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *callbacks) Push(x any)   { *q = append(*q, x.(callback)) }
func (q *callbacks) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// repeated returns a '+'-separated part of state that appears twice, or
// "".
func repeated(state []byte) string {
	seen := map[string]bool{}
	for _, part := range strings.Split(string(state), "+") {
		if seen[part] {
			return part
		}
		seen[part] = true
	}
	return ""
}

// Trace returns the events of the schedule (with Options.Trace).
func (s *Sim) Trace() string { return strings.Join(s.trace, "\n") }

// split reports whether some live node does not see every live node.
func (s *Sim) split() bool {
	live := s.live()
	for _, h := range live {
		if len(h.dn.Members()) != len(live) {
			return true
		}
	}
	return false
}
