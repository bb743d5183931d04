package process_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoalhq/shoal/process"
)

// moody counts its calls; "panic" panics, "quit" stops it normally,
// "fail" stops it with a reason. inits counts its incarnations.
type moody struct {
	inits *int
	calls int
}

func (m *moody) Init(context.Context, process.Self) error { *m.inits++; return nil }
func (m *moody) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	m.calls++
	switch msg {
	case "panic":
		panic("moody")
	case "quit":
		self.Stop(nil)
	case "fail":
		self.Stop(errors.New("had enough"))
	}
	return m.calls, nil
}
func (m *moody) HandleCast(context.Context, process.Self, any) {}
func (m *moody) HandleInfo(context.Context, process.Self, any) {}

// TestRestartModes: what each mode restarts, in place (the same ref),
// from the spec (its count starts again), and the backoff before a
// restart.
func TestRestartModes(t *testing.T) {
	for _, c := range []struct {
		mode     process.RestartMode
		msg      string
		restarts bool
	}{
		{process.RestartTemporary, "panic", false},
		{process.RestartTransient, "panic", true},
		{process.RestartTransient, "quit", false},
		{process.RestartTransient, "fail", true},
		{process.RestartPermanent, "quit", true},
		{process.RestartPermanent, "fail", true},
	} {
		t.Run(c.mode.String()+"/"+c.msg, func(t *testing.T) {
			inits := 0
			kinds := process.NewKinds()
			policy := process.RestartPolicy{Mode: c.mode, Backoff: 30 * time.Millisecond}
			if err := kinds.RegisterWith("moody", func([]byte) (process.Behavior, error) { return &moody{inits: &inits}, nil }, process.KindOptions{Restart: policy}); err != nil {
				t.Fatal(err)
			}
			rt, err := process.NewRuntime(process.Config{Node: "a@h"}, kinds)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Shutdown(context.Background())
			ctx := context.Background()
			p, err := rt.Spawn(ctx, process.Spec{Kind: "moody"}, process.SpawnOptions{Name: "m"})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = p.Call(ctx, "hello")
			start := time.Now()
			_, _ = p.Call(ctx, c.msg)
			v, err := p.Call(ctx, "after")
			took := time.Since(start)
			if !c.restarts {
				if err == nil {
					t.Fatalf("%v after %q: the process still answers (%v)", c.mode, c.msg, v)
				}
				return
			}
			if err != nil || v != 1 || inits != 2 {
				t.Fatalf("%v after %q: %v, %v, %d incarnations; want the first call of a second incarnation", c.mode, c.msg, v, err, inits)
			}
			if took < 30*time.Millisecond {
				t.Fatalf("restarted after %v, before its 30ms backoff", took)
			}
		})
	}
}

// TestRestartPolicyChecked: a negative intensity is refused when the kind
// is registered.
func TestRestartPolicyChecked(t *testing.T) {
	err := process.NewKinds().RegisterWith("k", func([]byte) (process.Behavior, error) { return nil, nil },
		process.KindOptions{Restart: process.RestartPolicy{Mode: process.RestartPermanent, MaxRestarts: -1}})
	if !errors.Is(err, process.ErrInvalid) {
		t.Fatalf("a negative MaxRestarts: %v", err)
	}
}
