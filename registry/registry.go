// Package registry maps names to processes and processes to groups: the
// registry of Shoal (swarm's job in the Elixir original).
//
// A name is registered with a process.Spec; the registry creates the process
// from the Spec and owns it from then on: when the process exits, its name
// and group memberships are removed. Registering a name that is already
// registered returns the process that holds it, so registration is
// idempotent and safe to race.
//
// Groups are sets of registered names. Membership follows the name, not a
// particular process incarnation, so a process that is re-created (handed
// off or restarted from its Spec) stays in its groups. Publish casts to
// every member; MultiCall calls every member concurrently and collects the
// replies.
//
// Lookups by name are O(1): names live in a sharded hash map, so the
// registry scales with the number of names and with concurrent callers.
// This version serves the processes of one node; the API takes a context on
// every call that may later cross the network.
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
	// MultiCallConcurrency bounds the calls MultiCall has in flight at once;
	// 0 means 32.
	MultiCallConcurrency int
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

type entry struct {
	proc   *process.Process // nil while the process is being created
	spec   process.Spec
	ready  chan struct{} // non-nil while the process is being created
	groups []string
}

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
	return r, nil
}

// Runtime returns the process runtime the registry spawns on.
func (r *Registry) Runtime() *process.Runtime { return r.rt }

func (r *Registry) shard(name string) *shard {
	return &r.shards[maphash.String(r.seed, name)%shardCount]
}

// Register creates a process from spec under name, unless name is already
// registered, in which case it returns the existing process's ref and does
// nothing else. It blocks while the process initialises.
func (r *Registry) Register(ctx context.Context, name string, spec process.Spec) (process.Ref, error) {
	if name == "" {
		return process.Ref{}, fmt.Errorf("register: %w: empty name", ErrInvalidName)
	}
	sh := r.shard(name)
	for {
		sh.mu.Lock()
		if e, ok := sh.entries[name]; ok {
			var ready <-chan struct{} = e.ready
			if e.proc != nil {
				if e.proc.Alive() {
					ref := e.proc.Ref()
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
			e.proc = p
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
		return
	}
	delete(sh.entries, name)
	if len(e.groups) > 0 {
		r.groupsMu.Lock()
		for _, g := range e.groups {
			r.removeMemberLocked(g, name)
		}
		r.groupsMu.Unlock()
	}
	sh.mu.Unlock()
}

// resolve returns the process registered under name, waiting while it is
// being created.
func (r *Registry) resolve(ctx context.Context, name string) (*process.Process, error) {
	sh := r.shard(name)
	for {
		sh.mu.RLock()
		e, ok := sh.entries[name]
		if !ok {
			sh.mu.RUnlock()
			return nil, fmt.Errorf("%q: %w", name, ErrNotFound)
		}
		var ready <-chan struct{} = e.ready
		if e.proc != nil {
			p := e.proc
			if p.Alive() {
				sh.mu.RUnlock()
				return p, nil
			}
			ready = p.Done() // exiting: wait until its name is gone
		}
		sh.mu.RUnlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%q: %w", name, ctx.Err())
		}
	}
}

// Whereis returns the ref of the process registered under name, or an
// error wrapping ErrNotFound.
func (r *Registry) Whereis(ctx context.Context, name string) (process.Ref, error) {
	p, err := r.resolve(ctx, name)
	if err != nil {
		return process.Ref{}, fmt.Errorf("whereis %w", err)
	}
	return p.Ref(), nil
}

// Registered lists every registered name, in no particular order.
func (r *Registry) Registered(ctx context.Context) ([]Entry, error) {
	out := make([]Entry, 0, r.Len())
	for i := range r.shards {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("registered: %w", err)
		}
		sh := &r.shards[i]
		sh.mu.RLock()
		for name, e := range sh.entries {
			if e.proc != nil {
				out = append(out, Entry{Name: name, Ref: e.proc.Ref(), Kind: e.spec.Kind})
			}
		}
		sh.mu.RUnlock()
	}
	return out, nil
}

// Len returns the number of registered names (including ones whose process
// is still being created).
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		n += len(sh.entries)
		sh.mu.RUnlock()
	}
	return n
}

// Unregister stops the process registered under name (normal stop: its
// Terminate hook runs after the messages already sent to it) and waits
// until its name is free or ctx ends.
func (r *Registry) Unregister(ctx context.Context, name string) error {
	p, err := r.resolve(ctx, name)
	if err != nil {
		return fmt.Errorf("unregister %w", err)
	}
	if err := p.Stop(ctx, nil); err != nil {
		return fmt.Errorf("unregister %q: %w", name, err)
	}
	return nil
}

// Call calls the process registered under name and waits for its reply.
func (r *Registry) Call(ctx context.Context, name string, msg any) (any, error) {
	p, err := r.resolve(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("call %w", err)
	}
	return p.Call(ctx, msg)
}

// Cast sends msg to the HandleCast of the process registered under name
// without waiting for it to be handled.
func (r *Registry) Cast(ctx context.Context, name string, msg any) error {
	p, err := r.resolve(ctx, name)
	if err != nil {
		return fmt.Errorf("cast %w", err)
	}
	return p.Cast(msg)
}

// Send sends msg to the HandleInfo of the process registered under name.
func (r *Registry) Send(ctx context.Context, name string, msg any) error {
	p, err := r.resolve(ctx, name)
	if err != nil {
		return fmt.Errorf("send %w", err)
	}
	return p.Send(msg)
}

// Join adds the registered name to group. Joining twice is not an error.
// The membership ends when the name is unregistered or its process exits.
func (r *Registry) Join(ctx context.Context, group, name string) error {
	if group == "" {
		return fmt.Errorf("join: %w: empty group", ErrInvalidName)
	}
	if _, err := r.resolve(ctx, name); err != nil {
		return fmt.Errorf("join %q: %w", group, err)
	}
	sh := r.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.entries[name]
	if !ok || e.proc == nil {
		return fmt.Errorf("join %q: %q: %w", group, name, ErrNotFound)
	}
	if slices.Contains(e.groups, group) {
		return nil
	}
	e.groups = append(e.groups, group)
	r.groupsMu.Lock()
	members := r.groups[group]
	if members == nil {
		members = make(map[string]struct{})
		r.groups[group] = members
	}
	members[name] = struct{}{}
	r.groupsMu.Unlock()
	return nil
}

// Leave removes name from group. Leaving a group one is not in is not an
// error.
func (r *Registry) Leave(ctx context.Context, group, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("leave %q: %w", group, err)
	}
	sh := r.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.entries[name]
	if !ok {
		return nil
	}
	i := slices.Index(e.groups, group)
	if i < 0 {
		return nil
	}
	e.groups = slices.Delete(e.groups, i, i+1)
	r.groupsMu.Lock()
	r.removeMemberLocked(group, name)
	r.groupsMu.Unlock()
	return nil
}

func (r *Registry) removeMemberLocked(group, name string) {
	members := r.groups[group]
	delete(members, name)
	if len(members) == 0 {
		delete(r.groups, group)
	}
}

// Members returns the members of group, sorted by name.
func (r *Registry) Members(ctx context.Context, group string) ([]Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("members of %q: %w", group, err)
	}
	r.groupsMu.RLock()
	names := make([]string, 0, len(r.groups[group]))
	for name := range r.groups[group] {
		names = append(names, name)
	}
	r.groupsMu.RUnlock()
	slices.Sort(names)
	out := make([]Member, 0, len(names))
	for _, name := range names {
		sh := r.shard(name)
		sh.mu.RLock()
		if e, ok := sh.entries[name]; ok && e.proc != nil {
			out = append(out, Member{Name: name, Ref: e.proc.Ref()})
		}
		sh.mu.RUnlock()
	}
	return out, nil
}

// Groups returns the names of all non-empty groups, sorted.
func (r *Registry) Groups() []string {
	r.groupsMu.RLock()
	out := make([]string, 0, len(r.groups))
	for g := range r.groups {
		out = append(out, g)
	}
	r.groupsMu.RUnlock()
	slices.Sort(out)
	return out
}

// Publish casts msg to every member of group and returns how many members
// it reached. Members that exit meanwhile are skipped.
func (r *Registry) Publish(ctx context.Context, group string, msg any) (int, error) {
	members, err := r.Members(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	n := 0
	for _, m := range members {
		if err := r.Cast(ctx, m.Name, msg); err == nil {
			n++
		}
	}
	return n, nil
}

// MultiCall calls every member of group with msg, several at a time, and
// returns one Reply per member in name order. A member that fails or times
// out has its Err set; MultiCall itself fails only if ctx ends before it
// could list the members.
func (r *Registry) MultiCall(ctx context.Context, group string, msg any) ([]Reply, error) {
	members, err := r.Members(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("multi-call: %w", err)
	}
	replies := make([]Reply, len(members))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(r.concurrency, len(members)) {
		wg.Go(func() {
			for i := range next {
				v, err := r.Call(ctx, members[i].Name, msg)
				replies[i] = Reply{Name: members[i].Name, Value: v, Err: err}
			}
		})
	}
	for i := range members {
		next <- i
	}
	close(next)
	wg.Wait()
	return replies, nil
}

// String describes the registry for logs.
func (r *Registry) String() string {
	return fmt.Sprintf("registry(%s: %d names, %d groups)", r.rt.Node(), r.Len(), len(r.Groups()))
}
