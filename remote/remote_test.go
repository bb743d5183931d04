package remote_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/remote"
)

const secret = "remote-test-cookie-0123456789"

// Test messages.
type (
	seq   struct{ From, N int }
	get   struct{}
	block struct{ Millis int }
	boom  struct{}
	fail  struct{}
)

func newCodec(t testing.TB) *codec.Codec {
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

type node struct {
	rt  *process.Runtime
	rem *remote.Remote
	cl  *cluster.Cluster
}

func startNode(t *testing.T, name string, join string) *node {
	t.Helper()
	c, _ := cookie.Parse(secret)
	rem, err := remote.New(remote.Config{Node: name, Codec: newCodec(t)})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := process.NewRuntime(process.Config{Node: name, Remote: rem}, process.NewKinds())
	if err != nil {
		t.Fatal(err)
	}
	cfg := cluster.LoopbackConfig(name, c)
	cfg.OnLink = rem.HandleLink
	cl, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rem.Attach(rt, cl)
	n := &node{rt: rt, rem: rem, cl: cl}
	t.Cleanup(func() { n.stop() })
	if join != "" {
		if _, err := cl.Join(context.Background(), []string{join}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func (n *node) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.cl.Shutdown(ctx)
	_ = n.rem.Close()
	_ = n.rt.Shutdown(ctx)
}

func pair(t *testing.T) (*node, *node) {
	a := startNode(t, "a@127.0.0.1", "")
	b := startNode(t, "b@127.0.0.1", a.cl.Address())
	deadline := time.Now().Add(10 * time.Second)
	for len(a.cl.Nodes()) != 1 || len(b.cl.Nodes()) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("nodes never met")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return a, b
}

func TestRemoteCallCastSend(t *testing.T) {
	a, b := pair(t)
	s := &sink{seen: map[int][]int{}}
	p, err := b.rt.Start(context.Background(), s, process.SpawnOptions{Name: "sink"})
	if err != nil {
		t.Fatal(err)
	}
	ref := p.Ref()
	ctx := context.Background()
	if v, err := a.rt.Call(ctx, ref, seq{N: 7}); err != nil || v != 7 {
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
					err = a.rt.Cast(ref, seq{From: s, N: i})
				} else {
					err = a.rt.Send(ref, seq{From: s, N: i})
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
		v, err := a.rt.Call(ctx, ref, get{})
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
	p, _ := b.rt.Start(context.Background(), &sink{seen: map[int][]int{}}, process.SpawnOptions{Name: "sink"})
	ref := p.Ref()
	ctx := context.Background()

	var rerr *remote.Error
	if _, err := a.rt.Call(ctx, ref, fail{}); !errors.As(err, &rerr) || rerr.Message != "refused by handler" {
		t.Fatalf("handler error = %v", err)
	}
	if _, err := a.rt.Call(ctx, process.Ref{Node: ref.Node, ID: ref.ID + 1}, get{}); !errors.Is(err, process.ErrNoProcess) {
		t.Fatalf("missing process = %v", err)
	}
	type unregistered struct{}
	if _, err := a.rt.Call(ctx, ref, unregistered{}); !errors.Is(err, codec.ErrUnregistered) {
		t.Fatalf("unregistered message = %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := a.rt.Call(short, ref, block{Millis: 5000}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call = %v", err)
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Fatalf("call hung %v past a 100ms deadline", el)
	}
	if _, err := a.rt.Call(ctx, ref, boom{}); !errors.Is(err, process.ErrStopped) {
		t.Fatalf("panicking handler = %v", err)
	}
	if _, err := a.rt.Call(ctx, ref, get{}); !errors.Is(err, process.ErrNoProcess) {
		t.Fatalf("call after panic = %v", err)
	}
	if _, err := a.rt.Call(ctx, process.Ref{Node: "nobody@127.0.0.1", ID: 1}, get{}); !errors.Is(err, remote.ErrUnreachable) {
		t.Fatalf("unknown node = %v", err)
	}
}

func TestCallFailsFastWhenNodeGoesDown(t *testing.T) {
	a, b := pair(t)
	p, _ := b.rt.Start(context.Background(), &sink{seen: map[int][]int{}}, process.SpawnOptions{Name: "sink"})
	sub := a.cl.Subscribe()
	defer sub.Close()
	go func() {
		for ev := range sub.Events() {
			if ev.Type == cluster.EventDown || ev.Type == cluster.EventLeft {
				a.rem.NodeDown(ev.Member.Name)
			}
		}
	}()
	res := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { _, err := a.rt.Call(ctx, p.Ref(), block{Millis: 60_000}); res <- err }()
	time.Sleep(50 * time.Millisecond) // let the call reach b (not synchronisation of the result)
	b.stop()
	select {
	case err := <-res:
		if !errors.Is(err, remote.ErrUnreachable) {
			t.Fatalf("call to a crashed node = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("call to a crashed node hung")
	}
}
