package process_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/process/processtest"
)

// recorder is a behavior that records every message it handles.
type recorder struct {
	mu     sync.Mutex
	casts  []any
	infos  []any
	reason error
	ended  bool
	// onCall, if set, handles calls.
	onCall func(ctx context.Context, self process.Self, msg any) (any, error)
	onInfo func(self process.Self, msg any)
}

func (r *recorder) HandleCall(ctx context.Context, self process.Self, msg any) (any, error) {
	if r.onCall != nil {
		return r.onCall(ctx, self, msg)
	}
	return msg, nil
}

func (r *recorder) HandleCast(_ context.Context, _ process.Self, msg any) {
	r.mu.Lock()
	r.casts = append(r.casts, msg)
	r.mu.Unlock()
}

func (r *recorder) HandleInfo(_ context.Context, self process.Self, msg any) {
	r.mu.Lock()
	r.infos = append(r.infos, msg)
	r.mu.Unlock()
	if r.onInfo != nil {
		r.onInfo(self, msg)
	}
}

func (r *recorder) Terminate(_ context.Context, _ process.Self, reason error) {
	r.mu.Lock()
	r.ended, r.reason = true, reason
	r.mu.Unlock()
}

func (r *recorder) snapshot() (casts, infos []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.casts...), append([]any(nil), r.infos...)
}

func newRuntime(t *testing.T, cfg process.Config) *process.Runtime {
	t.Helper()
	rt, err := process.NewRuntime(cfg, process.NewKinds())
	if err != nil {
		t.Fatalf("new runtime: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return rt
}

func start(t *testing.T, rt *process.Runtime, b process.Behavior, name string) *process.Process {
	t.Helper()
	p, err := rt.Start(context.Background(), b, process.SpawnOptions{Name: name})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return p
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCallReturnsReply(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	p := start(t, rt, &recorder{}, "echo")
	got, err := p.Call(context.Background(), "ping")
	if err != nil || got != "ping" {
		t.Fatalf("call = %v, %v; want ping, nil", got, err)
	}
	got, err = rt.Call(context.Background(), p.Ref(), 42)
	if err != nil || got != 42 {
		t.Fatalf("call by ref = %v, %v; want 42, nil", got, err)
	}
}

func TestHandlerErrorReachesCaller(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	errBoom := errors.New("boom")
	p := start(t, rt, &recorder{onCall: func(context.Context, process.Self, any) (any, error) {
		return nil, errBoom
	}}, "failing")
	if _, err := p.Call(context.Background(), 1); !errors.Is(err, errBoom) {
		t.Fatalf("call error = %v; want %v", err, errBoom)
	}
	if !p.Alive() {
		t.Fatal("a handler error must not stop the process")
	}
}

func TestOrderPerSender(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	rec := &recorder{}
	p := start(t, rt, rec, "ordered")
	const senders, perSender = 8, 2000
	type msg struct{ sender, seq int }
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				if err := p.Cast(msg{s, i}); err != nil {
					t.Errorf("cast: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	// A call after the casts of this goroutine is handled after them.
	if _, err := p.Call(context.Background(), "sync"); err != nil {
		t.Fatal(err)
	}
	casts, _ := rec.snapshot()
	if len(casts) != senders*perSender {
		t.Fatalf("handled %d casts; want %d", len(casts), senders*perSender)
	}
	next := make([]int, senders)
	for _, c := range casts {
		m := c.(msg)
		if m.seq != next[m.sender] {
			t.Fatalf("sender %d: got seq %d, want %d", m.sender, m.seq, next[m.sender])
		}
		next[m.sender]++
	}
}

func TestCallTimeoutAndRecovery(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	release := make(chan struct{})
	var handledLate atomic.Bool
	p := start(t, rt, &recorder{onCall: func(_ context.Context, _ process.Self, msg any) (any, error) {
		switch msg {
		case "block":
			<-release
		case "late":
			handledLate.Store(true)
		}
		return msg, nil
	}}, "slow")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := p.Call(ctx, "block")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call error = %v; want deadline exceeded", err)
	}
	if waited := time.Since(began); waited > 2*time.Second {
		t.Fatalf("call returned %v after its deadline", waited)
	}
	// A call whose deadline passed while queued is skipped, not run late.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := p.Call(ctx2, "late"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued call error = %v; want deadline exceeded", err)
	}
	close(release)
	got, err := p.Call(context.Background(), "after")
	if err != nil || got != "after" {
		t.Fatalf("call after timeout = %v, %v", got, err)
	}
	if handledLate.Load() {
		t.Fatal("a call whose caller had given up was handled")
	}
	// An already-ended context fails at once.
	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, err := p.Call(done, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with cancelled ctx = %v", err)
	}
}

func TestPanicIsolation(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	cfg := process.DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	rt := newRuntime(t, cfg)

	entered, release := make(chan struct{}), make(chan struct{})
	bad := start(t, rt, &recorder{onCall: func(_ context.Context, _ process.Self, msg any) (any, error) {
		close(entered)
		<-release
		panic("kaboom")
	}}, "bad")
	good := start(t, rt, &recorder{}, "good")

	// The panicking call is being handled while another call waits behind it.
	panicDone := make(chan error, 1)
	go func() { _, err := bad.Call(context.Background(), "panic"); panicDone <- err }()
	<-entered
	queuedDone := make(chan error, 1)
	go func() { _, err := bad.Call(context.Background(), "queued"); queuedDone <- err }()
	eventually(t, 5*time.Second, "second call queued", func() bool { return bad.MailboxLen() == 1 })
	close(release)

	var perr *process.PanicError
	if err := <-panicDone; !errors.As(err, &perr) || perr.Value != "kaboom" {
		t.Fatalf("panicking call error = %v; want *PanicError kaboom", err)
	}
	if err := <-queuedDone; !errors.Is(err, process.ErrStopped) || !errors.As(err, &perr) {
		t.Fatalf("queued call error = %v; want ErrStopped with the panic", err)
	}
	<-bad.Done()
	if !errors.As(bad.Err(), &perr) {
		t.Fatalf("exit reason = %v; want *PanicError", bad.Err())
	}
	if _, err := bad.Call(context.Background(), "x"); !errors.Is(err, process.ErrNoProcess) {
		t.Fatalf("call to dead process = %v; want ErrNoProcess", err)
	}
	if got, err := good.Call(context.Background(), "still here"); err != nil || got != "still here" {
		t.Fatalf("other process after panic: %v, %v", got, err)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "process panicked") || !strings.Contains(out, "kaboom") || !strings.Contains(out, "process=bad") {
		t.Fatalf("panic not logged with process and value; log:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestPanicInCastAndInfo(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	for _, send := range []func(*process.Process) error{
		func(p *process.Process) error { return p.Cast("x") },
		func(p *process.Process) error { return p.Send("x") },
	} {
		p := start(t, rt, panicky{}, "panicky")
		if err := send(p); err != nil {
			t.Fatal(err)
		}
		<-p.Done()
		var perr *process.PanicError
		if !errors.As(p.Err(), &perr) {
			t.Fatalf("exit reason %v; want panic", p.Err())
		}
	}
}

type panicky struct{}

func (panicky) HandleCall(context.Context, process.Self, any) (any, error) { panic("call") }
func (panicky) HandleCast(context.Context, process.Self, any)              { panic("cast") }
func (panicky) HandleInfo(context.Context, process.Self, any)              { panic("info") }

// timerUser sets and cancels timers on request.
type timerUser struct {
	recorder
	entered, release chan struct{}
}

type setTimer struct {
	d   time.Duration
	msg any
}
type cancelTimer struct{ id process.TimerID }
type holdThenCancel struct{ id process.TimerID }

func (u *timerUser) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case setTimer:
		return self.SendAfter(m.d, m.msg), nil
	case cancelTimer:
		return self.CancelTimer(m.id), nil
	case holdThenCancel:
		close(u.entered)
		<-u.release
		return self.CancelTimer(m.id), nil
	}
	return nil, nil
}

func TestTimersWithFakeClock(t *testing.T) {
	clock := &processtest.FakeClock{}
	cfg := process.DefaultConfig()
	cfg.Clock = clock
	rt := newRuntime(t, cfg)
	u := &timerUser{}
	p := start(t, rt, u, "timers")
	ctx := context.Background()

	id1, _ := p.Call(ctx, setTimer{150 * time.Millisecond, "first"})
	id2, _ := p.Call(ctx, setTimer{3 * time.Second, "second"})
	if ts := clock.Timers(); len(ts) != 2 || ts[0].Duration() != 150*time.Millisecond || ts[1].Duration() != 3*time.Second {
		t.Fatalf("timers = %v", ts)
	}
	clock.Timers()[0].Fire()
	eventually(t, 5*time.Second, "first timer delivered", func() bool {
		_, infos := u.snapshot()
		return len(infos) == 1 && infos[0] == "first"
	})
	if ok, _ := p.Call(ctx, cancelTimer{id1.(process.TimerID)}); ok != false {
		t.Fatal("cancelling a delivered timer reported pending")
	}
	// Cancel after the clock fired but before the process handled it: the
	// message must never be handled. Block the process so the fire queues.
	if ok, _ := p.Call(ctx, cancelTimer{id2.(process.TimerID)}); ok != true {
		t.Fatal("cancelling a pending timer reported not pending")
	}
	clock.Timers()[1].Fire() // stopped: does nothing
	if _, err := p.Call(ctx, "sync"); err != nil {
		t.Fatal(err)
	}
	_, infos := u.snapshot()
	for _, m := range infos {
		if m == "second" {
			t.Fatal("cancelled timer delivered")
		}
	}
	if len(infos) != 1 {
		t.Fatalf("infos = %v; want only the first", infos)
	}
}

func TestCancelAfterFireDropsMessage(t *testing.T) {
	clock := &processtest.FakeClock{}
	cfg := process.DefaultConfig()
	cfg.Clock = clock
	rt := newRuntime(t, cfg)
	u := &timerUser{}
	p := start(t, rt, u, "timers")
	ctx := context.Background()
	id, _ := p.Call(ctx, setTimer{time.Second, "late"})

	// The process is busy in a handler while the clock fires, so the timer
	// message waits in the mailbox; the handler then cancels the timer.
	u.entered, u.release = make(chan struct{}), make(chan struct{})
	res := make(chan any, 1)
	go func() {
		ok, _ := p.Call(ctx, holdThenCancel{id.(process.TimerID)})
		res <- ok
	}()
	<-u.entered
	clock.Timers()[0].Fire()
	eventually(t, 5*time.Second, "timer message queued", func() bool { return p.MailboxLen() == 1 })
	close(u.release)
	if ok := <-res; ok != true {
		t.Fatalf("cancel of a fired, unhandled timer reported %v; want true", ok)
	}
	if _, err := p.Call(ctx, "sync"); err != nil {
		t.Fatal(err)
	}
	if _, infos := u.snapshot(); len(infos) != 0 {
		t.Fatalf("cancelled timer delivered: %v", infos)
	}
}

func TestSendAfterRealClock(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	u := &timerUser{}
	p := start(t, rt, u, "timers")
	began := time.Now()
	if _, err := p.Call(context.Background(), setTimer{30 * time.Millisecond, "tick"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "timer delivered", func() bool {
		_, infos := u.snapshot()
		return len(infos) == 1
	})
	if el := time.Since(began); el < 30*time.Millisecond {
		t.Fatalf("timer fired after %v; want at least 30ms", el)
	}
}

func TestStop(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	rec := &recorder{}
	exited := make(chan error, 1)
	p, err := rt.Start(context.Background(), rec, process.SpawnOptions{
		Name:   "stoppable",
		OnExit: func(_ *process.Process, reason error) { exited <- reason },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		_ = p.Cast(i)
	}
	errDone := errors.New("done here")
	if err := p.Stop(context.Background(), errDone); err != nil {
		t.Fatal(err)
	}
	casts, _ := rec.snapshot()
	if len(casts) != 100 {
		t.Fatalf("messages sent before stop handled: %d; want 100", len(casts))
	}
	if !rec.ended || !errors.Is(rec.reason, errDone) {
		t.Fatalf("terminate called=%v reason=%v", rec.ended, rec.reason)
	}
	if r := <-exited; !errors.Is(r, errDone) {
		t.Fatalf("OnExit reason %v", r)
	}
	if err := p.Cast(1); !errors.Is(err, process.ErrNoProcess) {
		t.Fatalf("cast after stop: %v", err)
	}
	if _, ok := rt.Lookup(p.Ref()); ok {
		t.Fatal("stopped process still in the table")
	}
	if err := p.Stop(context.Background(), nil); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if rt.Len() != 0 {
		t.Fatalf("runtime has %d processes; want 0", rt.Len())
	}
}

type selfStopper struct{ recorder }

func (s *selfStopper) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	self.Stop(nil)
	return "bye", nil
}

func TestSelfStop(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	s := &selfStopper{}
	p := start(t, rt, s, "self")
	if got, err := p.Call(context.Background(), "x"); err != nil || got != "bye" {
		t.Fatalf("call = %v, %v", got, err)
	}
	<-p.Done()
	if p.Err() != nil || !s.ended {
		t.Fatalf("reason %v, terminated %v", p.Err(), s.ended)
	}
}

type initFails struct{ recorder }

func (*initFails) Init(context.Context, process.Self) error { return errors.New("no thanks") }

type initTimer struct{ recorder }

func (i *initTimer) Init(_ context.Context, self process.Self) error {
	self.SendAfter(time.Millisecond, "from init")
	return self.Process().Send("queued in init")
}

func TestInit(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	if _, err := rt.Start(context.Background(), &initFails{}, process.SpawnOptions{Name: "x"}); err == nil || !strings.Contains(err.Error(), "no thanks") {
		t.Fatalf("start with failing init = %v", err)
	}
	if rt.Len() != 0 {
		t.Fatalf("failed init left %d processes", rt.Len())
	}
	it := &initTimer{}
	start(t, rt, it, "init")
	eventually(t, 5*time.Second, "init messages", func() bool {
		_, infos := it.snapshot()
		return len(infos) == 2
	})
}

func TestIdleProcessesHoldNoGoroutine(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	before := runtime.NumGoroutine()
	const n = 10000
	procs := make([]*process.Process, n)
	for i := range procs {
		procs[i] = start(t, rt, &recorder{}, "")
	}
	for _, p := range procs {
		if err := p.Cast("wake"); err != nil {
			t.Fatal(err)
		}
	}
	// Once every process has handled its message, all activations end.
	eventually(t, 10*time.Second, "activations to end", func() bool {
		return runtime.NumGoroutine() <= before+5
	})
	if rt.Len() != n {
		t.Fatalf("runtime has %d processes; want %d", rt.Len(), n)
	}
}

func TestShutdown(t *testing.T) {
	rt, err := process.NewRuntime(process.DefaultConfig(), process.NewKinds())
	if err != nil {
		t.Fatal(err)
	}
	var recs []*recorder
	for i := range 100 {
		r := &recorder{}
		recs = append(recs, r)
		if _, err := rt.Start(context.Background(), r, process.SpawnOptions{Name: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	for _, r := range recs {
		if !r.ended || !errors.Is(r.reason, process.ErrShutdown) {
			t.Fatalf("process not terminated with ErrShutdown: %v %v", r.ended, r.reason)
		}
	}
	if rt.Len() != 0 {
		t.Fatalf("%d processes left", rt.Len())
	}
	if _, err := rt.Start(context.Background(), &recorder{}, process.SpawnOptions{}); !errors.Is(err, process.ErrShutdown) {
		t.Fatalf("start after shutdown = %v", err)
	}
}

func TestKinds(t *testing.T) {
	k := process.NewKinds()
	f := func([]byte) (process.Behavior, error) { return &recorder{}, nil }
	if err := k.Register("echo", f); err != nil {
		t.Fatal(err)
	}
	if err := k.Register("echo", f); !errors.Is(err, process.ErrKindExists) {
		t.Fatalf("duplicate kind = %v", err)
	}
	if err := k.Register("", f); !errors.Is(err, process.ErrInvalid) {
		t.Fatalf("empty kind = %v", err)
	}
	if err := k.Register("nil", nil); !errors.Is(err, process.ErrInvalid) {
		t.Fatalf("nil factory = %v", err)
	}
	if err := k.Register("bad", func([]byte) (process.Behavior, error) { return nil, errors.New("bad args") }); err != nil {
		t.Fatal(err)
	}
	rt, err := process.NewRuntime(process.DefaultConfig(), k)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	if _, err := rt.Spawn(context.Background(), process.Spec{Kind: "nope"}, process.SpawnOptions{}); !errors.Is(err, process.ErrUnknownKind) {
		t.Fatalf("unknown kind = %v", err)
	}
	if _, err := rt.Spawn(context.Background(), process.Spec{Kind: "bad"}, process.SpawnOptions{}); err == nil || !strings.Contains(err.Error(), "bad args") {
		t.Fatalf("factory error = %v", err)
	}
	p, err := rt.Spawn(context.Background(), process.Spec{Kind: "echo"}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Call(context.Background(), 7); got != 7 {
		t.Fatalf("spawned echo returned %v", got)
	}
	if p.Ref().Node != "local" || p.Ref().IsZero() {
		t.Fatalf("ref %v", p.Ref())
	}
	if _, err := rt.Call(context.Background(), process.Ref{Node: "elsewhere", ID: p.Ref().ID}, 1); !errors.Is(err, process.ErrNoProcess) {
		t.Fatalf("call to another node's ref = %v", err)
	}
}

type goexiter struct{ recorder }

func (g *goexiter) HandleCall(context.Context, process.Self, any) (any, error) {
	runtime.Goexit()
	return nil, nil
}

func TestGoexitInHandlerEndsProcess(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	p := start(t, rt, &goexiter{}, "goexit")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Call(ctx, "x"); !errors.Is(err, process.ErrStopped) {
		t.Fatalf("call whose handler called Goexit = %v; want ErrStopped", err)
	}
	<-p.Done()
	if rt.Len() != 0 {
		t.Fatalf("%d processes left", rt.Len())
	}
}

func TestStopWaitsForFullExit(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	release := make(chan struct{})
	var exitDone atomic.Bool
	p, err := rt.Start(context.Background(), &recorder{}, process.SpawnOptions{OnExit: func(*process.Process, error) {
		<-release
		exitDone.Store(true)
	}})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- p.Stop(context.Background(), nil) }()
	eventually(t, 5*time.Second, "process marked dead", func() bool { return !p.Alive() })
	// A second Stop, and Done, while OnExit still runs: neither may report
	// the exit before it is complete.
	second := make(chan error, 1)
	go func() { second <- p.Stop(context.Background(), nil) }()
	done := p.Done()
	select {
	case <-done:
		t.Fatal("Done closed before OnExit finished")
	case <-second:
		t.Fatal("Stop returned before OnExit finished")
	case <-time.After(50 * time.Millisecond): // a window for a wrong early return to show
	}
	close(release)
	if err := <-first; err != nil || !exitDone.Load() {
		t.Fatalf("first stop = %v, exit done %v", err, exitDone.Load())
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	<-done
}

type ctxWaiter struct{ recorder }

func (w *ctxWaiter) HandleCast(ctx context.Context, _ process.Self, _ any) { <-ctx.Done() }

func TestShutdownEndsHandlerContexts(t *testing.T) {
	rt, err := process.NewRuntime(process.DefaultConfig(), process.NewKinds())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := rt.Start(context.Background(), &ctxWaiter{}, process.SpawnOptions{})
	_ = p.Cast("wait for shutdown")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a handler waiting on its context: %v", err)
	}
}

func TestFactoryPanicIsAnError(t *testing.T) {
	k := process.NewKinds()
	_ = k.Register("boom", func([]byte) (process.Behavior, error) { panic("bad factory") })
	rt, _ := process.NewRuntime(process.DefaultConfig(), k)
	defer rt.Shutdown(context.Background())
	if _, err := rt.Spawn(context.Background(), process.Spec{Kind: "boom"}, process.SpawnOptions{}); err == nil || !strings.Contains(err.Error(), "bad factory") {
		t.Fatalf("spawn with panicking factory = %v", err)
	}
}

var errSentinel = errors.New("sentinel")

type errPanicker struct{ recorder }

func (*errPanicker) HandleCall(context.Context, process.Self, any) (any, error) {
	panic(fmt.Errorf("wrapped: %w", errSentinel))
}

func TestPanicErrorUnwraps(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	p := start(t, rt, &errPanicker{}, "p")
	if _, err := p.Call(context.Background(), 1); !errors.Is(err, errSentinel) {
		t.Fatalf("call = %v; want it to wrap the panic's error", err)
	}
}

func TestStartSystem(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	p, err := side(rt).Start(context.Background(), 7, &recorder{}, process.SpawnOptions{Name: "sys"})
	if err != nil || p.Ref().ID != 7 {
		t.Fatalf("system process = %v, %v", p, err)
	}
	if _, err := side(rt).Start(context.Background(), 7, &recorder{}, process.SpawnOptions{}); !errors.Is(err, process.ErrInvalid) {
		t.Fatalf("second process with id 7 = %v", err)
	}
	for _, id := range []uint64{0, maxSystemID} {
		if _, err := side(rt).Start(context.Background(), id, &recorder{}, process.SpawnOptions{}); !errors.Is(err, process.ErrInvalid) {
			t.Fatalf("id %d = %v", id, err)
		}
	}
	q := start(t, rt, &recorder{}, "ordinary")
	if q.Ref().ID < maxSystemID {
		t.Fatalf("ordinary process got reserved id %d", q.Ref().ID)
	}
	if got, err := rt.Call(context.Background(), process.Ref{Node: rt.Node(), ID: 7}, "hi"); err != nil || got != "hi" {
		t.Fatalf("call system process = %v, %v", got, err)
	}
}
