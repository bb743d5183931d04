package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// counter is a test process: calls "get" return its count, "inc" adds one,
// "fail" returns an error, "crash" panics, "quit" stops it.
type counter struct{ n int }

func (c *counter) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	switch msg {
	case "inc":
		c.n++
		return c.n, nil
	case "fail":
		return nil, errors.New("refused")
	case "crash":
		panic("crash requested")
	case "quit":
		self.Stop(nil)
		return "bye", nil
	}
	return c.n, nil
}
func (c *counter) HandleCast(_ context.Context, _ process.Self, msg any) {
	if msg == "inc" {
		c.n++
	}
}
func (c *counter) HandleInfo(context.Context, process.Self, any) {}

type fixture struct {
	reg     *registry.Registry
	rt      *process.Runtime
	created atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	kinds := process.NewKinds()
	if err := kinds.Register("counter", func([]byte) (process.Behavior, error) {
		f.created.Add(1)
		return &counter{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	rt, err := process.NewRuntime(process.DefaultConfig(), kinds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	f.rt = rt
	f.reg, err = registry.New(registry.DefaultConfig(), rt)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var spec = process.Spec{Kind: "counter"}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRegisterIsIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ref, err := f.reg.Register(ctx, "a", spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Call(ctx, "a", "inc"); err != nil {
		t.Fatal(err)
	}
	again, err := f.reg.Register(ctx, "a", spec)
	if err != nil || again != ref {
		t.Fatalf("second register = %v, %v; want %v", again, err, ref)
	}
	if n, _ := f.reg.Call(ctx, "a", "get"); n != 1 {
		t.Fatalf("state after re-register = %v; want 1 (same process)", n)
	}
	if got := f.created.Load(); got != 1 {
		t.Fatalf("factory ran %d times; want 1", got)
	}
}

func TestConcurrentRegisterOneProcess(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const racers = 64
	refs := make([]process.Ref, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			ref, err := f.reg.Register(ctx, "contested", spec)
			if err != nil {
				t.Error(err)
			}
			refs[i] = ref
		})
	}
	wg.Wait()
	for _, r := range refs {
		if r != refs[0] {
			t.Fatalf("racers got different refs: %v vs %v", r, refs[0])
		}
	}
	if got := f.created.Load(); got != 1 {
		t.Fatalf("factory ran %d times; want 1", got)
	}
	if f.rt.Len() != 1 {
		t.Fatalf("%d processes; want 1", f.rt.Len())
	}
}

func TestWhereisRegisteredUnregister(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	want := map[string]process.Ref{}
	for i := range 100 {
		name := fmt.Sprintf("n%d", i)
		ref, err := f.reg.Register(ctx, name, spec)
		if err != nil {
			t.Fatal(err)
		}
		want[name] = ref
	}
	for name, ref := range want {
		got, err := f.reg.Whereis(ctx, name)
		if err != nil || got != ref {
			t.Fatalf("whereis %s = %v, %v; want %v", name, got, err, ref)
		}
	}
	all, err := f.reg.Registered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("registered lists %d; want %d", len(all), len(want))
	}
	for _, e := range all {
		if want[e.Name] != e.Ref || e.Kind != "counter" {
			t.Fatalf("registered entry %+v", e)
		}
	}
	if _, err := f.reg.Whereis(ctx, "missing"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("whereis missing = %v", err)
	}
	if _, err := f.reg.Call(ctx, "missing", "get"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("call missing = %v", err)
	}
	if err := f.reg.Unregister(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Whereis(ctx, "n1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("whereis after unregister = %v", err)
	}
	if _, ok := f.rt.Lookup(want["n1"]); ok {
		t.Fatal("unregistered process still runs")
	}
	if err := f.reg.Unregister(ctx, "n1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("second unregister = %v", err)
	}
	ref, err := f.reg.Register(ctx, "n1", spec)
	if err != nil || ref == want["n1"] {
		t.Fatalf("re-register after unregister = %v, %v; want a new process", ref, err)
	}
	if _, err := f.reg.Register(ctx, "", spec); !errors.Is(err, registry.ErrInvalidName) {
		t.Fatalf("empty name = %v", err)
	}
	if _, err := f.reg.Register(ctx, "x", process.Spec{Kind: "nope"}); !errors.Is(err, process.ErrUnknownKind) {
		t.Fatalf("unknown kind = %v", err)
	}
	if _, err := f.reg.Whereis(ctx, "x"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("failed registration left a name: %v", err)
	}
}

func TestExitFreesNameAndGroups(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, how := range []string{"quit", "crash"} {
		if _, err := f.reg.Register(ctx, how, spec); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.Join(ctx, "g", how); err != nil {
			t.Fatal(err)
		}
		_, _ = f.reg.Call(ctx, how, how)
		eventually(t, how+" name freed", func() bool {
			_, err := f.reg.Whereis(ctx, how)
			return errors.Is(err, registry.ErrNotFound)
		})
	}
	if m, _ := f.reg.Members(ctx, "g"); len(m) != 0 {
		t.Fatalf("group keeps exited members: %v", m)
	}
	if g := f.reg.Groups(); len(g) != 0 {
		t.Fatalf("empty group still listed: %v", g)
	}
}

func TestGroups(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 10 {
		name := fmt.Sprintf("m%02d", i)
		if _, err := f.reg.Register(ctx, name, spec); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.Join(ctx, "all", name); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := f.reg.Join(ctx, "even", name); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.reg.Join(ctx, "all", "m00"); err != nil {
		t.Fatalf("joining twice: %v", err)
	}
	if err := f.reg.Join(ctx, "all", "ghost"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("join unregistered = %v", err)
	}
	members, _ := f.reg.Members(ctx, "all")
	if len(members) != 10 || members[0].Name != "m00" || members[9].Name != "m09" {
		t.Fatalf("members = %v", members)
	}
	if err := f.reg.Leave(ctx, "all", "m03"); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Leave(ctx, "all", "m03"); err != nil {
		t.Fatalf("leaving twice: %v", err)
	}
	members, _ = f.reg.Members(ctx, "all")
	if len(members) != 9 {
		t.Fatalf("after leave %d members", len(members))
	}
	n, err := f.reg.Publish(ctx, "even", "inc")
	if err != nil || n != 5 {
		t.Fatalf("publish = %d, %v", n, err)
	}
	replies, err := f.reg.MultiCall(ctx, "all", "get")
	if err != nil || len(replies) != 9 {
		t.Fatalf("multicall = %v, %v", replies, err)
	}
	for i, r := range replies {
		want := 0
		if (r.Name[2]-'0')%2 == 0 {
			want = 1 // published inc arrived before this call (same sender order)
		}
		if r.Err != nil || r.Value != want {
			t.Fatalf("reply %d = %+v; want %d", i, r, want)
		}
	}
	replies, _ = f.reg.MultiCall(ctx, "even", "fail")
	for _, r := range replies {
		if r.Err == nil {
			t.Fatalf("failing member reply has no error: %+v", r)
		}
	}
	if got, _ := f.reg.Members(ctx, "nobody"); len(got) != 0 {
		t.Fatalf("unknown group members = %v", got)
	}
}

func BenchmarkWhereis(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			kinds := process.NewKinds()
			_ = kinds.Register("counter", func([]byte) (process.Behavior, error) { return &counter{}, nil })
			rt, _ := process.NewRuntime(process.DefaultConfig(), kinds)
			defer rt.Shutdown(context.Background())
			reg, _ := registry.New(registry.DefaultConfig(), rt)
			ctx := context.Background()
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("name-%d", i)
				if _, err := reg.Register(ctx, names[i], spec); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := reg.Whereis(ctx, names[i%n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestUnregisterThenRegisterNeverReturnsDeadProcess(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 300 {
		name := fmt.Sprintf("churn-%d", i%3)
		if _, err := f.reg.Register(ctx, name, spec); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.Unregister(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.Whereis(ctx, name); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("whereis right after unregister = %v", err)
		}
		if _, err := f.reg.Register(ctx, name, spec); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.Call(ctx, name, "get"); err != nil {
			t.Fatalf("iteration %d: registered process is dead: %v", i, err)
		}
		_ = f.reg.Unregister(ctx, name)
	}
}

func TestPanickingFactoryDoesNotWedgeName(t *testing.T) {
	f := newFixture(t)
	_ = f.rt.Kinds().Register("boom", func([]byte) (process.Behavior, error) { panic("no") })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.reg.Register(ctx, "x", process.Spec{Kind: "boom"}); err == nil {
		t.Fatal("registration with a panicking factory succeeded")
	}
	if _, err := f.reg.Register(ctx, "x", spec); err != nil {
		t.Fatalf("name stuck after a factory panic: %v", err)
	}
}
