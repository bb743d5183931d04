package process_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/internal/syncbuf"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/process/processtest"
)

// napState is a sleeper's state.
type napState struct {
	Count int
	Notes []string
}

// sleeper counts calls and keeps notes; it gives its state
// (Checkpointer) and takes it back (HandoffReceiver), so its kind may
// passivate. life records its incarnations and their ends.
type sleeper struct {
	life *life
	st   napState
}

type life struct {
	mu    sync.Mutex
	inits int
	ends  []error
}

func (l *life) counts() (int, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inits, append([]error(nil), l.ends...)
}

func (s *sleeper) Init(context.Context, process.Self) error {
	s.life.mu.Lock()
	s.life.inits++
	s.life.mu.Unlock()
	return nil
}
func (s *sleeper) Terminate(_ context.Context, _ process.Self, reason error) {
	s.life.mu.Lock()
	s.life.ends = append(s.life.ends, reason)
	s.life.mu.Unlock()
}
func (s *sleeper) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case string:
		switch m {
		case "get":
		case "timer":
			self.SendAfter(time.Hour, "later")
		default:
			s.st.Count++
			s.st.Notes = append(s.st.Notes, m)
		}
	}
	return s.st.Count, nil
}
func (s *sleeper) HandleCast(context.Context, process.Self, any) {}
func (s *sleeper) HandleInfo(context.Context, process.Self, any) {}
func (s *sleeper) CheckpointState(context.Context, process.Self) any {
	return s.st
}
func (s *sleeper) EndHandoff(_ context.Context, _ process.Self, state any) error {
	st, ok := state.(napState)
	if !ok {
		return errors.New("not a napState")
	}
	s.st = st
	return nil
}

// passivationRuntime is a runtime on a fake clock with a "sleeper" kind
// that passivates after a minute (the test fires its timers).
func passivationRuntime(t *testing.T, c process.Codec, log *slog.Logger) (*process.Runtime, *processtest.FakeClock, *life) {
	t.Helper()
	l := &life{}
	kinds := process.NewKinds()
	if err := kinds.RegisterWith("sleeper", func([]byte) (process.Behavior, error) { return &sleeper{life: l}, nil },
		process.KindOptions{PassivateAfter: time.Minute}); err != nil {
		t.Fatal(err)
	}
	clock := &processtest.FakeClock{}
	rt, err := process.NewRuntime(process.Config{Node: "a@h", Clock: clock, StateCodec: c, Logger: log}, kinds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	return rt, clock, l
}

// spawnSleeper spawns a sleeper on a passivationRuntime whose codec
// carries its state.
func spawnSleeper(t *testing.T) (*process.Runtime, *processtest.FakeClock, *life, *process.Process) {
	t.Helper()
	c := codec.New()
	if err := c.Register("t.napState", napState{}); err != nil {
		t.Fatal(err)
	}
	rt, clock, l := passivationRuntime(t, c, nil)
	p, err := rt.Spawn(context.Background(), process.Spec{Kind: "sleeper"}, process.SpawnOptions{Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	return rt, clock, l, p
}

// idleCheck fires the newest pending passivation timer and waits until
// the process has run it: passivated, or a new check set.
func idleCheck(t *testing.T, clock *processtest.FakeClock, p *process.Process) {
	t.Helper()
	var tm *processtest.FakeTimer
	for _, x := range clock.Timers() {
		if x.Duration() == time.Minute && x.Pending() {
			tm = x
		}
	}
	if tm == nil {
		t.Fatal("no idle check is set")
	}
	n := clock.Len()
	tm.Fire()
	waitFor(t, "the idle check to run", func() bool { return p.Passivated() || clock.Len() > n })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPassivateAndWake: a process idle for its kind's PassivateAfter
// gives up its Behavior (Terminate hears ErrPassivated), its next call
// wakes a new Behavior (Init again) with its state, and a describe or a
// stop does not wake it.
func TestPassivateAndWake(t *testing.T) {
	rt, clock, l, p := spawnSleeper(t)
	ctx := context.Background()
	for _, note := range []string{"a", "b", "c"} {
		if _, err := p.Call(ctx, note); err != nil {
			t.Fatal(err)
		}
	}
	// Busy since the check was set: it checks again later.
	idleCheck(t, clock, p)
	if p.Passivated() {
		t.Fatal("passivated right after three calls")
	}
	idleCheck(t, clock, p)
	if !p.Passivated() || rt.Passivated() != 1 {
		t.Fatalf("idle for a whole check: passivated %v, runtime counts %d", p.Passivated(), rt.Passivated())
	}
	if inits, ends := l.counts(); inits != 1 || len(ends) != 1 || !errors.Is(ends[0], process.ErrPassivated) {
		t.Fatalf("after passivation: %d inits, ends %v; want 1 and [ErrPassivated]", inits, ends)
	}
	if s, _, err := p.Describe(ctx); err != nil || s != "passivated" {
		t.Fatalf("describe a passivated process: %q, %v", s, err)
	}
	if inits, _ := l.counts(); inits != 1 || !p.Passivated() {
		t.Fatal("describe woke the process")
	}
	v, err := p.Call(ctx, "d")
	if err != nil || v != 4 {
		t.Fatalf("call after passivation: %v, %v; want 4 (its state kept)", v, err)
	}
	if inits, _ := l.counts(); inits != 2 || p.Passivated() || rt.Passivated() != 0 {
		t.Fatalf("after the wake: %d inits, passivated %v, runtime counts %d", inits, p.Passivated(), rt.Passivated())
	}
	if v, _ := p.Call(ctx, "get"); v != 4 {
		t.Fatalf("count %v after the wake; want 4", v)
	}

	// A pending timer keeps it awake.
	if _, err := p.Call(ctx, "timer"); err != nil {
		t.Fatal(err)
	}
	idleCheck(t, clock, p)
	idleCheck(t, clock, p)
	if p.Passivated() {
		t.Fatal("passivated with a timer pending")
	}
	for _, x := range clock.Timers() {
		if x.Duration() == time.Hour {
			x.Stop()
		}
	}
}

// TestStopPassivated: stopping a passivated process does not wake it,
// nor run Terminate a second time.
func TestStopPassivated(t *testing.T) {
	rt, clock, l, p := spawnSleeper(t)
	ctx := context.Background()
	idleCheck(t, clock, p)
	if !p.Passivated() {
		t.Fatal("an idle process was not passivated")
	}
	if err := p.Stop(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if inits, ends := l.counts(); inits != 1 || len(ends) != 1 {
		t.Fatalf("stop while passivated: %d inits, ends %v", inits, ends)
	}
	if rt.Passivated() != 0 || rt.Len() != 0 {
		t.Fatalf("after the stop the runtime counts %d passivated, %d processes", rt.Passivated(), rt.Len())
	}
}

// TestPassivationNeedsItsState: a kind that passivates with a Behavior
// that cannot give its state or take it back fails at spawn, naming it;
// a state the codec cannot carry keeps the process awake, logged.
func TestPassivationNeedsItsState(t *testing.T) {
	kinds := process.NewKinds()
	if err := kinds.RegisterWith("moody", func([]byte) (process.Behavior, error) { inits := 0; return &moody{inits: &inits}, nil },
		process.KindOptions{PassivateAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := kinds.RegisterWith("bad", nil, process.KindOptions{PassivateAfter: -time.Second}); err == nil {
		t.Error("a negative PassivateAfter was accepted")
	}
	rt, err := process.NewRuntime(process.Config{Node: "a@h"}, kinds)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	_, err = rt.Spawn(context.Background(), process.Spec{Kind: "moody"}, process.SpawnOptions{Name: "m"})
	if !errors.Is(err, process.ErrInvalid) || !strings.Contains(err.Error(), "PassivateAfter") || !strings.Contains(err.Error(), `"moody"`) {
		t.Fatalf("spawn of a passivating kind without Checkpointer: %v; want ErrInvalid naming the kind and PassivateAfter", err)
	}

	var logs syncbuf.Buffer
	rt2, clock, _ := passivationRuntime(t, codec.New(), slog.New(slog.NewTextHandler(&logs, nil)))
	p, err := rt2.Spawn(context.Background(), process.Spec{Kind: "sleeper"}, process.SpawnOptions{Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	idleCheck(t, clock, p)
	if p.Passivated() {
		t.Fatal("passivated with a state its codec cannot encode")
	}
	if out := logs.String(); !strings.Contains(out, "not passivated") || !strings.Contains(out, "napState") || !strings.Contains(out, "kind=sleeper") {
		t.Fatalf("log does not name the type and kind:\n%s", out)
	}
	if v, err := p.Call(context.Background(), "get"); err != nil || v != 0 {
		t.Fatalf("the process after a failed passivation: %v, %v", v, err)
	}
}
