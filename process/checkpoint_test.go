package process_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/process/processtest"
)

// ckCounter is a checkpointing behavior: calls and casts of int add to n.
type ckCounter struct {
	n      int
	panicC bool // CheckpointState panics
}

func (c *ckCounter) HandleCall(_ context.Context, _ process.Self, msg any) (any, error) {
	if d, ok := msg.(int); ok {
		c.n += d
	}
	return c.n, nil
}

func (c *ckCounter) HandleCast(_ context.Context, _ process.Self, msg any) {
	if d, ok := msg.(int); ok {
		c.n += d
	}
}

func (c *ckCounter) HandleInfo(context.Context, process.Self, any) {}

func (c *ckCounter) CheckpointState(context.Context, process.Self) any {
	if c.panicC {
		panic("no state today")
	}
	return c.n
}

func (c *ckCounter) ResolveConflict(_ context.Context, _ process.Self, _ process.Conflict, state any) {
	if d, ok := state.(int); ok {
		c.n += d
	}
}

// saved is one checkpoint a testSink received.
type saved struct {
	seq    uint64
	state  any
	merged []process.Copy
	done   func(error)
}

// testSink records checkpoints; it answers them at once with answer (if
// auto), or leaves them for the test.
type testSink struct {
	mu     sync.Mutex
	got    []saved
	auto   bool
	answer error
	more   chan struct{}
	onSave func(process.Checkpoint) // under mu
}

func newSink(auto bool) *testSink { return &testSink{auto: auto, more: make(chan struct{}, 1024)} }

func (s *testSink) SaveCheckpoint(ck process.Checkpoint, done func(error)) {
	s.mu.Lock()
	s.got = append(s.got, saved{seq: ck.Seq, state: ck.State, merged: ck.Merged, done: done})
	if s.onSave != nil {
		s.onSave(ck)
	}
	auto, answer := s.auto, s.answer
	s.mu.Unlock()
	if auto {
		done(answer)
	}
	s.more <- struct{}{}
}

func (s *testSink) all() []saved {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]saved(nil), s.got...)
}

// wait waits for the n-th checkpoint (from 1).
func (s *testSink) wait(t *testing.T, n int) saved {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := s.all(); len(got) >= n {
			return got[n-1]
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("checkpoint %d never came (have %d)", n, len(s.all()))
		}
	}
}

func spawnCounter(t *testing.T, rt *process.Runtime, c *ckCounter, opts process.CheckpointOptions) *process.Process {
	t.Helper()
	p, err := rt.Start(context.Background(), c, process.SpawnOptions{Name: "c", Checkpoints: opts})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckpointSyncReplyWaitsForTheSink(t *testing.T) {
	rt := newRuntime(t, process.Config{Node: "n1"})
	sink := newSink(false)
	p := spawnCounter(t, rt, &ckCounter{}, process.CheckpointOptions{Mode: process.CheckpointSync, Sink: sink})

	type res struct {
		v   any
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := p.Call(context.Background(), 5)
		ch <- res{v, err}
	}()
	ck := sink.wait(t, 1)
	if ck.seq != 1 || ck.state != 5 {
		t.Fatalf("checkpoint = seq %d state %v, want 1 and 5", ck.seq, ck.state)
	}
	// The cast sent meanwhile waits too: the process is still in the
	// call's turn.
	if err := p.Cast(1); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		t.Fatalf("call answered (%v, %v) before its checkpoint was stored", r.v, r.err)
	default:
	}
	if n := len(sink.all()); n != 1 {
		t.Fatalf("%d checkpoints before the first was stored, want 1", n)
	}
	ck.done(nil)
	r := <-ch
	if r.err != nil || r.v != 5 {
		t.Fatalf("call = %v, %v; want 5, nil", r.v, r.err)
	}
	ck2 := sink.wait(t, 2)
	if ck2.seq != 2 || ck2.state != 6 {
		t.Fatalf("second checkpoint = seq %d state %v, want 2 and 6", ck2.seq, ck2.state)
	}
	ck2.done(nil)
}

func TestCheckpointSyncFailureIsNotDurable(t *testing.T) {
	rt := newRuntime(t, process.Config{Node: "n1"})
	sink := newSink(true)
	sink.answer = errors.New("no replica")
	p := spawnCounter(t, rt, &ckCounter{}, process.CheckpointOptions{Mode: process.CheckpointSync, Sink: sink})
	v, err := p.Call(context.Background(), 3)
	if !errors.Is(err, process.ErrNotDurable) || v != 3 {
		t.Fatalf("call = %v, %v; want 3 and ErrNotDurable", v, err)
	}
	sink.mu.Lock()
	sink.answer = nil
	sink.mu.Unlock()
	if v, err := p.Call(context.Background(), 1); err != nil || v != 4 {
		t.Fatalf("call = %v, %v; want 4, nil", v, err)
	}
}

func TestCheckpointAsyncCoalesces(t *testing.T) {
	clock := &processtest.FakeClock{}
	rt := newRuntime(t, process.Config{Node: "n1", Clock: clock})
	sink := newSink(false)
	p := spawnCounter(t, rt, &ckCounter{}, process.CheckpointOptions{Mode: process.CheckpointAsync, Every: time.Second, Sink: sink})
	for range 10 {
		if _, err := p.Call(context.Background(), 1); err != nil {
			t.Fatalf("async call waited or failed: %v", err)
		}
	}
	if clock.Len() != 1 || clock.Last().Duration() != time.Second {
		t.Fatalf("%d timers set, want one of 1s", clock.Len())
	}
	if n := len(sink.all()); n != 0 {
		t.Fatalf("%d checkpoints before the interval, want 0", n)
	}
	clock.Last().Fire()
	ck := sink.wait(t, 1)
	if ck.state != 10 || ck.seq != 1 {
		t.Fatalf("checkpoint = seq %d state %v, want 1 and 10", ck.seq, ck.state)
	}
	// Changes while one is in flight wait for its answer, then for the
	// next interval.
	if _, err := p.Call(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if clock.Len() != 1 {
		t.Fatalf("a timer was set while a checkpoint was in flight")
	}
	ck.done(errors.New("timeout"))
	eventually(t, 10*time.Second, "timer set", func() bool { return clock.Len() == 2 })
	clock.Last().Fire()
	ck2 := sink.wait(t, 2)
	if ck2.state != 11 || ck2.seq != 2 {
		t.Fatalf("checkpoint = seq %d state %v, want 2 and 11", ck2.seq, ck2.state)
	}
	ck2.done(nil)
	// Nothing changed since: no timer.
	if _, err := p.Call(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "timer set", func() bool { return clock.Len() == 3 }) // the read counts as a change
	if err := p.Stop(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if clock.Last().Pending() {
		t.Fatal("the async timer outlived the process")
	}
}

func TestCheckpointMergedLosers(t *testing.T) {
	clock := &processtest.FakeClock{}
	rt := newRuntime(t, process.Config{Node: "n1", Clock: clock})
	sink := newSink(false)
	p := spawnCounter(t, rt, &ckCounter{}, process.CheckpointOptions{Mode: process.CheckpointAsync, Sink: sink})
	loser := process.Copy{Node: "n2", Incarnation: 7, ID: 42}
	if err := side(rt).ResolveConflict(p, process.Conflict{Name: "c", Loser: loser}, 5, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "timer set", func() bool { return clock.Len() == 1 })
	clock.Last().Fire()
	ck := sink.wait(t, 1)
	if ck.state != 5 || len(ck.merged) != 1 || ck.merged[0] != loser {
		t.Fatalf("checkpoint = state %v merged %v; want 5 and [%v]", ck.state, ck.merged, loser)
	}
	ck.done(errors.New("busy"))
	// Not stored: the next one still says so.
	eventually(t, 10*time.Second, "timer set", func() bool { return clock.Len() == 2 })
	clock.Last().Fire()
	ck = sink.wait(t, 2)
	if len(ck.merged) != 1 {
		t.Fatalf("merged %v after a failed checkpoint, want the loser again", ck.merged)
	}
	ck.done(nil)
	// Stored: a flush (nothing changed) says nothing more.
	if err := side(rt).Flush(p); err != nil {
		t.Fatal(err)
	}
	ck = sink.wait(t, 3)
	if len(ck.merged) != 0 || ck.state != 5 {
		t.Fatalf("flushed checkpoint = state %v merged %v; want 5 and none", ck.state, ck.merged)
	}
	ck.done(nil)
}

func TestCheckpointFlushSync(t *testing.T) {
	rt := newRuntime(t, process.Config{Node: "n1"})
	sink := newSink(true)
	p := spawnCounter(t, rt, &ckCounter{n: 9}, process.CheckpointOptions{Mode: process.CheckpointSync, Sink: sink})
	if err := side(rt).Flush(p); err != nil {
		t.Fatal(err)
	}
	if ck := sink.wait(t, 1); ck.state != 9 {
		t.Fatalf("flushed state %v, want 9", ck.state)
	}
}

func TestCheckpointOptionsChecked(t *testing.T) {
	rt := newRuntime(t, process.Config{Node: "n1"})
	sink := newSink(true)
	cases := []struct {
		name string
		b    process.Behavior
		opts process.CheckpointOptions
	}{
		{"no sink", &ckCounter{}, process.CheckpointOptions{Mode: process.CheckpointSync}},
		{"no Checkpointer", &recorder{}, process.CheckpointOptions{Mode: process.CheckpointAsync, Sink: sink}},
		{"bad mode", &ckCounter{}, process.CheckpointOptions{Mode: 9, Sink: sink}},
		{"negative interval", &ckCounter{}, process.CheckpointOptions{Mode: process.CheckpointAsync, Every: -1, Sink: sink}},
	}
	for _, c := range cases {
		if _, err := rt.Start(context.Background(), c.b, process.SpawnOptions{Checkpoints: c.opts}); !errors.Is(err, process.ErrInvalid) {
			t.Errorf("%s: start = %v, want ErrInvalid", c.name, err)
		}
	}
	// Off needs nothing.
	if _, err := rt.Start(context.Background(), &recorder{}, process.SpawnOptions{}); err != nil {
		t.Fatal(err)
	}
	k := process.NewKinds()
	if err := k.RegisterWith("x", func([]byte) (process.Behavior, error) { return &ckCounter{}, nil }, process.KindOptions{Checkpoints: 7}); !errors.Is(err, process.ErrInvalid) {
		t.Errorf("RegisterWith bad mode = %v, want ErrInvalid", err)
	}
	if err := k.RegisterWith("y", func([]byte) (process.Behavior, error) { return &ckCounter{}, nil }, process.KindOptions{Checkpoints: process.CheckpointSync}); err != nil {
		t.Fatal(err)
	}
	if o, ok := k.Options("y"); !ok || o.Checkpoints != process.CheckpointSync {
		t.Errorf("Options(y) = %+v, %v", o, ok)
	}
	for _, s := range []string{"off", "sync", "async"} {
		if m, err := process.ParseCheckpointMode(s); err != nil || m.String() != s {
			t.Errorf("ParseCheckpointMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := process.ParseCheckpointMode("always"); !errors.Is(err, process.ErrInvalid) {
		t.Errorf("ParseCheckpointMode(always) = %v", err)
	}
}

func TestCheckpointStatePanicStopsTheProcess(t *testing.T) {
	rt := newRuntime(t, process.Config{Node: "n1"})
	sink := newSink(true)
	p := spawnCounter(t, rt, &ckCounter{panicC: true}, process.CheckpointOptions{Mode: process.CheckpointSync, Sink: sink})
	_, err := p.Call(context.Background(), 1)
	var pe *process.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("call = %v, want the checkpoint's panic", err)
	}
	<-p.Done()
}

func TestCheckpointSyncWaitEndsAtShutdown(t *testing.T) {
	rt, err := process.NewRuntime(process.Config{Node: "n1"}, process.NewKinds())
	if err != nil {
		t.Fatal(err)
	}
	sink := newSink(false) // never answers
	p := spawnCounter(t, rt, &ckCounter{}, process.CheckpointOptions{Mode: process.CheckpointSync, Sink: sink})
	ch := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), 1)
		ch <- err
	}()
	sink.wait(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a checkpoint never answered: %v", err)
	}
	if err := <-ch; !errors.Is(err, process.ErrNotDurable) || !errors.Is(err, process.ErrShutdown) {
		t.Fatalf("call = %v, want ErrNotDurable and ErrShutdown", err)
	}
}
