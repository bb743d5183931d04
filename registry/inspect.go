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

// Inspection is what an operator learns of one name (shoal inspect).
type Inspection struct {
	Name string
	// Ref is the process that runs the name; Kind its spec's kind;
	// Groups the groups the name is in, sorted.
	Ref    process.Ref
	Kind   string
	Groups []string
	// Generation grows each time the name's process was replaced (moved
	// with its state, restarted, merged after a netsplit): 1 for the one
	// first started. Groups and Generation are the primary's.
	Generation uint64
	// Incarnation is the start of the node that runs the process (a node
	// restarted at the same address has another).
	Incarnation uint64
	// Mailbox is the number of messages waiting in the process's mailbox
	// (process.Process.MailboxLen: what came after those it is handling).
	Mailbox int
	// Summary is the process's own account of itself if its behavior is
	// a process.Describer (Described is then true), asked in its turn;
	// DescribeError says why it could not answer.
	Summary       string
	Described     bool
	DescribeError string
}

// ErrNotHere means an inspection or drain reached a node that no longer
// runs what it was asked about (the process moved or stopped meanwhile):
// ask again.
var ErrNotHere = errors.New("not on this node")

// Inspect returns what there is to know about name's process: where it
// runs, its kind, groups, generation, its node's incarnation, its mailbox
// and, if its behavior is a process.Describer, its own summary. It asks
// the node that runs it.
func (r *Registry) Inspect(ctx context.Context, name string) (Inspection, error) {
	ref, err := r.Whereis(ctx, name)
	if err != nil {
		return Inspection{}, err
	}
	if r.dir == nil {
		return r.inspectLocal(ctx, name, ref.ID)
	}
	var in Inspection
	if ref.Node == r.rt.Node() {
		if in, err = r.inspectLocal(ctx, name, ref.ID); err != nil {
			return Inspection{}, err
		}
	} else {
		v, err := r.rt.Call(ctx, process.Ref{Node: ref.Node, ID: opsEndpointID}, dirInspect{Name: name, ID: ref.ID})
		if err != nil {
			return Inspection{}, fmt.Errorf("inspect %q on %s: %w", name, ref.Node, err)
		}
		a, ok := v.(dirInspected)
		if !ok {
			return Inspection{}, fmt.Errorf("inspect %q on %s: answer %T", name, ref.Node, v)
		}
		if a.Err != "" {
			return Inspection{}, fmt.Errorf("inspect %q on %s: %s", name, ref.Node, a.Err)
		}
		in = a.In
	}
	// The groups are the primary's (the node that runs the process is
	// not told of joins and leaves).
	rec, err := r.primaryRecord(ctx, name)
	if err != nil {
		return Inspection{}, fmt.Errorf("inspect %q: %w", name, err)
	}
	if rec.Node != in.Ref.Node || rec.ID != in.Ref.ID {
		return Inspection{}, fmt.Errorf("inspect %q: %w: it moved meanwhile", name, ErrNotHere)
	}
	in.Groups, in.Generation = rec.Groups, rec.Gen
	return in, nil
}

// dirLookup asks a node for name's record if it serves its partition.
type dirLookup struct{ Name string }

// dirLookedUp answers dirLookup: Served says the node serves the name's
// partition, Found that the name is registered.
type dirLookedUp struct {
	Served, Found bool
	Node          string
	ID            uint64
	Groups        []string
	Gen           uint64
}

// lookup answers dirLookup from this node's directory.
func (h *dirHost) lookup(name string) dirLookedUp {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !h.node.Serving(name) {
		return dirLookedUp{}
	}
	rec, ok := h.node.Lookup(name)
	if !ok {
		return dirLookedUp{Served: true}
	}
	groups := slices.Clone(rec.Groups())
	slices.Sort(groups)
	return dirLookedUp{Served: true, Found: true, Node: rec.Inst.Node.Name, ID: rec.Inst.ID, Groups: groups, Gen: rec.Gen}
}

// primaryRecord asks the node that serves name's partition for its record
// (this node first, then the others in turn).
func (r *Registry) primaryRecord(ctx context.Context, name string) (dirLookedUp, error) {
	h := r.dir
	if a := h.lookup(name); a.Served {
		return a.found(name)
	}
	h.mu.RLock()
	others := make([]string, 0, len(h.view))
	for node := range h.view {
		if node != h.self.Name {
			others = append(others, node)
		}
	}
	h.mu.RUnlock()
	slices.Sort(others)
	for _, node := range others {
		v, err := r.rt.Call(ctx, process.Ref{Node: node, ID: opsEndpointID}, dirLookup{Name: name})
		if err != nil {
			if ctx.Err() != nil {
				return dirLookedUp{}, fmt.Errorf("ask %s for the record: %w", node, err)
			}
			continue // another may serve it
		}
		if a, ok := v.(dirLookedUp); ok && a.Served {
			return a.found(name)
		}
	}
	return dirLookedUp{}, fmt.Errorf("%w: no node serves its partition now", ErrUnavailable)
}

// found returns a, or ErrNotFound if the name is not registered.
func (a dirLookedUp) found(name string) (dirLookedUp, error) {
	if !a.Found {
		return dirLookedUp{}, fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	return a, nil
}

// inspectLocal inspects process id of this node, which should run name.
func (r *Registry) inspectLocal(ctx context.Context, name string, id uint64) (Inspection, error) {
	ref := process.Ref{Node: r.rt.Node(), ID: id}
	in := Inspection{Name: name, Ref: ref}
	if r.dir == nil {
		sh := r.shard(name)
		sh.mu.RLock()
		e, ok := sh.entries[name]
		ok = ok && e.started() && e.ref == ref
		if ok {
			in.Kind, in.Groups = e.spec.Kind, slices.Clone(e.groups)
		}
		sh.mu.RUnlock()
		if !ok {
			return Inspection{}, fmt.Errorf("inspect %q: process %d: %w", name, id, ErrNotHere)
		}
	} else {
		h := r.dir
		h.mu.RLock()
		rec, ok := h.node.Local(id)
		h.mu.RUnlock()
		if !ok || rec.Name != name {
			return Inspection{}, fmt.Errorf("inspect %q: process %d: %w", name, id, ErrNotHere)
		}
		in.Kind, in.Groups = rec.Spec.Kind, slices.Clone(rec.Groups())
		in.Generation, in.Incarnation = rec.Gen, rec.Inst.Node.Inc
	}
	slices.Sort(in.Groups)
	p, ok := r.rt.Lookup(ref)
	if !ok {
		return Inspection{}, fmt.Errorf("inspect %q: process %d: %w", name, id, ErrNotHere)
	}
	in.Mailbox = p.MailboxLen()
	summary, described, err := p.Describe(ctx)
	in.Summary, in.Described = summary, described
	if err != nil {
		in.DescribeError = err.Error()
	}
	return in, nil
}

// dirInspect asks the node that runs process ID (named Name) about it.
type dirInspect struct {
	Name string
	ID   uint64
}

// dirInspected answers dirInspect; Err says why it could not.
type dirInspected struct {
	In  Inspection
	Err string
}

func inspected(in Inspection, err error) dirInspected {
	if err != nil {
		return dirInspected{Err: err.Error()}
	}
	return dirInspected{In: in}
}

// dirDrain asks a node to drain (Registry.DrainNode): it starts once and
// every ask says how it goes.
type dirDrain struct{}

// dirDrained answers dirDrain: Done once the node has drained; Err says
// why it could not.
type dirDrained struct {
	Done bool
	Err  string
}

// drainAsked runs a drain another node asked for; its state is guarded by
// mu.
type drainAsked struct {
	mu      sync.Mutex
	started bool
	done    bool
	err     error
}

// askDrain starts the drain once (owned by the host: close ends it) and
// says how it goes.
func (h *dirHost) askDrain() dirDrained {
	d := &h.asked
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started {
		if h.ctx.Err() != nil {
			return dirDrained{Err: "the node is closing"}
		}
		d.started = true
		h.log.Info("registry: draining, as another node asked (shoal drain)")
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			err := h.drain(h.ctx)
			d.mu.Lock()
			d.done, d.err = true, err
			d.mu.Unlock()
		}()
	}
	out := dirDrained{Done: d.done}
	if d.err != nil {
		out.Err = d.err.Error()
	}
	return out
}

// opsEndpointID is the system process id of every node's operator
// endpoint (inspections and drains: rare, and slower than a listing).
const opsEndpointID = endpointID + 2

// opsEndpoint answers other nodes' inspections and drains.
type opsEndpoint struct{ r *Registry }

// inspectTimeout bounds an inspection's wait for the process's turn.
const inspectTimeout = 2 * time.Second

func (ep *opsEndpoint) HandleCall(ctx context.Context, _ process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case dirInspect:
		ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
		defer cancel()
		return inspected(ep.r.inspectLocal(ctx, m.Name, m.ID)), nil
	case dirDrain:
		return ep.r.dir.askDrain(), nil
	case dirLookup:
		return ep.r.dir.lookup(m.Name), nil
	}
	return nil, fmt.Errorf("registry operator endpoint: unknown message %T", msg)
}

func (ep *opsEndpoint) HandleCast(context.Context, process.Self, any) {}
func (ep *opsEndpoint) HandleInfo(context.Context, process.Self, any) {}

// drainPoll is how often DrainNode asks a draining node how it goes.
const drainPoll = 200 * time.Millisecond

// DrainNode drains node (this one or another member) as Drain does: it
// hands every process there to the nodes that will serve them once it is
// gone and places nothing there from then on, and returns when that is
// done or ctx ends (the drain goes on). The node keeps running, not
// ready (Synced says it drains), until it is stopped: an operator drains
// a node before taking it away.
func (r *Registry) DrainNode(ctx context.Context, node string) error {
	if node == r.rt.Node() {
		return r.Drain(ctx)
	}
	if r.dir == nil {
		return fmt.Errorf("drain %s: %w: a single-node registry knows no other node", node, ErrNotHere)
	}
	r.dir.mu.RLock()
	_, member := r.dir.view[node]
	r.dir.mu.RUnlock()
	if !member {
		return fmt.Errorf("drain %s: not a live member", node)
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		v, err := r.rt.Call(ctx, process.Ref{Node: node, ID: opsEndpointID}, dirDrain{})
		if err != nil {
			return fmt.Errorf("drain %s: %w", node, err)
		}
		a, ok := v.(dirDrained)
		switch {
		case !ok:
			return fmt.Errorf("drain %s: answer %T", node, v)
		case a.Err != "":
			return fmt.Errorf("drain %s: %s", node, a.Err)
		case a.Done:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain %s: %w (it goes on)", node, ctx.Err())
		case <-t.C:
		}
	}
}
