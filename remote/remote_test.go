package remote_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/remote"
	"github.com/shoalhq/shoal/transport"
)

// Test messages.
type (
	seq   struct{ From, N int }
	get   struct{}
	block struct{ Millis int }
	boom  struct{}
	fail  struct{}
)

func newCodec(t clustertest.T) *codec.Codec {
	c := codec.New()
	for name, v := range map[string]any{"t.seq": seq{}, "t.get": get{}, "t.block": block{}, "t.boom": boom{}, "t.fail": fail{}} {
		if err := c.Register(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// sink records sequences and answers calls.
type sink struct {
	mu   sync.Mutex
	seen map[int][]int
}

func (s *sink) HandleCall(ctx context.Context, _ process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case get:
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, v := range s.seen {
			n += len(v)
		}
		return n, nil
	case block:
		select {
		case <-time.After(time.Duration(m.Millis) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return "done", nil
	case boom:
		panic("remote boom")
	case fail:
		return nil, errors.New("refused by handler")
	case seq:
		return m.N, nil
	}
	return nil, fmt.Errorf("unknown %T", msg)
}

func (s *sink) HandleCast(_ context.Context, _ process.Self, msg any) {
	if m, ok := msg.(seq); ok {
		s.mu.Lock()
		s.seen[m.From] = append(s.seen[m.From], m.N)
		s.mu.Unlock()
	}
}

func (s *sink) HandleInfo(ctx context.Context, self process.Self, msg any) {
	s.HandleCast(ctx, self, msg)
}

type node = clustertest.Node

func pair(t *testing.T) (*node, *node) {
	t.Helper()
	nodes := clustertest.StartCluster(t, 2, clustertest.Options{Codec: newCodec, NoRegistry: true})
	return nodes[0], nodes[1]
}

func TestRemoteCallCastSend(t *testing.T) {
	a, b := pair(t)
	s := &sink{seen: map[int][]int{}}
	p, err := b.Runtime.Start(context.Background(), s, process.SpawnOptions{Name: "sink"})
	if err != nil {
		t.Fatal(err)
	}
	ref := p.Ref()
	ctx := context.Background()
	if v, err := a.Runtime.Call(ctx, ref, seq{N: 7}); err != nil || v != 7 {
		t.Fatalf("remote call = %v, %v", v, err)
	}
	// Order: many senders on a, each in sequence, casts and sends mixed.
	const senders, per = 4, 2000
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range per {
				var err error
				if i%2 == 0 {
					err = a.Runtime.Cast(ref, seq{From: s, N: i})
				} else {
					err = a.Runtime.Send(ref, seq{From: s, N: i})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := a.Runtime.Call(ctx, ref, get{})
		if err != nil {
			t.Fatal(err)
		}
		if v == senders*per {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v of %d messages arrived", v, senders*per)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for from, got := range s.seen {
		for i, n := range got {
			if n != i {
				t.Fatalf("sender %d: message %d arrived as %d-th", from, n, i)
			}
		}
	}
}

func TestRemoteErrors(t *testing.T) {
	a, b := pair(t)
	p, _ := b.Runtime.Start(context.Background(), &sink{seen: map[int][]int{}}, process.SpawnOptions{Name: "sink"})
	ref := p.Ref()
	ctx := context.Background()

	var rerr *remote.Error
	if _, err := a.Runtime.Call(ctx, ref, fail{}); !errors.As(err, &rerr) || rerr.Message != "refused by handler" {
		t.Fatalf("handler error = %v", err)
	}
	if _, err := a.Runtime.Call(ctx, process.Ref{Node: ref.Node, ID: ref.ID + 1}, get{}); !errors.Is(err, process.ErrNoProcess) {
		t.Fatalf("missing process = %v", err)
	}
	type unregistered struct{}
	if _, err := a.Runtime.Call(ctx, ref, unregistered{}); !errors.Is(err, codec.ErrUnregistered) {
		t.Fatalf("unregistered message = %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := a.Runtime.Call(short, ref, block{Millis: 5000}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call = %v", err)
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Fatalf("call hung %v past a 100ms deadline", el)
	}
	if _, err := a.Runtime.Call(ctx, ref, boom{}); !errors.Is(err, process.ErrStopped) {
		t.Fatalf("panicking handler = %v", err)
	}
	if _, err := a.Runtime.Call(ctx, ref, get{}); !errors.Is(err, process.ErrNoProcess) {
		t.Fatalf("call after panic = %v", err)
	}
	if _, err := a.Runtime.Call(ctx, process.Ref{Node: "nobody@127.0.0.1", ID: 1}, get{}); !errors.Is(err, remote.ErrUnreachable) {
		t.Fatalf("unknown node = %v", err)
	}
}

func TestCallFailsFastWhenNodeGoesDown(t *testing.T) {
	a, b := pair(t)
	p, _ := b.Runtime.Start(context.Background(), &sink{seen: map[int][]int{}}, process.SpawnOptions{Name: "sink"})
	res := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { _, err := a.Runtime.Call(ctx, p.Ref(), block{Millis: 60_000}); res <- err }()
	time.Sleep(50 * time.Millisecond) // let the call reach b (not synchronisation of the result)
	b.Kill()
	select {
	case err := <-res:
		if !errors.Is(err, remote.ErrUnreachable) {
			t.Fatalf("call to a crashed node = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("call to a crashed node hung")
	}
}

func TestRemoteCallAsync(t *testing.T) {
	a, b := pair(t)
	s := &sink{seen: map[int][]int{}}
	p, _ := b.Runtime.Start(context.Background(), s, process.SpawnOptions{Name: "sink"})
	type outcome struct {
		v   any
		err error
	}
	got := make(chan outcome, 3)
	done := func(v any, err error) { got <- outcome{v, err} }
	ctx := context.Background()
	// Queued in order with one-way messages: the count includes the cast.
	if err := a.Remote.Cast(p.Ref(), seq{N: 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.Remote.CallAsync(ctx, p.Ref(), get{}, done); err != nil {
		t.Fatal(err)
	}
	if o := <-got; o.err != nil || o.v != 1 {
		t.Fatalf("async call = %v, %v; want 1 (the cast before it)", o.v, o.err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := a.Remote.CallAsync(short, p.Ref(), block{Millis: 5000}, done); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-got:
		if !errors.Is(o.err, context.DeadlineExceeded) {
			t.Fatalf("slow async call = %v", o.err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("async call hung past its deadline")
	}
	if err := a.Remote.CallAsync(ctx, process.Ref{Node: p.Ref().Node, ID: 999}, get{}, done); err != nil {
		t.Fatal(err)
	}
	if o := <-got; !errors.Is(o.err, process.ErrNoProcess) {
		t.Fatalf("async call to a missing process = %v", o.err)
	}
	select {
	case o := <-got:
		t.Fatalf("done called more than once per call: %v", o)
	default:
	}
}

// forgetful is a Dialer that does not know node until told: membership
// on a node that has not heard of a joining or healed peer yet.
type forgetful struct {
	inner remote.Dialer
	node  string
	known chan struct{}
	asked chan struct{} // closed at the first dial it refused
	once  sync.Once
}

func (f *forgetful) DialLink(ctx context.Context, node string) (*transport.Link, error) {
	if node == f.node {
		select {
		case <-f.known:
		default:
			f.once.Do(func() { close(f.asked) })
			return nil, fmt.Errorf("dial link: %q: %w", node, cluster.ErrUnknownMember)
		}
	}
	return f.inner.DialLink(ctx, node)
}

// A node answering a call from a peer its membership does not list yet
// keeps the reply until it can reach the peer (a heal: the lost replies
// stalled listings for their whole timeout), instead of dropping it.
func TestReplyWaitsForAPeerMembershipDoesNotListYet(t *testing.T) {
	a, b := pair(t)
	f := &forgetful{inner: b.Cluster, node: a.Name, known: make(chan struct{}), asked: make(chan struct{})}
	if err := b.Remote.Attach(b.Runtime, f); err != nil {
		t.Fatal(err)
	}
	p, err := b.Runtime.Start(context.Background(), &sink{seen: map[int][]int{}}, process.SpawnOptions{Name: "sink"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := make(chan error, 1)
	go func() { _, err := a.Runtime.Call(ctx, p.Ref(), get{}); res <- err }()
	select {
	case <-f.asked: // b answered and could not dial a
	case err := <-res:
		t.Fatalf("the call returned before b could reach a: %v", err)
	case <-ctx.Done():
		t.Fatal("b never tried to answer")
	}
	close(f.known) // membership catches up
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("call answered once b knew a: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the reply was lost: the call waited for its whole timeout")
	}
}

// A remote attached to another node's runtime is refused at once (the
// mismatch used to show only as messages going astray).
func TestAttachChecksTheNode(t *testing.T) {
	r, err := remote.New(remote.Config{Node: "a@h", Codec: newCodec(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rt, err := process.NewRuntime(process.Config{Node: "b@h"}, process.NewKinds())
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	if err := r.Attach(rt, nil); err == nil || !strings.Contains(err.Error(), `the runtime is node "b@h", this remote node "a@h"`) {
		t.Fatalf("attach to another node's runtime: %v", err)
	}
	if r.Node() != "a@h" {
		t.Fatalf("Node() = %q", r.Node())
	}
}

// gate holds its first call until released.
type gate struct {
	started, release chan struct{}
}

func (g *gate) HandleCall(context.Context, process.Self, any) (any, error) {
	if g.started != nil {
		close(g.started)
		g.started = nil
		<-g.release
	}
	return "ok", nil
}
func (g *gate) HandleCast(context.Context, process.Self, any) {}
func (g *gate) HandleInfo(context.Context, process.Self, any) {}

// TestRemoteMailboxFull: a call to a process on another node whose
// bounded mailbox is full and fails when full gets an error that is
// process.ErrMailboxFull there as here, and names the kind.
func TestRemoteMailboxFull(t *testing.T) {
	a, b := pair(t)
	g := &gate{started: make(chan struct{}), release: make(chan struct{})}
	started := g.started
	if err := b.Runtime.Kinds().RegisterWith("narrow", func([]byte) (process.Behavior, error) { return g, nil },
		process.KindOptions{Mailbox: process.MailboxOptions{Size: 1, Overflow: process.OverflowFail}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := b.Runtime.Spawn(ctx, process.Spec{Kind: "narrow"}, process.SpawnOptions{Name: "narrow"})
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { _, err := p.Call(ctx, get{}); held <- err }()
	<-started
	if err := p.TryCast(seq{N: 1}); err != nil { // its one slot
		t.Fatal(err)
	}
	_, err = a.Runtime.Call(ctx, p.Ref(), get{})
	close(g.release)
	if !errors.Is(err, process.ErrMailboxFull) {
		t.Fatalf("call to a full mailbox on another node: %v; want process.ErrMailboxFull", err)
	}
	if !strings.Contains(err.Error(), `kind "narrow"`) {
		t.Fatalf("the error does not name the kind: %v", err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
