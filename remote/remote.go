// Package remote carries process messages between nodes: call, cast and
// send to a process.Ref of another node, over the cluster's authenticated
// links (package transport), with messages encoded by package codec.
//
// Each node keeps one outgoing link per peer node and writes to it from
// one goroutine, in the order messages were handed to it, batching frames
// under load into one TLS record write; so messages from one sender to one
// process arrive in the order they were sent. A call or a reply that
// finds the link idle, with nothing waiting, is written at once by the
// goroutine that makes it (a hand-off to the writer would add a
// goroutine wake-up to every round trip); while that write lasts, what
// comes waits for the writer, in order. A node reads requests and
// replies from the links other nodes open to it. A reply travels back on
// the replying node's own outgoing link to the caller's node.
//
// A call carries its remaining time; the receiving node drops it if that
// runs out before the process reaches it, and the caller never waits past
// its own deadline. When the link to a node fails, or the cluster reports
// it down, calls waiting on it fail at once with ErrUnreachable.
//
// Errors a handler returns cross the wire as text (an *Error); the runtime
// errors keep their identity: errors.Is(err, process.ErrNoProcess),
// process.ErrStopped, process.ErrMailboxFull, context.DeadlineExceeded
// work on a remote call's error as on a local one.
package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/transport"
)

var (
	// ErrUnreachable means no link to the node could be kept: it is down,
	// unknown, or refused us.
	ErrUnreachable = errors.New("node unreachable")
	// ErrNotAttached means the Remote has no runtime yet.
	ErrNotAttached = errors.New("remote not attached to a runtime")
	// ErrClosed means the Remote has been closed.
	ErrClosed = errors.New("remote closed")
)

// Error is a failure reported by the remote node.
type Error struct {
	// Node is the node that reported it.
	Node string
	// Code classifies it (see Is).
	Code byte
	// Message is the error's text on that node.
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("remote %s: %s", e.Node, e.Message) }

// Is lets errors.Is match the runtime sentinels a remote error stands for.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case statusNoProcess:
		return target == process.ErrNoProcess
	case statusStopped, statusPanic:
		return target == process.ErrStopped
	case statusDeadline:
		return target == context.DeadlineExceeded
	case statusCanceled:
		return target == context.Canceled
	case statusCodecError:
		return target == codec.ErrUnregistered || target == codec.ErrMalformed
	case statusFull:
		return target == process.ErrMailboxFull
	}
	return false
}

// Dialer opens a link to a node by name; *cluster.Cluster is one.
type Dialer interface {
	DialLink(ctx context.Context, node string) (*transport.Link, error)
}

// Config configures a Remote.
type Config struct {
	// Node is this node's name.
	Node string
	// Codec encodes messages; every message type must be registered in it.
	Codec *codec.Codec
	// DialTimeout bounds opening a link; 0 means 5s.
	DialTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// ObserveCall, if set, is told of every call this node makes to a
	// process on another node (Call and CallAsync): the node, how long it
	// took to its reply or failure, and the error (metrics). It runs on
	// the caller's or a link's goroutine and must be quick.
	ObserveCall func(node string, took time.Duration, err error)
	// MaxQueue bounds the memory of the messages waiting to be written to
	// one node; 0 means 8 MiB. A message that finds the queue full waits for
	// room, within its caller's context (calls) or SendTimeout (casts,
	// sends, replies), then fails with ErrQueueFull: a node sending faster
	// than the network or the other node takes it slows down instead of
	// growing its memory.
	MaxQueue int
	// SendTimeout bounds that wait for what has no context; 0 means 5 s.
	SendTimeout time.Duration
	// WriteTimeout bounds one write of queued messages to a link; 0
	// means 10 s. A write that takes longer (a node whose packets are
	// dropped) fails the link: its messages are dropped, its pending
	// calls fail, and the next message dials again.
	WriteTimeout time.Duration
	// Heartbeat is how often an idle link carries a heartbeat; 0 means
	// 1 s. A link from a node that sends heartbeats and is silent for
	// LinkTimeout (0 means 10 s) is closed: the network lost it even if
	// membership still sees the node.
	Heartbeat, LinkTimeout time.Duration
}

// ErrQueueFull means a message to another node found the queue of
// messages waiting for that node full for as long as it could wait.
var ErrQueueFull = errors.New("queue to node full")

// PeerStats are the traffic with one other node since this one started.
type PeerStats struct {
	Node string
	// FramesIn and BytesIn were read from the links the node opened to
	// this one; FramesOut and BytesOut written to this node's link to it
	// (frame payloads, without the links' own framing and encryption).
	FramesIn, BytesIn, FramesOut, BytesOut uint64
	// Errors counts the links to or from it that failed (a dial that did
	// not connect, a write or read that failed, a frame that did not
	// decode); Dropped the frames queued for it that could not be sent.
	Errors, Dropped uint64
	// Refused counts the casts and sends from it dropped here because
	// their process's bounded mailbox was full.
	Refused uint64
}

// peerCounters are one node's PeerStats, updated as traffic passes.
type peerCounters struct {
	framesIn, bytesIn, framesOut, bytesOut, errors, dropped, refused atomic.Uint64
	refusedLog                                                       atomic.Int64 // when a refusal was last logged (unix ns)
}

// Remote is a node's gateway to processes on other nodes. It implements
// process.Remote. Safe for concurrent use.
type Remote struct {
	node    string
	codec   *codec.Codec
	log     *slog.Logger
	timeout time.Duration

	rt     atomic.Pointer[process.Runtime]
	dialer atomic.Pointer[dialerBox]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	peers  map[string]*peer
	closed bool
	// heard is when a frame last came from each node (unix nanoseconds):
	// a node that talks to us exists, even while membership here has not
	// listed it yet (the first moments after a join or a heal).
	heard map[string]*atomic.Int64
	// counters are each node's traffic (PeerStats), kept after its
	// link goes: a node that comes back carries on counting.
	counters map[string]*peerCounters

	// frames are the buffers frames are built in (*[]byte).
	frames sync.Pool

	pendMu  sync.Mutex
	pending map[uint64]*pendingCall
	nextID  atomic.Uint64

	// Counters for tests and metrics.
	framesIn, framesOut atomic.Uint64

	observeCall func(node string, took time.Duration, err error)
	following   atomic.Bool // follows a membership (Attach)

	maxQueue                                          int
	sendTimeout, writeTimeout, heartbeat, linkTimeout time.Duration
}

type dialerBox struct{ d Dialer }

var _ process.Remote = (*Remote)(nil)

type pendingCall struct {
	node string
	ch   chan callResult  // buffered 1; or
	cb   func(any, error) // for CallAsync
	stop func() bool      // stops CallAsync's watch on its context
}

// deliver hands the outcome to the caller. Whoever removed pc from the
// pending table delivers, exactly once.
func (pc *pendingCall) deliver(res callResult) {
	if pc.cb == nil {
		select {
		case pc.ch <- res:
		default:
		}
		return
	}
	if pc.stop != nil {
		pc.stop()
	}
	pc.cb(res.val, res.err)
}

type callResult struct {
	val any
	err error
}

// or returns v, or def if v is 0.
func or[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// New returns a Remote. Attach a runtime and a dialer before traffic.
func New(cfg Config) (*Remote, error) {
	if cfg.Node == "" || cfg.Codec == nil {
		return nil, errors.New("remote: need a node name and a codec")
	}
	r := &Remote{
		node:        cfg.Node,
		codec:       cfg.Codec,
		log:         cfg.Logger,
		timeout:     cfg.DialTimeout,
		peers:       make(map[string]*peer),
		pending:     make(map[uint64]*pendingCall),
		counters:    make(map[string]*peerCounters),
		observeCall: cfg.ObserveCall,
	}
	r.frames.New = func() any { return new([]byte) }
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.timeout == 0 {
		r.timeout = 5 * time.Second
	}
	r.maxQueue, r.sendTimeout, r.writeTimeout = or(cfg.MaxQueue, 8<<20), or(cfg.SendTimeout, 5*time.Second), or(cfg.WriteTimeout, 10*time.Second)
	r.heartbeat, r.linkTimeout = or(cfg.Heartbeat, time.Second), or(cfg.LinkTimeout, 10*time.Second)
	if r.maxQueue < 0 || r.sendTimeout < 0 || r.writeTimeout < 0 || r.heartbeat < 0 || r.linkTimeout < 0 {
		return nil, errors.New("remote: negative MaxQueue, SendTimeout, WriteTimeout, Heartbeat or LinkTimeout")
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Attach gives the Remote the runtime that incoming messages go to and the
// dialer that reaches other nodes. Call it once, before traffic. It
// fails if the runtime is another node than the Remote. A dialer that
// also reports membership events (Subscribe, as *cluster.Cluster does)
// is followed: a node that goes down or leaves fails the calls waiting
// on it at once, and its link is dropped.
func (r *Remote) Attach(rt *process.Runtime, d Dialer) error {
	if rt.Node() != r.node {
		return fmt.Errorf("remote: attach: the runtime is node %q, this remote node %q (give both the same name)", rt.Node(), r.node)
	}
	r.rt.Store(rt)
	r.dialer.Store(&dialerBox{d: d})
	if m, ok := d.(interface{ Subscribe() cluster.Subscription }); ok && r.following.CompareAndSwap(false, true) {
		r.follow(m.Subscribe())
	}
	return nil
}

// Node returns the name of the node this remote speaks for.
func (r *Remote) Node() string { return r.node }

// Call sends a call to ref on its node and waits for the reply or ctx's
// end.
func (r *Remote) Call(ctx context.Context, ref process.Ref, msg any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("call %s: %w", ref, err)
	}
	id := r.nextID.Add(1)
	bp, err := r.callFrame(ctx, id, ref, msg)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", ref, err)
	}
	pc := &pendingCall{node: ref.Node, ch: make(chan callResult, 1)}
	r.pendMu.Lock()
	r.pending[id] = pc
	r.pendMu.Unlock()
	defer func() {
		r.pendMu.Lock()
		delete(r.pending, id)
		r.pendMu.Unlock()
	}()
	var began time.Time
	if r.observeCall != nil {
		began = time.Now()
	}
	err = r.enqueue(ctx, ref.Node, *bp, true)
	r.freeFrame(bp) // enqueue keeps no reference: the buffer is free while the call waits
	if err != nil {
		r.observed(ref.Node, began, err)
		return nil, fmt.Errorf("call %s: %w", ref, err)
	}
	var res callResult
	select {
	case res = <-pc.ch:
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	r.observed(ref.Node, began, res.err)
	if res.err != nil {
		return nil, callError(ref, msg, res.err)
	}
	return res.val, nil
}

// callError wraps a failed call's error, naming the message's type when
// a codec refused it (here or on the other node).
func callError(ref process.Ref, msg any, err error) error {
	if errors.Is(err, codec.ErrUnregistered) || errors.Is(err, codec.ErrMalformed) {
		return fmt.Errorf("call %s with %T: %w", ref, msg, err)
	}
	return fmt.Errorf("call %s: %w", ref, err)
}

// observed reports a call that began at began (zero: not observed).
func (r *Remote) observed(node string, began time.Time, err error) {
	if r.observeCall != nil && !began.IsZero() {
		r.observeCall(node, time.Since(began), err)
	}
}

// CallAsync sends a call to ref on its node and returns once it is queued;
// done receives the reply or the error (ctx's end, the node going down),
// exactly once, unless CallAsync returns an error. done runs on a link's
// goroutine and must not block.
func (r *Remote) CallAsync(ctx context.Context, ref process.Ref, msg any, done func(any, error)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("call %s: %w", ref, err)
	}
	id := r.nextID.Add(1)
	bp, err := r.callFrame(ctx, id, ref, msg)
	if err != nil {
		return fmt.Errorf("call %s: %w", ref, err)
	}
	defer r.freeFrame(bp)
	var began time.Time
	if r.observeCall != nil {
		began = time.Now()
	}
	pc := &pendingCall{node: ref.Node, cb: func(v any, err error) {
		r.observed(ref.Node, began, err)
		if err != nil {
			err = fmt.Errorf("call %s: %w", ref, err)
		}
		done(v, err)
	}}
	r.pendMu.Lock()
	r.pending[id] = pc
	r.pendMu.Unlock()
	if err := r.enqueue(ctx, ref.Node, *bp, true); err != nil {
		r.pendMu.Lock()
		_, mine := r.pending[id]
		delete(r.pending, id)
		r.pendMu.Unlock()
		if mine {
			return fmt.Errorf("call %s: %w", ref, err)
		}
		return nil // already failed through done (the node went down)
	}
	stop := context.AfterFunc(ctx, func() {
		r.pendMu.Lock()
		_, mine := r.pending[id]
		delete(r.pending, id)
		r.pendMu.Unlock()
		if mine {
			pc.cb(nil, ctx.Err())
		}
	})
	r.pendMu.Lock()
	if _, still := r.pending[id]; still {
		pc.stop = stop
	} else {
		stop() // answered already
	}
	r.pendMu.Unlock()
	return nil
}

// Cast sends msg to ref's HandleCast. It returns once the message is
// queued for the link; delivery is not confirmed.
func (r *Remote) Cast(ref process.Ref, msg any) error {
	return r.oneWay(kindCast, ref, msg)
}

// Send sends msg to ref's HandleInfo, like Cast.
func (r *Remote) Send(ref process.Ref, msg any) error {
	return r.oneWay(kindSend, ref, msg)
}

func (r *Remote) oneWay(kind byte, ref process.Ref, msg any) error {
	// Encode straight into the frame: kind, target, then the value.
	bp := r.startFrame()
	defer r.freeFrame(bp)
	b, err := r.codec.Append(appendCast(*bp, kind, ref.ID, nil), msg)
	if err != nil {
		return fmt.Errorf("send to %s: %w", ref, err)
	}
	*bp = b
	if err := r.enqueue(nil, ref.Node, endFrame(b), false); err != nil {
		return fmt.Errorf("send to %s: %w", ref, err)
	}
	return nil
}

// callFrame builds call id's frame: the call, its remaining time, the
// message.
func (r *Remote) callFrame(ctx context.Context, id uint64, ref process.Ref, msg any) (*[]byte, error) {
	timeout := 24 * time.Hour
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	bp := r.startFrame()
	b, err := r.codec.Append(appendCall(*bp, id, ref.ID, timeout, nil), msg)
	if err != nil {
		r.freeFrame(bp)
		return nil, err
	}
	*bp = endFrame(b)
	return bp, nil
}

// follow makes the Remote call NodeDown for every node sub reports down or
// left, until the subscription ends or the Remote is closed (which closes
// sub).
func (r *Remote) follow(sub cluster.Subscription) {
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		for ev := range sub.Events() {
			if ev.Type == cluster.EventDown || ev.Type == cluster.EventLeft {
				r.NodeDown(ev.Member.Name)
			}
		}
	}()
	go func() {
		defer r.wg.Done()
		<-r.ctx.Done()
		sub.Close()
	}()
}

// NodeDown fails at once every call waiting on node and drops its link;
// Attach wires it to the cluster's down and left events.
func (r *Remote) NodeDown(node string) {
	r.failPending(node, fmt.Errorf("%w: %s is down", ErrUnreachable, node))
	r.mu.Lock()
	p := r.peers[node]
	delete(r.peers, node)
	r.mu.Unlock()
	if p != nil {
		p.close()
	}
}

func (r *Remote) failPending(node string, err error) {
	r.pendMu.Lock()
	defer r.pendMu.Unlock()
	var failed []*pendingCall
	for id, pc := range r.pending {
		if pc.node == node {
			failed = append(failed, pc)
			delete(r.pending, id)
		}
	}
	r.pendMu.Unlock()
	for _, pc := range failed {
		pc.deliver(callResult{err: err})
	}
	r.pendMu.Lock() // for the deferred unlock
}

// Close stops every outgoing link and waits for its goroutines; calls
// waiting fail. Idempotent.
func (r *Remote) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.wg.Wait()
		return nil
	}
	r.closed = true
	peers := r.peers
	r.peers = map[string]*peer{}
	r.mu.Unlock()
	r.cancel()
	for _, p := range peers {
		p.close()
	}
	r.wg.Wait()
	r.pendMu.Lock()
	failed := make([]*pendingCall, 0, len(r.pending))
	for id, pc := range r.pending {
		failed = append(failed, pc)
		delete(r.pending, id)
	}
	r.pendMu.Unlock()
	for _, pc := range failed {
		pc.deliver(callResult{err: ErrClosed})
	}
	return nil
}

// Stats returns how many frames this node has read and written.
func (r *Remote) Stats() (in, out uint64) { return r.framesIn.Load(), r.framesOut.Load() }

// countersLocked returns node's counters, made on first use; r.mu is
// held.
func (r *Remote) countersLocked(node string) *peerCounters {
	c := r.counters[node]
	if c == nil {
		c = new(peerCounters)
		r.counters[node] = c
	}
	return c
}

// Peers returns the traffic with every node this one has exchanged
// frames with, sorted by node name.
func (r *Remote) Peers() []PeerStats {
	r.mu.Lock()
	out := make([]PeerStats, 0, len(r.counters))
	for node, c := range r.counters {
		out = append(out, PeerStats{
			Node: node, FramesIn: c.framesIn.Load(), BytesIn: c.bytesIn.Load(),
			FramesOut: c.framesOut.Load(), BytesOut: c.bytesOut.Load(),
			Errors: c.errors.Load(), Dropped: c.dropped.Load(), Refused: c.refused.Load(),
		})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerStats) int { return strings.Compare(a.Node, b.Node) })
	return out
}
