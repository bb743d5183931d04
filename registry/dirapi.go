package registry

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry/internal/directory"
	"github.com/shoalhq/shoal/registry/internal/wire"
)

// The registry's operations on the partitioned directory: requests go to
// the name's primary (answered here if this node is it), listings gather
// from every node the partitions it serves.

// Errors of the partitioned directory.
var (
	// ErrUnavailable means no node serves the name's partition in this
	// node's view: no members, or fewer than the quorum.
	ErrUnavailable = directory.ErrNoPrimary
	// ErrTooLarge means a registration (its spec and groups) would not fit
	// in one message.
	ErrTooLarge = directory.ErrTooLarge
	// ErrStartFailed means the name's process could not be started.
	ErrStartFailed = directory.ErrStartFailed
	// ErrBusy means the name's primary has too many requests waiting.
	ErrBusy = directory.ErrBusy
	// ErrNoQuorum means fewer members are visible than Config.Quorum: the
	// node serves nothing (it wraps ErrUnavailable too).
	ErrNoQuorum = errors.New("no quorum")
	// ErrNoMembers means Drain found no node to hand processes to: every
	// other node is leaving as well.
	ErrNoMembers = errors.New("no other member to hand over to")
)

// dirWire carries a directory message between nodes' endpoints, with the
// incarnations it is from and for.
type dirWire struct {
	From, To directory.NodeID
	// Shape is the sender's partition count and replica count: nodes
	// whose shapes differ would place names differently, and do not talk.
	Shape  [2]int
	Bodies [][]byte // the messages, in order, each encoded by the codec
}

// dirWireFormat is the first byte of an encoded dirWire.
const dirWireFormat = 1

// MarshalBinary implements encoding.BinaryMarshaler: the codec sends
// this form (a generic one cost as much as the directory's own work on
// small messages).
func (w dirWire) MarshalBinary() ([]byte, error) {
	size := 48 + len(w.From.Name) + len(w.To.Name)
	for _, body := range w.Bodies {
		size += binary.MaxVarintLen32 + len(body)
	}
	b := make([]byte, 0, size)
	b = append(b, dirWireFormat)
	for _, id := range []directory.NodeID{w.From, w.To} {
		b = binary.AppendUvarint(wire.AppendString(b, id.Name), id.Inc)
	}
	b = binary.AppendUvarint(b, uint64(w.Shape[0]))
	b = binary.AppendUvarint(b, uint64(w.Shape[1]))
	b = binary.AppendUvarint(b, uint64(len(w.Bodies)))
	for _, body := range w.Bodies {
		b = wire.AppendBytes(b, body)
	}
	return b, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. The bodies share
// one copy of b.
func (w *dirWire) UnmarshalBinary(b []byte) error {
	d := wire.NewReader(slices.Clone(b))
	d.Format(dirWireFormat)
	w.From = directory.NodeID{Name: d.String(), Inc: d.Uvarint()}
	w.To = directory.NodeID{Name: d.String(), Inc: d.Uvarint()}
	w.Shape = [2]int{d.Int(), d.Int()}
	w.Bodies = nil
	if n := d.Count(1); n > 0 {
		w.Bodies = make([][]byte, n)
		for i := range w.Bodies {
			w.Bodies[i] = d.Shared()
		}
	}
	return d.End("directory message")
}

// dirList asks a node for the records of the partitions it serves (of
// one group, if Group is set).
type dirList struct{ Group string }

// dirListed answers dirList.
type dirListed struct {
	Parts   []int // the partitions served
	Entries []dirEntry
}

// dirEntry is one record in a listing.
type dirEntry struct {
	Name   string
	Node   string
	ID     uint64
	Kind   string
	Groups []string
}

// registerDirTypes registers the directory's wire types in c.
func registerDirTypes(c *codec.Codec) error {
	for name, v := range map[string]any{
		"shoal.registry.dir":       dirWire{},
		"shoal.registry.dirlist":   dirList{},
		"shoal.registry.dirlisted": dirListed{},
		"shoal.registry.inspect":   dirInspect{},
		"shoal.registry.inspected": dirInspected{},
		"shoal.registry.drain":     dirDrain{},
		"shoal.registry.drained":   dirDrained{},
		"shoal.registry.lookup":    dirLookup{},
		"shoal.registry.lookedup":  dirLookedUp{},
		"shoal.dir.ops":            directory.MsgOps{},
		"shoal.dir.ack":            directory.MsgAck{},
		"shoal.dir.digest":         directory.MsgDigest{},
		"shoal.dir.snapreq":        directory.MsgSnapReq{},
		"shoal.dir.snap":           directory.MsgSnap{},
		"shoal.dir.gather":         directory.MsgGather{},
		"shoal.dir.give":           directory.MsgGive{},
		"shoal.dir.giveack":        directory.MsgGiveAck{},
		"shoal.dir.report":         directory.MsgReport{},
		"shoal.dir.check":          directory.MsgCheck{},
		"shoal.dir.verdict":        directory.MsgVerdict{},
		"shoal.dir.groups":         directory.MsgGroups{},
		"shoal.dir.movestate":      directory.MsgMoveState{},
		"shoal.dir.moved":          directory.MsgMoved{},
		"shoal.dir.forwarded":      directory.MsgForwarded{},
		"shoal.dir.forwardedack":   directory.MsgForwardedAck{},
		"shoal.dir.resolve":        directory.MsgResolve{},
		"shoal.dir.resolveack":     directory.MsgResolveAck{},
		"shoal.dir.leaving":        directory.MsgLeaving{},
		"shoal.dir.request":        directory.MsgRequest{},
		"shoal.dir.reply":          directory.MsgReply{},
	} {
		if err := c.Register(name, v); err != nil {
			return err
		}
	}
	return nil
}

// dirEndpoint is the system process through which nodes' directories
// talk. It never blocks: each message is one step of the machine.
type dirEndpoint struct{ h *dirHost }

// listEndpointID is the system process id of every node's listing
// endpoint (a dirEndpoint too) under the partitioned directory.
const listEndpointID = endpointID + 1

func (ep *dirEndpoint) HandleCall(ctx context.Context, _ process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case dirList:
		return ep.h.listLocal(m.Group), nil
	case dirWire:
		ep.h.receive(m)
		return true, nil
	}
	return nil, fmt.Errorf("registry endpoint: unknown message %T", msg)
}

func (ep *dirEndpoint) HandleCast(_ context.Context, _ process.Self, msg any) {
	if m, ok := msg.(dirWire); ok {
		ep.h.receive(m)
	}
}

func (ep *dirEndpoint) HandleInfo(context.Context, process.Self, any) {}

// listLocal lists the records of the partitions this node serves.
func (h *dirHost) listLocal(group string) dirListed {
	var out dirListed
	h.mu.Lock()
	defer h.mu.Unlock()
	out.Parts = h.node.Served()
	h.node.List(group, func(r *directory.Record) {
		out.Entries = append(out.Entries, dirEntry{Name: r.Name, Node: r.Inst.Node.Name, ID: r.Inst.ID, Kind: r.Spec.Kind, Groups: slices.Clone(r.Groups())})
	})
	return out
}

// listWait bounds how long a listing waits for every partition to be
// served somewhere (while primaries gather after a change).
const listWait = 10 * time.Second

// listCallTimeout bounds one node's answer to one round of a listing.
const listCallTimeout = 2 * time.Second

// list gathers the records of every partition from the nodes that serve
// them (the first answer for each partition counts), asking again while
// some partition is served nowhere.
func (h *dirHost) listFresh(ctx context.Context, group string) ([]dirEntry, error) {
	deadline := time.Now().Add(listWait)
	for {
		entries, missing, err := h.listOnce(ctx, group)
		if err != nil {
			return nil, err
		}
		if missing == 0 {
			return entries, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %d partitions served by no node", ErrUnavailable, missing)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(h.tick):
		}
	}
}

func (h *dirHost) listOnce(ctx context.Context, group string) (entries []dirEntry, missing int, err error) {
	h.mu.Lock()
	nodes := make([]string, 0, len(h.view))
	for name := range h.view {
		if name != h.self.Name {
			nodes = append(nodes, name)
		}
	}
	parts := h.node.Partitions()
	h.mu.Unlock()
	slices.Sort(nodes)
	answers := make([]dirListed, len(nodes)+1)
	answers[0] = h.listLocal(group)
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Go(func() {
			// A node that does not answer soon is asked again in the next
			// round (its partitions count as missing until then): one lost
			// reply must not hold the listing for its whole deadline.
			cctx, cancel := context.WithTimeout(ctx, listCallTimeout)
			defer cancel()
			v, err := h.r.rt.Call(cctx, process.Ref{Node: node, ID: listEndpointID}, dirList{Group: group})
			if l, ok := v.(dirListed); ok && err == nil {
				answers[i+1] = l
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	covered := make([]bool, parts)
	for _, a := range answers {
		mine := map[int]bool{}
		for _, p := range a.Parts {
			if p >= 0 && p < parts && !covered[p] {
				covered[p], mine[p] = true, true
			}
		}
		for _, e := range a.Entries {
			if mine[directory.PartitionOf(e.Name, parts)] {
				entries = append(entries, e)
			}
		}
	}
	for _, c := range covered {
		if !c {
			missing++
		}
	}
	return entries, missing, nil
}

func (r *Registry) dirRegister(ctx context.Context, name string, spec process.Spec) (process.Ref, error) {
	a, err := r.dir.request(ctx, directory.ReqRegister, name, "", spec)
	if err != nil {
		return process.Ref{}, fmt.Errorf("register %q: %w", name, err)
	}
	return refOf(a.Inst), nil
}

func (r *Registry) dirWhereis(ctx context.Context, name string) (process.Ref, error) {
	h := r.dir
	h.mu.RLock()
	inst, found, _ := h.node.Where(name)
	h.mu.RUnlock()
	if found {
		return refOf(inst), nil
	}
	a, err := h.request(ctx, directory.ReqWhereis, name, "", process.Spec{})
	if err != nil {
		return process.Ref{}, fmt.Errorf("whereis %q: %w", name, err)
	}
	return refOf(a.Inst), nil
}

func (r *Registry) dirUnregister(ctx context.Context, name string) error {
	if _, err := r.dir.request(ctx, directory.ReqUnregister, name, "", process.Spec{}); err != nil {
		return fmt.Errorf("unregister %q: %w", name, err)
	}
	return nil
}

func (r *Registry) dirGroup(ctx context.Context, group, name string, join bool) error {
	op, verb := directory.ReqLeave, "leave"
	if join {
		op, verb = directory.ReqJoin, "join"
	}
	if group == "" {
		return fmt.Errorf("%s: %w: empty group", verb, ErrInvalidName)
	}
	_, err := r.dir.request(ctx, op, name, group, process.Spec{})
	if err != nil && !(errors.Is(err, ErrNotFound) && !join) {
		return fmt.Errorf("%s %q: %q: %w", verb, group, name, err)
	}
	return nil
}

// dirDeliver sends to the process registered under name: found where the
// directory says, and found again once if it moved or restarted on the
// way.
func (r *Registry) dirDeliver(ctx context.Context, name string, send func(process.Ref) (any, error)) (any, error) {
	h := r.dir
	ref, cached, err := h.whereisCached(ctx, name)
	if err != nil {
		return nil, err
	}
	v, err := send(ref)
	if err != nil && errors.Is(err, process.ErrNoProcess) {
		// Stale, or it moved or ended since: ask its primary.
		h.cache.drop(name, ref)
		ref2, err2 := r.dirWhereis(ctx, name)
		switch {
		case err2 != nil && cached:
			return nil, err2
		case err2 == nil && ref2 != ref:
			if !h.serving(name) {
				h.remember(name, ref2, time.Now())
			}
			return send(ref2)
		}
	}
	return v, err
}

// serving reports whether this node answers for name itself.
func (h *dirHost) serving(name string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.node.Serving(name)
}

// whereisCached finds name for a call by name: exactly if this node
// serves it, else from the cache or its primary.
func (h *dirHost) whereisCached(ctx context.Context, name string) (ref process.Ref, cached bool, err error) {
	h.mu.RLock()
	inst, found, serving := h.node.Where(name)
	h.mu.RUnlock()
	if found {
		return refOf(inst), false, nil
	}
	now := time.Now()
	if !serving {
		if ref, ok := h.cache.get(name, now); ok {
			return ref, true, nil
		}
	}
	ref, err = h.r.dirWhereis(ctx, name)
	if err != nil {
		return process.Ref{}, false, err
	}
	if !serving {
		h.remember(name, ref, now)
	}
	return ref, false, nil
}

// remember caches where name runs, unless its node is leaving (the
// process is about to move, and the node to go).
func (h *dirHost) remember(name string, ref process.Ref, now time.Time) {
	h.mu.RLock()
	defer h.mu.RUnlock() // a leaving notice (receive, under h.mu) drops it after, not before
	if !h.node.Leaving(ref.Node) {
		h.cache.put(name, ref, now)
	}
}

func (r *Registry) dirRegistered(ctx context.Context) ([]Entry, error) {
	entries, err := r.dir.list(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("registered: %w", err)
	}
	out := make([]Entry, len(entries))
	for i, e := range entries {
		out[i] = Entry{Name: e.Name, Ref: process.Ref{Node: e.Node, ID: e.ID}, Kind: e.Kind}
	}
	return out, nil
}

func (r *Registry) dirMembers(ctx context.Context, group string) ([]Member, error) {
	entries, err := r.dir.list(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("members of %q: %w", group, err)
	}
	out := make([]Member, len(entries))
	for i, e := range entries {
		out[i] = Member{Name: e.Name, Ref: process.Ref{Node: e.Node, ID: e.ID}}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (r *Registry) dirGroups(ctx context.Context) ([]string, error) {
	entries, err := r.dir.list(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	set := map[string]bool{}
	for _, e := range entries {
		for _, g := range e.Groups {
			set[g] = true
		}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	slices.Sort(out)
	return out, nil
}

// dirLen counts the names this node serves.
func (r *Registry) dirLen() int {
	r.dir.mu.Lock()
	defer r.dir.mu.Unlock()
	return r.dir.node.Stats().Records
}
