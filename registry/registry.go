package registry

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

var (
	// ErrNotFound means the name is not registered.
	ErrNotFound = errors.New("name not registered")
	// ErrInvalidName means a name or group name is empty.
	ErrInvalidName = errors.New("invalid name")
)

// Config configures a Registry.
type Config struct {
	// Logger receives registry events; nil discards them.
	Logger *slog.Logger
	// Cluster, if set, makes the registry cluster-wide; the runtime must
	// then have a process.Remote, and every node's codec the processes'
	// message types (New adds the registry's own to Codec).
	Cluster Membership
	// Codec is the codec of the node's remote; a cluster-wide registry
	// needs it to carry handed-off state, and adds its own wire types to
	// it.
	Codec *codec.Codec
	// MultiCallConcurrency bounds the calls MultiCall has in flight at once;
	// 0 means 32.
	MultiCallConcurrency int
	// Partitions is the number of partitions names hash to; 0 means 1024.
	// Every node of a cluster must use the same number.
	Partitions int
	// Replicas is how many nodes after a partition's primary hold copies
	// of its records (k); 0 means 1, and a negative number keeps a single
	// copy (k = 0). Every node of a cluster must use the same number.
	Replicas int
	// Quorum, if above 0, is the number of members a node must see to
	// serve any partition (the side of a netsplit with fewer stops
	// answering rather than run copies of the other side's processes).
	Quorum int
	// Tick is the directory's unit of time (its timeouts and periods are
	// counted in ticks); 0 means 100 ms.
	Tick time.Duration
	// ObserveOp, if set, is told of every Register, Unregister, Whereis,
	// Join and Leave (OpRegister...): how long it took and its error
	// (metrics). It runs on the caller's goroutine and must be quick.
	ObserveOp func(op string, took time.Duration, err error)
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{MultiCallConcurrency: 32}
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	if c.MultiCallConcurrency < 0 {
		return fmt.Errorf("registry config: MultiCallConcurrency %d is negative", c.MultiCallConcurrency)
	}
	if c.Partitions < 0 || c.Quorum < 0 || c.Tick < 0 {
		return fmt.Errorf("registry config: Partitions (%d), Quorum (%d) and Tick (%v) must not be negative", c.Partitions, c.Quorum, c.Tick)
	}
	return nil
}

// Entry is one registered name.
type Entry struct {
	Name string
	Ref  process.Ref
	Kind string
}

// Member is one member of a group.
type Member struct {
	Name string
	Ref  process.Ref
}

// Reply is one member's answer to a MultiCall.
type Reply struct {
	Name  string
	Value any
	Err   error
}

// entry is a name in a single-node registry's table.
type entry struct {
	proc   *process.Process // the process; nil while it starts
	ref    process.Ref      // the process, once started
	spec   process.Spec
	ready  chan struct{} // non-nil while the process is being created
	groups []string
}

// started reports whether the entry names a running (or exiting) process.
func (e *entry) started() bool { return e.ready == nil }

const shardCount = 64

type shard struct {
	mu      sync.RWMutex
	entries map[string]*entry
	_       [32]byte
}

// Registry is a node's registry of named processes and groups. All methods
// are safe for concurrent use.
type Registry struct {
	rt          *process.Runtime
	log         *slog.Logger
	concurrency int
	seed        maphash.Seed
	shards      [shardCount]shard
	exitHook    func(*process.Process, error)

	groupsMu sync.RWMutex
	groups   map[string]map[string]struct{}

	dir *dirHost // the partitioned directory; nil for a single-node registry

	counts    counts
	observeOp func(op string, took time.Duration, err error)
}

// New returns a registry whose processes run on rt.
func New(cfg Config, rt *process.Runtime) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rt == nil {
		return nil, fmt.Errorf("new registry: nil runtime")
	}
	r := &Registry{
		rt:          rt,
		log:         cfg.Logger,
		concurrency: cfg.MultiCallConcurrency,
		seed:        maphash.MakeSeed(),
		groups:      make(map[string]map[string]struct{}),
		observeOp:   cfg.ObserveOp,
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.concurrency == 0 {
		r.concurrency = 32
	}
	for i := range r.shards {
		r.shards[i].entries = make(map[string]*entry)
	}
	r.exitHook = r.onExit // one func value shared by every process
	if cfg.Cluster != nil {
		if err := r.startDirectory(cfg); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Runtime returns the process runtime the registry spawns on.
func (r *Registry) Runtime() *process.Runtime { return r.rt }

func (r *Registry) shard(name string) *shard {
	return &r.shards[maphash.String(r.seed, name)%shardCount]
}

// Register creates a process from spec under name, unless name is already
// registered, in which case it returns the existing process's ref and does
// nothing else. In a cluster the process starts on the primary of the
// name's partition.
// It blocks while the process initialises.
func (r *Registry) Register(ctx context.Context, name string, spec process.Spec) (ref process.Ref, err error) {
	if began := r.began(); !began.IsZero() {
		defer func() { r.observe(OpRegister, began, err) }()
	}
	if name == "" {
		return process.Ref{}, fmt.Errorf("register: %w: empty name", ErrInvalidName)
	}
	if r.dir != nil {
		return r.dirRegister(ctx, name, spec)
	}
	return r.registerLocal(ctx, name, spec)
}

// registerLocal creates the process unless the name is registered.
func (r *Registry) registerLocal(ctx context.Context, name string, spec process.Spec) (process.Ref, error) {
	sh := r.shard(name)
	for {
		sh.mu.Lock()
		if e, ok := sh.entries[name]; ok {
			var ready <-chan struct{} = e.ready
			if e.started() {
				if e.proc == nil || e.proc.Alive() {
					ref := e.ref
					sh.mu.Unlock()
					return ref, nil
				}
				// Exiting: its name is free once it has gone.
				ready = e.proc.Done()
			}
			sh.mu.Unlock()
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return process.Ref{}, fmt.Errorf("register %q: %w", name, ctx.Err())
			}
		}
		e := &entry{spec: spec, ready: make(chan struct{})}
		sh.entries[name] = e
		sh.mu.Unlock()

		p, err := r.rt.Spawn(ctx, spec, process.SpawnOptions{Name: name, OnExit: r.exitHook})
		sh.mu.Lock()
		if err == nil {
			r.counts.registered.Add(1)
			e.proc, e.ref = p, p.Ref()
			if !p.Alive() { // exited before we could record it
				delete(sh.entries, name)
			}
		} else {
			delete(sh.entries, name)
		}
		close(e.ready)
		e.ready = nil
		sh.mu.Unlock()
		if err != nil {
			return process.Ref{}, fmt.Errorf("register %q: %w", name, err)
		}
		return p.Ref(), nil
	}
}

// onExit forgets a process that exited: its name and its group
// memberships.
func (r *Registry) onExit(p *process.Process, _ error) {
	name := p.Name()
	sh := r.shard(name)
	sh.mu.Lock()
	e, ok := sh.entries[name]
	if !ok || e.proc != p {
		sh.mu.Unlock()
		return // not ours any more
	}
	r.deleteLocked(sh, name, e)
	sh.mu.Unlock()
}

// deleteLocked removes an entry and its group memberships; sh is locked.
func (r *Registry) deleteLocked(sh *shard, name string, e *entry) {
	delete(sh.entries, name)
	if len(e.groups) > 0 {
		r.groupsMu.Lock()
		for _, g := range e.groups {
			r.removeMemberLocked(g, name)
		}
		r.groupsMu.Unlock()
	}
}

// setGroupsLocked replaces an entry's groups; its shard is locked.
func (r *Registry) setGroupsLocked(name string, e *entry, groups []string) {
	r.groupsMu.Lock()
	defer r.groupsMu.Unlock()
	for _, g := range e.groups {
		if !slices.Contains(groups, g) {
			r.removeMemberLocked(g, name)
		}
	}
	for _, g := range groups {
		members := r.groups[g]
		if members == nil {
			members = make(map[string]struct{})
			r.groups[g] = members
		}
		members[name] = struct{}{}
	}
	e.groups = slices.Clone(groups)
}

// target is where a name's process runs.
type target struct {
	proc *process.Process
	ref  process.Ref
}

// resolve returns where the process registered under name runs, waiting
// while it is being created or while a local one is exiting.
func (r *Registry) resolve(ctx context.Context, name string) (target, error) {
	sh := r.shard(name)
	for {
		sh.mu.RLock()
		e, ok := sh.entries[name]
		if !ok {
			sh.mu.RUnlock()
			return target{}, fmt.Errorf("%q: %w", name, ErrNotFound)
		}
		var ready <-chan struct{} = e.ready
		if e.started() {
			t := target{proc: e.proc, ref: e.ref}
			if t.proc.Alive() {
				sh.mu.RUnlock()
				return t, nil
			}
			ready = t.proc.Done() // exiting: wait until its name is gone
		}
		sh.mu.RUnlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return target{}, fmt.Errorf("%q: %w", name, ctx.Err())
		}
	}
}

// Whereis returns the ref of the process registered under name, or an
// error wrapping ErrNotFound.
func (r *Registry) Whereis(ctx context.Context, name string) (ref process.Ref, err error) {
	if began := r.began(); !began.IsZero() {
		defer func() { r.observe(OpWhereis, began, err) }()
	}
	if r.dir != nil {
		return r.dirWhereis(ctx, name)
	}
	t, err := r.resolve(ctx, name)
	if err != nil {
		return process.Ref{}, fmt.Errorf("whereis %w", err)
	}
	return t.ref, nil
}

// Registered lists every registered name, in no particular order.
func (r *Registry) Registered(ctx context.Context) ([]Entry, error) {
	if r.dir != nil {
		return r.dirRegistered(ctx)
	}
	out := make([]Entry, 0, r.Len())
	for i := range r.shards {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("registered: %w", err)
		}
		sh := &r.shards[i]
		sh.mu.RLock()
		for name, e := range sh.entries {
			if e.started() {
				out = append(out, Entry{Name: name, Ref: e.ref, Kind: e.spec.Kind})
			}
		}
		sh.mu.RUnlock()
	}
	return out, nil
}

// Len returns the number of registered names (including ones whose process
// is still being created).
func (r *Registry) Len() int {
	if r.dir != nil {
		return r.dirLen()
	}
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		n += len(sh.entries)
		sh.mu.RUnlock()
	}
	return n
}

// Local returns the number of registered processes that run on this
// node (what a drain hands over, or what stops with the node).
func (r *Registry) Local() int {
	if r.dir != nil {
		r.dir.mu.Lock()
		defer r.dir.mu.Unlock()
		return r.dir.node.Running()
	}
	// A single-node registry's processes all run here.
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, e := range sh.entries {
			if e.started() {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n
}

// Unregister stops the process registered under name (normal stop: its
// Terminate hook runs after the messages already sent to it) and waits
// until its name is free or ctx ends.
func (r *Registry) Unregister(ctx context.Context, name string) (err error) {
	if began := r.began(); !began.IsZero() {
		defer func() { r.observe(OpUnregister, began, err) }()
	}
	if r.dir != nil {
		return r.dirUnregister(ctx, name)
	}
	t, err := r.resolve(ctx, name)
	if err != nil {
		return fmt.Errorf("unregister %w", err)
	}
	if err := t.proc.Stop(ctx, nil); err != nil {
		return fmt.Errorf("unregister %q: %w", name, err)
	}
	return nil
}

// Call calls the process registered under name and waits for its reply.
// In a cluster, a call that finds the process gone because it moved
// (handed off, or restarted after its node died) follows it to its new
// home.
func (r *Registry) Call(ctx context.Context, name string, msg any) (any, error) {
	if r.dir != nil {
		v, err := r.dirDeliver(ctx, name, func(ref process.Ref) (any, error) { return r.rt.Call(ctx, ref, msg) })
		if err != nil {
			return nil, fmt.Errorf("call %q: %w", name, err)
		}
		return v, nil
	}
	t, err := r.resolve(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("call %w", err)
	}
	return t.proc.Call(ctx, msg)
}

// Cast sends msg to the HandleCast of the process registered under name
// without waiting for it to be handled.
func (r *Registry) Cast(ctx context.Context, name string, msg any) error {
	if r.dir != nil {
		_, err := r.dirDeliver(ctx, name, func(ref process.Ref) (any, error) { return nil, r.rt.CastContext(ctx, ref, msg) })
		if err != nil {
			return fmt.Errorf("cast %q: %w", name, err)
		}
		return nil
	}
	t, err := r.resolve(ctx, name)
	if err != nil {
		return fmt.Errorf("cast %w", err)
	}
	return t.proc.Cast(msg)
}

// Send sends msg to the HandleInfo of the process registered under name.
func (r *Registry) Send(ctx context.Context, name string, msg any) error {
	if r.dir != nil {
		_, err := r.dirDeliver(ctx, name, func(ref process.Ref) (any, error) { return nil, r.rt.SendContext(ctx, ref, msg) })
		if err != nil {
			return fmt.Errorf("send %q: %w", name, err)
		}
		return nil
	}
	t, err := r.resolve(ctx, name)
	if err != nil {
		return fmt.Errorf("send %w", err)
	}
	return t.proc.Send(msg)
}

// String describes the registry for logs.
func (r *Registry) String() string {
	if r.dir != nil {
		return fmt.Sprintf("registry(%s: %d names served here)", r.rt.Node(), r.Len())
	}
	return fmt.Sprintf("registry(%s: %d names, %d groups)", r.rt.Node(), r.Len(), len(r.Groups()))
}
