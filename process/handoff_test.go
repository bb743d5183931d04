package process_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/process/processtest"
)

// tally counts casts (ints), answers calls with its log, and hands its log
// over on handoff.
type tally struct {
	mu        sync.Mutex
	log       []int
	action    process.HandoffAction
	resolved  []any
	conflicts []process.Conflict
	ended     bool
	term      error
}

// arm asks a tally to set a timer delivering v after d.
type arm struct {
	d time.Duration
	v int
}

func (c *tally) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if msg == "log" {
		return slices.Clone(c.log), nil
	}
	if a, ok := msg.(arm); ok {
		return self.SendAfter(a.d, a.v), nil
	}
	c.log = append(c.log, msg.(int))
	return len(c.log), nil
}

func (c *tally) HandleCast(_ context.Context, _ process.Self, msg any) {
	c.mu.Lock()
	c.log = append(c.log, msg.(int))
	c.mu.Unlock()
}

func (c *tally) HandleInfo(_ context.Context, _ process.Self, msg any) {
	c.mu.Lock()
	c.log = append(c.log, -msg.(int))
	c.mu.Unlock()
}

func (c *tally) BeginHandoff(context.Context, process.Self) process.Handoff {
	c.mu.Lock()
	defer c.mu.Unlock()
	return process.Handoff{Action: c.action, State: slices.Clone(c.log)}
}

func (c *tally) EndHandoff(_ context.Context, _ process.Self, state any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(state.([]int), c.log...)
	c.ended = true
	return nil
}

func (c *tally) ResolveConflict(_ context.Context, _ process.Self, conflict process.Conflict, state any) {
	c.mu.Lock()
	c.conflicts = append(c.conflicts, conflict)
	c.resolved = append(c.resolved, state)
	c.mu.Unlock()
}

func (c *tally) Terminate(_ context.Context, _ process.Self, reason error) {
	c.mu.Lock()
	c.term = reason
	c.mu.Unlock()
}

// beginHandoff asks p to hand off and waits for its answer.
func beginHandoff(t *testing.T, rt *process.Runtime, p *process.Process) process.Handoff {
	t.Helper()
	type answer struct {
		h   process.Handoff
		err error
	}
	ch := make(chan answer, 1)
	if err := side(rt).BeginHandoff(context.Background(), p, true, func(h process.Handoff, err error) { ch <- answer{h, err} }); err != nil {
		t.Fatalf("begin handoff: %v", err)
	}
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("begin handoff: %v", a.err)
		}
		return a.h
	case <-time.After(10 * time.Second):
		t.Fatal("begin handoff: no answer")
	}
	return process.Handoff{}
}

func callLog(t *testing.T, p *process.Process) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := p.Call(ctx, "log")
	if err != nil {
		t.Fatalf("call log: %v", err)
	}
	return v.([]int)
}

func TestHandoffMovesStateAndBacklogInOrder(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	old := start(t, rt, &tally{action: process.HandoffMove}, "counter")
	for i := 1; i <= 3; i++ {
		_ = old.Cast(i)
	}
	h := beginHandoff(t, rt, old)
	if h.Action != process.HandoffMove || !slices.Equal(h.State.([]int), []int{1, 2, 3}) {
		t.Fatalf("handoff answer = %+v, want move with [1 2 3]", h)
	}
	if !old.Alive() {
		t.Fatal("paused process reports not alive")
	}
	// Sent during the pause: must wait, then reach the new incarnation.
	_ = old.Cast(4)
	_ = old.Send(5)
	var callRes any
	callDone := make(chan struct{})
	go func() {
		defer close(callDone)
		callRes, _ = old.Call(context.Background(), 6)
	}()
	eventually(t, 5*time.Second, "call queued in the pause", func() bool { return old.MailboxLen() == 3 })

	next := &tally{}
	np, err := rt.Start(context.Background(), next, process.SpawnOptions{Name: "counter", HandedOff: &h})
	if err != nil {
		t.Fatalf("start new incarnation: %v", err)
	}
	if !next.ended {
		t.Fatal("EndHandoff not called")
	}
	if err := side(rt).Forward(old, np.Ref(), nil); err != nil {
		t.Fatalf("forward: %v", err)
	}
	<-callDone
	if callRes != 6 {
		t.Fatalf("call forwarded during the pause = %v, want 6 (the 6th entry)", callRes)
	}
	_ = old.Cast(7) // after the move: forwarded too
	if got, want := callLog(t, old), []int{1, 2, 3, 4, -5, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("log via the old handle = %v, want %v", got, want)
	}
	select {
	case <-old.Done():
	default:
		t.Fatal("old incarnation's Done not closed")
	}
	if !errors.Is(old.Err(), process.ErrMoved) || old.Alive() {
		t.Fatalf("old incarnation: err %v alive %v, want ErrMoved, not alive", old.Err(), old.Alive())
	}
	if rt.Len() != 1 {
		t.Fatalf("runtime counts %d processes, want 1", rt.Len())
	}
	if p, ok := rt.Lookup(old.Ref()); !ok || p != old {
		t.Fatal("old ref no longer routes to the forwarder")
	}
	if err := side(rt).ResumeHandoff(old); !errors.Is(err, process.ErrNotPaused) {
		t.Fatalf("resume after forward: %v, want ErrNotPaused", err)
	}
}

func TestHandoffResumeKeepsStateAndTimers(t *testing.T) {
	clock := &processtest.FakeClock{}
	cfg := process.DefaultConfig()
	cfg.Clock = clock
	rt := newRuntime(t, cfg)
	c := &tally{action: process.HandoffMove}
	p := start(t, rt, c, "counter")
	_ = p.Cast(1)
	if _, err := p.Call(context.Background(), arm{time.Second, 2}); err != nil {
		t.Fatal(err)
	}
	beginHandoff(t, rt, p)
	_ = p.Cast(3)
	clock.Last().Fire() // the timer fires during the pause: it waits
	if err := side(rt).ResumeHandoff(p); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got, want := callLog(t, p), []int{1, 3, -2}; !slices.Equal(got, want) {
		t.Fatalf("log after resume = %v, want %v", got, want)
	}
}

func TestHandoffStayAndRestart(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	stay := start(t, rt, &tally{action: process.HandoffStay}, "stay")
	if h := beginHandoff(t, rt, stay); h.Action != process.HandoffStay {
		t.Fatalf("answer %v, want stay", h.Action)
	}
	_ = stay.Cast(1)
	if got := callLog(t, stay); !slices.Equal(got, []int{1}) {
		t.Fatalf("stayed process log %v", got)
	}
	plain := start(t, rt, &recorder{}, "plain")
	h := beginHandoff(t, rt, plain)
	if h.Action != process.HandoffRestart || h.State != nil {
		t.Fatalf("process without hook answered %+v, want restart without state", h)
	}
	if err := side(rt).Forward(plain, stay.Ref(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestConflictLoserForwardsToWinner(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	winner := &tally{}
	wp := start(t, rt, winner, "w")
	loser := &tally{action: process.HandoffMove}
	lp := start(t, rt, loser, "l")
	_ = lp.Cast(9)
	h := beginHandoff(t, rt, lp)
	conflict := process.Conflict{Name: "w", Winner: process.Copy{Node: "a", Incarnation: 1, ID: 2, Version: 3}, Loser: process.Copy{Node: "b", Incarnation: 4, ID: 5, Version: 6}}
	if err := side(rt).ResolveConflict(wp, conflict, h.State, h.Version); err != nil {
		t.Fatal(err)
	}
	if err := side(rt).Forward(lp, wp.Ref(), errConflictForTest); err != nil {
		t.Fatal(err)
	}
	_ = lp.Cast(10)
	if got := callLog(t, lp); !slices.Equal(got, []int{10}) {
		t.Fatalf("winner log via loser = %v, want [10]", got)
	}
	winner.mu.Lock()
	resolved, conflicts := slices.Clone(winner.resolved), slices.Clone(winner.conflicts)
	winner.mu.Unlock()
	if len(resolved) != 1 || !slices.Equal(resolved[0].([]int), []int{9}) || conflicts[0] != conflict {
		t.Fatalf("winner resolved %v (%+v), want [[9]] (%+v)", resolved, conflicts, conflict)
	}
	loser.mu.Lock()
	term := loser.term
	loser.mu.Unlock()
	if !errors.Is(term, errConflictForTest) || !errors.Is(lp.Err(), errConflictForTest) {
		t.Fatalf("loser terminated with %v, err %v", term, lp.Err())
	}
}

var errConflictForTest = errors.New("lost the name")

type handoffPanics struct{ recorder }

func (*handoffPanics) BeginHandoff(context.Context, process.Self) process.Handoff { panic("no") }

func TestHandoffPanicAndStopWhilePaused(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	p := start(t, rt, &handoffPanics{}, "panics")
	ch := make(chan error, 1)
	_ = side(rt).BeginHandoff(context.Background(), p, true, func(_ process.Handoff, err error) { ch <- err })
	var perr *process.PanicError
	if err := <-ch; !errors.As(err, &perr) {
		t.Fatalf("handoff of a panicking hook: %v, want a PanicError", err)
	}
	<-p.Done()

	// A stop sent during the pause waits; after a resume it runs.
	q := start(t, rt, &tally{action: process.HandoffMove}, "q")
	beginHandoff(t, rt, q)
	stopped := make(chan error, 1)
	go func() { stopped <- q.Stop(context.Background(), nil) }()
	eventually(t, 5*time.Second, "stop queued", func() bool { return q.MailboxLen() == 1 })
	if err := side(rt).ResumeHandoff(q); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}

	// A handoff asked of a process that stops first fails cleanly.
	r := start(t, rt, &tally{action: process.HandoffMove}, "r")
	_ = r.Stop(context.Background(), nil)
	if err := side(rt).BeginHandoff(context.Background(), r, true, func(process.Handoff, error) {}); !errors.Is(err, process.ErrNoProcess) {
		t.Fatalf("handoff of a stopped process: %v, want ErrNoProcess", err)
	}
}

// A process paused for a handoff that nobody finishes (its node stops
// meanwhile) does not hold the runtime's shutdown up: it takes the stop.
func TestShutdownEndsAPausedProcess(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	p := start(t, rt, &tally{action: process.HandoffMove}, "paused")
	beginHandoff(t, rt, p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a paused process: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("the paused process still runs after the shutdown")
	}
}

// blocker holds its handler on release, and moves on a handoff.
type blocker struct {
	entered, release chan struct{}
}

func (b *blocker) HandleCall(context.Context, process.Self, any) (any, error) { return nil, nil }
func (b *blocker) HandleCast(context.Context, process.Self, any) {
	close(b.entered)
	<-b.release
}
func (b *blocker) HandleInfo(context.Context, process.Self, any) {}
func (b *blocker) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: 1}
}
func (b *blocker) EndHandoff(context.Context, process.Self, any) error { return nil }

// TestShutdownWhileAHandoffWaits: a handoff asked for before the shutdown
// but reached by the process after it began (its handler was busy) must
// not pause it: nobody would end that pause, and the shutdown waited for
// its whole deadline (kube's TestDeploy: "runtime shutdown: context
// deadline exceeded", exit 1, after a scale to zero).
func TestShutdownWhileAHandoffWaits(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	b := &blocker{entered: make(chan struct{}), release: make(chan struct{})}
	p := start(t, rt, b, "busy")
	if err := p.Cast(1); err != nil {
		t.Fatal(err)
	}
	<-b.entered
	answered := make(chan error, 1)
	if err := side(rt).BeginHandoff(context.Background(), p, false, func(_ process.Handoff, err error) { answered <- err }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- rt.Shutdown(ctx) }()
	eventually(t, 5*time.Second, "the shutdown to begin", func() bool {
		_, err := rt.Start(context.Background(), &tally{}, process.SpawnOptions{})
		return err != nil
	})
	close(b.release) // the process reaches the handoff now
	select {
	case err := <-answered:
		if !errors.Is(err, process.ErrShutdown) {
			t.Fatalf("the handoff's answer: %v; want ErrShutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handoff was never answered")
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v (a process paused after it began, and nobody ended the pause)", err)
	}
}
