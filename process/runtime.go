package process

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Ref names a process: the node it runs on and an id unique on that node.
// Refs are comparable values and may be serialised; the zero Ref names no
// process.
type Ref struct {
	// Node is the name of the node the process runs on.
	Node string
	// ID is unique among the processes a runtime has ever started (ids start
	// at a random value, so a restarted node does not reuse old ids).
	ID uint64
}

// IsZero reports whether r is the zero Ref.
func (r Ref) IsZero() bool { return r.Node == "" && r.ID == 0 }

// String formats r as <node.id>, id in hexadecimal.
func (r Ref) String() string {
	return "<" + r.Node + "." + strconv.FormatUint(r.ID, 16) + ">"
}

// Clock is the source of timers for SendAfter. Tests inject a fake one.
type Clock interface {
	// AfterFunc calls f in its own goroutine after d, unless the returned
	// timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending Clock.AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it
	// did so.
	Stop() bool
}

// TimerID identifies a timer set with Self.SendAfter.
type TimerID uint64

type realClock struct{}

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Config configures a Runtime.
type Config struct {
	// Node is this node's name, used in every Ref the runtime hands out.
	Node string
	// Clock provides timers; nil means the real clock.
	Clock Clock
	// Logger receives panics and lifecycle events; nil discards them.
	Logger *slog.Logger
	// Remote, if set, delivers messages addressed to refs of other nodes.
	Remote Remote
	// Codec, if set, carries every message to a process of this node that
	// goes through Call, Cast or Send, and a call's reply, as if it
	// crossed to another node: encoded and decoded on the way. A type the
	// codec cannot carry then fails at the call, with ErrWontCross naming
	// it, the process, its kind and the node, instead of working here and
	// failing only when the process lives elsewhere. For tests (the front
	// door sets it under go test): it costs an encoding per message.
	Codec Codec
	// StateCodec, if set, encodes the state a passivated process keeps
	// (KindOptions.PassivateAfter), so that it holds bytes instead of
	// its objects; nil keeps the state value as the process gave it.
	StateCodec Codec
}

// Codec encodes and decodes messages (package codec).
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(b []byte) (any, error)
}

// Remote delivers messages to processes on other nodes (package remote).
type Remote interface {
	// Call sends a call to ref and waits for the reply or ctx's end.
	Call(ctx context.Context, ref Ref, msg any) (any, error)
	// Cast sends msg to ref's HandleCast.
	Cast(ref Ref, msg any) error
	// Send sends msg to ref's HandleInfo.
	Send(ref Ref, msg any) error
	// CallAsync sends a call to ref and returns once it is queued; done
	// receives the reply or the error (ctx's end included), exactly once,
	// unless CallAsync itself fails. done must not block.
	CallAsync(ctx context.Context, ref Ref, msg any, done func(reply any, err error)) error
}

// DefaultConfig returns a Config for a node named "local".
func DefaultConfig() Config {
	return Config{Node: "local"}
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	if c.Node == "" {
		return fmt.Errorf("process config: %w: empty node name", ErrInvalid)
	}
	return nil
}

const shardCount = 64

type tableShard struct {
	mu    sync.RWMutex
	procs map[uint64]*Process
	_     [32]byte // keep shards on separate cache lines
}

// Runtime runs the processes of one node. All methods are safe for
// concurrent use.
type Runtime struct {
	node   string
	remote Remote
	codec  Codec // checks local messages when set
	// stateCodec encodes passivated processes' states, when set.
	stateCodec Codec
	segs       *segments // the mailboxes' segments (queue.go)
	// calls holds the calls of Process.Call that were answered, with
	// their reply channels, for the next.
	calls  sync.Pool
	kinds  *Kinds
	clock  Clock
	log    *slog.Logger
	ctx    context.Context // handed to casts and infos; ends at shutdown
	cancel context.CancelFunc

	nextID  atomic.Uint64
	timerID atomic.Uint64
	count   atomic.Int64
	// passivated counts the processes passivated now.
	passivated atomic.Int64
	// forwarding counts calls forwarded by handed-off processes and not
	// yet answered.
	forwarding atomic.Int64
	closed     atomic.Bool
	active     sync.WaitGroup // running activations
	shards     [shardCount]tableShard

	shutdownOnce sync.Once
	shutdownDone chan struct{}

	// work hands an activation to an idle worker (see activate).
	work chan *Process
	idle atomic.Int32 // workers waiting on work
}

// Activations run on workers: goroutines that, once an activation ends,
// wait a while for the next one before they exit. A goroutine started
// for each activation would start with a small stack and grow it (copy
// it) on every deep handler path, such as a checkpoint through the
// registry: that growth was a sixth of the CPU of a sync checkpoint
// benchmark. At most maxIdleWorkers wait, each at most workerIdle: an
// idle process still holds no goroutine, and an idle runtime none
// after workerIdle.
const (
	workerIdle     = time.Second
	maxIdleWorkers = 256
)

// activate runs p.run on an idle worker, or on a new one.
func (rt *Runtime) activate(p *Process) {
	select {
	case rt.work <- p:
	default:
		go rt.worker(p)
	}
}

// worker runs activations until none comes for workerIdle (or too many
// workers wait already). Its timer ticks every workerIdle and is not
// reset per activation (a reset costs a worker more than a short
// activation): a worker that had work since the last tick waits one
// more, so it leaves between one and two workerIdle after its last.
func (rt *Runtime) worker(p *Process) {
	var t *time.Timer
	for {
		p.run()
		if rt.idle.Add(1) > maxIdleWorkers {
			rt.idle.Add(-1)
			if t != nil {
				t.Stop()
			}
			return
		}
		if t == nil {
			t = time.NewTimer(workerIdle)
		}
		worked := true
	wait:
		select {
		case p = <-rt.work:
			rt.idle.Add(-1)
		case <-t.C:
			if worked {
				worked = false
				t.Reset(workerIdle)
				goto wait
			}
			rt.idle.Add(-1)
			return
		case <-rt.ctx.Done(): // shut down: later activations start their own
			rt.idle.Add(-1)
			t.Stop()
			return
		}
	}
}

// NewRuntime returns a running runtime that creates processes from kinds.
func NewRuntime(cfg Config, kinds *Kinds) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if kinds == nil {
		return nil, fmt.Errorf("new runtime: %w: nil kinds", ErrInvalid)
	}
	if named, ok := cfg.Remote.(interface{ Node() string }); ok && named.Node() != cfg.Node {
		return nil, fmt.Errorf("new runtime: %w: Config.Node is %q but its Remote is node %q (give both the same name)", ErrInvalid, cfg.Node, named.Node())
	}
	rt := &Runtime{
		node:         cfg.Node,
		remote:       cfg.Remote,
		codec:        cfg.Codec,
		segs:         newSegments(),
		calls:        sync.Pool{New: func() any { return &call{ch: make(chan result, 1)} }},
		stateCodec:   cfg.StateCodec,
		kinds:        kinds,
		clock:        cfg.Clock,
		log:          cfg.Logger,
		shutdownDone: make(chan struct{}),
		work:         make(chan *Process),
	}
	if rt.clock == nil {
		rt.clock = realClock{}
	}
	if rt.log == nil {
		rt.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rt.log = rt.log.With("node", cfg.Node)
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("new runtime: seed process ids: %w", err)
	}
	// Ids below maxSystemID are reserved for system processes.
	rt.nextID.Store(binary.LittleEndian.Uint64(seed[:])>>1 | maxSystemID)
	for i := range rt.shards {
		rt.shards[i].procs = make(map[uint64]*Process)
	}
	return rt, nil
}

// Node returns the node name of this runtime.
func (rt *Runtime) Node() string { return rt.node }

// Kinds returns the runtime's kind table.
func (rt *Runtime) Kinds() *Kinds { return rt.kinds }

// Len returns the number of live processes.
func (rt *Runtime) Len() int { return int(rt.count.Load()) }

// Passivated returns the number of this node's processes that are
// passivated now (KindOptions.PassivateAfter); Len counts them too.
func (rt *Runtime) Passivated() int { return int(rt.passivated.Load()) }

// SpawnOptions are optional settings for Spawn and Start.
type SpawnOptions struct {
	// Name is shown in logs and errors; the runtime does not index it.
	Name string
	// OnExit, if set, is called once after the process has exited and been
	// removed from the runtime, before Process.Done closes. It runs on the
	// process's last goroutine and must not block for long.
	OnExit func(p *Process, reason error)
	// HandedOff, if set, makes the process the new incarnation of one
	// handed off from another node: when its Action is HandoffMove, the
	// EndHandoff hook (if any) receives its State after Init, before any
	// message, and its error fails the spawn.
	HandedOff *Handoff
	// Checkpoints say whether and how the process checkpoints its state
	// (off by default).
	Checkpoints CheckpointOptions
	// Restore, if set, gives a checkpointing process that its kind's
	// RestartPolicy restarts, or that wakes after its kind passivated it,
	// the state to start again from: its last stored checkpoint (false:
	// none, it starts from its spec). A passivated process that has it
	// keeps no state of its own.
	Restore func(p *Process) (Handoff, bool)
}

// Spawn creates a process from spec and starts it. If the behavior
// implements Initializer, Init runs before Spawn returns and its error
// fails the spawn.
func (rt *Runtime) Spawn(ctx context.Context, spec Spec, opts SpawnOptions) (*Process, error) {
	b, kd, err := rt.kinds.create(spec)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", rt.node, err)
	}
	var x *procExtra
	if kd.opts.Restart.Mode != RestartTemporary {
		x = &procExtra{sup: &supervised{args: spec.Args, policy: kd.opts.Restart.withDefaults(), restore: opts.Restore}}
	}
	if kd.opts.PassivateAfter > 0 {
		if err := validatePassivation(kd, b); err != nil {
			return nil, fmt.Errorf("node %s: start process %q: %w", rt.node, opts.Name, err)
		}
		if x == nil {
			x = &procExtra{}
		}
		x.pass = &passivation{args: spec.Args, after: kd.opts.PassivateAfter}
		if opts.Checkpoints.Mode != CheckpointOff {
			x.pass.restore = opts.Restore
		}
	}
	return rt.start(ctx, rt.nextID.Add(1), b, opts, kd, x)
}

// maxSystemID bounds the ids of system processes (System.Start): every
// node can address another node's system process id without asking.
const maxSystemID = 1 << 16

// Start starts a process running b, which need not come from a kind (such
// a process cannot be re-created elsewhere). See Spawn.
func (rt *Runtime) Start(ctx context.Context, b Behavior, opts SpawnOptions) (*Process, error) {
	return rt.start(ctx, rt.nextID.Add(1), b, opts, nil, nil)
}

func (rt *Runtime) start(ctx context.Context, id uint64, b Behavior, opts SpawnOptions, kd *kind, x *procExtra) (*Process, error) {
	if b == nil {
		return nil, fmt.Errorf("start process: %w: nil behavior", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start process %q: %w", opts.Name, err)
	}
	if err := opts.Checkpoints.validate(b); err != nil {
		return nil, fmt.Errorf("start process %q: %w", opts.Name, err)
	}
	p := &Process{
		rt:       rt,
		id:       id,
		name:     opts.Name,
		behavior: b,
		kind:     kd,
		onExit:   opts.OnExit,
		st:       stActive, // no activation may start before Init is done
	}
	if opts.Checkpoints.Mode != CheckpointOff {
		p.ck = &ckState{opts: opts.Checkpoints}
	}
	if x != nil {
		p.extra.Store(x)
	}
	sh := &rt.shards[p.id%shardCount]
	sh.mu.Lock()
	if rt.closed.Load() {
		sh.mu.Unlock()
		return nil, fmt.Errorf("start process %q: %w", opts.Name, ErrShutdown)
	}
	if _, dup := sh.procs[p.id]; dup { // only a system id can collide
		sh.mu.Unlock()
		return nil, fmt.Errorf("start process %q: %w: id %d in use", opts.Name, ErrInvalid, p.id)
	}
	sh.procs[p.id] = p
	// Init counts as an activation, so Shutdown waits for it.
	rt.active.Add(1)
	sh.mu.Unlock()
	rt.count.Add(1)

	if in, ok := b.(Initializer); ok {
		if err := p.init(ctx, in); err != nil {
			p.abandon(err)
			return nil, fmt.Errorf("start process %s: init: %w", p, err)
		}
	}
	if h := opts.HandedOff; h != nil && h.Action == HandoffMove {
		if hr, ok := b.(HandoffReceiver); ok {
			state, err := p.migrate(ctx, h.Version, h.State)
			if err == nil {
				err = p.endHandoff(ctx, hr, state)
			}
			if err != nil {
				p.abandon(err)
				return nil, fmt.Errorf("start process %s: end handoff: %w", p, err)
			}
		}
		p.restoreReminders(h.Reminders)
	}
	if x != nil && x.pass != nil {
		p.armPassivation(x.pass)
	}
	p.mu.Lock()
	if p.setIdleLocked() {
		p.mu.Unlock()
		rt.active.Done()
	} else {
		p.mu.Unlock()
		rt.activate(p)
	}
	return p, nil
}

// Mailboxes calls f with the mailbox length of every process of this
// node (for metrics: it locks each process briefly, so a node of a
// million processes takes some milliseconds).
func (rt *Runtime) Mailboxes(f func(n int)) {
	var procs []*Process
	for i := range rt.shards {
		sh := &rt.shards[i]
		sh.mu.RLock()
		procs = procs[:0]
		for _, p := range sh.procs {
			procs = append(procs, p)
		}
		sh.mu.RUnlock()
		for _, p := range procs {
			f(p.MailboxLen())
		}
	}
}

// Lookup returns the local process named by ref.
func (rt *Runtime) Lookup(ref Ref) (*Process, bool) {
	if ref.Node != rt.node {
		return nil, false
	}
	sh := &rt.shards[ref.ID%shardCount]
	sh.mu.RLock()
	p, ok := sh.procs[ref.ID]
	sh.mu.RUnlock()
	return p, ok
}

// remoteFor says whether ref is on another node, to be reached through
// the Remote; a ref on another node without a Remote is ErrNoRemote (a
// zero or local ref is this runtime's to look up).
func (rt *Runtime) remoteFor(ref Ref) (bool, error) {
	if ref.Node == rt.node || ref.Node == "" {
		return false, nil
	}
	if rt.remote == nil {
		return false, fmt.Errorf("process %s from node %s: %w", ref, rt.node, ErrNoRemote)
	}
	return true, nil
}

func (rt *Runtime) lookup(ref Ref) (*Process, error) {
	p, ok := rt.Lookup(ref)
	if !ok {
		return nil, fmt.Errorf("process %s: %w", ref, ErrNoProcess)
	}
	return p, nil
}

// Call sends msg to the process named by ref, on this node or (with a
// Remote) another, and waits for its reply or for ctx to end.
func (rt *Runtime) Call(ctx context.Context, ref Ref, msg any) (any, error) {
	if remote, err := rt.remoteFor(ref); err != nil {
		return nil, fmt.Errorf("call: %w", err)
	} else if remote {
		return rt.remote.Call(ctx, ref, msg)
	}
	p, err := rt.lookup(ref)
	if err != nil {
		return nil, err
	}
	if rt.codec == nil {
		return p.Call(ctx, msg)
	}
	if msg, err = rt.cross(p, "call", msg); err != nil {
		return nil, err
	}
	v, err := p.Call(ctx, msg)
	if err != nil {
		return v, err
	}
	return rt.cross(p, "reply from", v)
}

// Cast sends msg to the process named by ref without waiting for it to
// be handled (a bounded mailbox that is full, with OverflowBlock, makes it
// wait for room: CastContext bounds that wait).
func (rt *Runtime) Cast(ref Ref, msg any) error { return rt.oneWay(nil, kindCast, ref, msg) }

// CastContext is Cast waiting for room in a full bounded mailbox only as
// long as ctx lets it.
func (rt *Runtime) CastContext(ctx context.Context, ref Ref, msg any) error {
	return rt.oneWay(ctx, kindCast, ref, msg)
}

// Send sends msg to the HandleInfo of the process named by ref (see Cast).
func (rt *Runtime) Send(ref Ref, msg any) error { return rt.oneWay(nil, kindInfo, ref, msg) }

// SendContext is Send waiting for room only as long as ctx lets it.
func (rt *Runtime) SendContext(ctx context.Context, ref Ref, msg any) error {
	return rt.oneWay(ctx, kindInfo, ref, msg)
}

// oneWay delivers a cast or a send (kind) to ref.
func (rt *Runtime) oneWay(ctx context.Context, kind msgKind, ref Ref, msg any) error {
	what := "cast"
	if kind == kindInfo {
		what = "send"
	}
	if remote, err := rt.remoteFor(ref); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if remote {
		if kind == kindInfo {
			return rt.remote.Send(ref, msg)
		}
		return rt.remote.Cast(ref, msg)
	}
	p, err := rt.lookup(ref)
	if err != nil {
		return err
	}
	if msg, err = rt.cross(p, what, msg); err != nil {
		return err
	}
	if err := p.put(ctx, envelope{kind: kind, msg: msg}, true); err != nil {
		return fmt.Errorf("%s to %s: %w", what, p, err)
	}
	return nil
}

// cross carries v through the runtime's codec, if it has one, as if it
// went to or came from (what says which) p on another node.
func (rt *Runtime) cross(p *Process, what string, v any) (any, error) {
	if rt.codec == nil {
		return v, nil
	}
	b, err := rt.codec.Marshal(v)
	var out any
	if err == nil {
		out, err = rt.codec.Unmarshal(b)
	}
	if err != nil {
		kind := ""
		if k := p.Kind(); k != "" {
			kind = fmt.Sprintf(" (kind %q)", k)
		}
		return nil, fmt.Errorf("%s process %s%s on node %s: %T %w: %w", what, p, kind, rt.node, v, ErrWontCross, err)
	}
	return out, nil
}

// Stop stops the process named by ref and waits until it has exited or ctx
// ends. Messages sent before the stop are handled first.
func (rt *Runtime) Stop(ctx context.Context, ref Ref, reason error) error {
	p, err := rt.lookup(ref)
	if err != nil {
		return err
	}
	return p.Stop(ctx, reason)
}

func (rt *Runtime) remove(p *Process) {
	rt.unlist(p)
	rt.count.Add(-1)
}

// unlist removes p from the process table.
func (rt *Runtime) unlist(p *Process) {
	sh := &rt.shards[p.id%shardCount]
	sh.mu.Lock()
	if sh.procs[p.id] == p {
		delete(sh.procs, p.id)
	}
	sh.mu.Unlock()
}

// Shutdown stops every process with reason ErrShutdown and waits until all
// have exited or ctx ends. New spawns fail from the moment it is called.
// It is idempotent; later calls wait for the first to finish.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.shutdownOnce.Do(func() {
		rt.closed.Store(true)
		rt.cancel() // handlers waiting on their context must not hold shutdown up
		for i := range rt.shards {
			sh := &rt.shards[i]
			sh.mu.RLock()
			procs := make([]*Process, 0, len(sh.procs))
			for _, p := range sh.procs {
				procs = append(procs, p)
			}
			sh.mu.RUnlock()
			for _, p := range procs {
				_ = p.enqueue(envelope{kind: kindStop, msg: stopMsg{reason: ErrShutdown}})
				// One paused for a handoff nobody finished (its node
				// stops) takes the stop too.
				_ = p.resumeHandoff()
			}
		}
		go func() {
			rt.active.Wait()
			close(rt.shutdownDone)
		}()
	})
	select {
	case <-rt.shutdownDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runtime shutdown: %w", ctx.Err())
	}
}
