package process

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

type status uint8

const (
	stIdle       status = iota // no activation; mailbox empty
	stActive                   // an activation runs or is about to (or Init runs)
	stPaused                   // handing off: holds its activation; messages wait
	stForwarding               // handed off: messages go to the new incarnation
	stDead                     // exited; sends fail
)

type msgKind uint8

const (
	kindCall msgKind = iota
	kindCast
	kindInfo
	kindTimer
	kindStop
	kindHandoff
	kindResolve
	kindCheckpoint // an async checkpoint is due, a flush, or the sink's answer
	kindPassivate  // the idle check of a process whose kind passivates
)

type envelope struct {
	kind msgKind
	msg  any // for kindCall, the *call (which holds the message)
}

// call returns a kindCall envelope's call.
func (e envelope) call() *call { return e.msg.(*call) }

// callEnvelope wraps a call of msg for the mailbox: the envelope stays
// two words, so that a node of the inbox takes 32 bytes, not 48.
func callEnvelope(c *call, msg any) envelope {
	c.msg = msg
	return envelope{kind: kindCall, msg: c}
}

type result struct {
	val any
	err error
}

type call struct {
	msg any
	ctx context.Context
	ch  chan result      // buffered 1: the handler never blocks on a gone caller
	cb  func(any, error) // instead of ch, for CallAsync
	// describe asks for the behavior's Describe instead of HandleCall.
	describe bool
}

// reply delivers the result of a call to its caller.
func (c *call) reply(r result) {
	if c.cb != nil {
		c.cb(r.val, r.err)
		return
	}
	c.ch <- r
}

type stopMsg struct{ reason error }

type timerMsg struct {
	id  TimerID
	msg any
}

type timerEntry struct {
	id TimerID
	t  Timer
	// A reminder's message and when it is due (Self.Remind); msg is nil
	// for a plain timer.
	msg any
	at  time.Time
}

// Process is the local handle of a running (or exited) process. Its methods
// are safe for concurrent use and may be called from any goroutine,
// including other processes' handlers.
type Process struct {
	rt       *Runtime
	id       uint64
	name     string
	behavior Behavior
	kind     *kind // nil for a process not spawned from a kind
	// extra holds what few processes need (a restart policy, passivation,
	// a forward address, senders waiting for room, timers, a handoff in
	// progress, the reason of a stop it asked for), out of every
	// process's bytes. Set at start for a process whose kind restarts or
	// passivates it, else when first needed (ext); never replaced once
	// set.
	extra  atomic.Pointer[procExtra]
	onExit func(*Process, error)

	// in is the inbox (inbox.go).
	in atomic.Pointer[inNode]

	mu     sync.Mutex
	st     status
	exited bool // exit fully done: removed, OnExit called
	// dormant: passivated, its Behavior dropped until its next message.
	dormant bool
	// selfStop is owned by the goroutine running the handlers (it sits
	// here to share padding with st and exited).
	selfStop bool
	q        queue // the mailbox (queue.go)
	done     chan struct{}

	// Owned by the goroutine running the process's handlers.
	ck *ckState // nil unless the process checkpoints
}

// Ref returns the process's reference.
func (p *Process) Ref() Ref { return Ref{Node: p.rt.node, ID: p.id} }

// Kind returns the kind the process was spawned from ("" if it was
// started from a Behavior).
func (p *Process) Kind() string {
	if p.kind == nil {
		return ""
	}
	return p.kind.name
}

// Name returns the name given at spawn ("" if none).
func (p *Process) Name() string { return p.name }

// procExtra is a process's rarely needed state (Process.extra).
type procExtra struct {
	sup   *supervised   // its kind restarts it; set at start
	pass  *passivation  // its kind passivates it; set at start
	fwd   Ref           // where a handed-off process's messages go; under mu
	space chan struct{} // closed when a bounded mailbox has room; under mu
	exit  error         // why it exited or moved (Err); under mu

	// Owned by the goroutine running the process's handlers.
	timers     []timerEntry
	selfReason error  // the reason given to Self.Stop
	pending    func() // run once a handoff pause has taken effect
	// pendingAbort tells the handoff's caller it failed instead.
	pendingAbort func(error)
}

// ext returns p's extra, making it if need be; any goroutine may call
// it (what each field may be touched by is said at the field).
func (p *Process) ext() *procExtra {
	if x := p.extra.Load(); x != nil {
		return x
	}
	x := &procExtra{}
	if p.extra.CompareAndSwap(nil, x) {
		return x
	}
	return p.extra.Load()
}

// timerList returns p's pending timers (handler goroutine).
func (p *Process) timerList() []timerEntry {
	if x := p.extra.Load(); x != nil {
		return x.timers
	}
	return nil
}

// stopReason is the reason given to Self.Stop.
func (p *Process) stopReason() error {
	if x := p.extra.Load(); x != nil {
		return x.selfReason
	}
	return nil
}

// supervisor returns the process's restart state, if its kind restarts
// it (then extra was set at start: reading it needs no lock).
func (p *Process) supervisor() *supervised {
	if p.kind == nil || p.kind.opts.Restart.Mode == RestartTemporary {
		return nil
	}
	return p.extra.Load().sup
}

// String returns the process's name, or its ref if it has none.
func (p *Process) String() string {
	if p.name != "" {
		return p.name
	}
	return p.Ref().String()
}

// Alive reports whether the process has not exited.
func (p *Process) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st != stDead && p.st != stForwarding
}

// Done returns a channel closed when the process has exited.
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.doneLocked()
}

func (p *Process) doneLocked() chan struct{} {
	if p.done == nil {
		p.done = make(chan struct{})
		if p.exited {
			close(p.done)
		}
	}
	return p.done
}

// finish marks the exit complete and closes Done.
func (p *Process) finish() {
	p.mu.Lock()
	p.exited = true
	done := p.done
	p.mu.Unlock()
	if done != nil {
		close(done)
	}
}

// Err returns the exit reason once the process has exited: nil for a normal
// stop, ErrShutdown, a *PanicError, or the reason given to Stop.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if x := p.extra.Load(); x != nil {
		return x.exit
	}
	return nil
}

// Call sends msg to the process's HandleCall and waits for the reply or for
// ctx to end. A call whose ctx has ended before the process reaches it is
// skipped.
func (p *Process) Call(ctx context.Context, msg any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("call %s: %w", p, err)
	}
	c := p.rt.calls.Get().(*call)
	c.ctx = ctx
	if err := p.put(ctx, callEnvelope(c, msg), true); err != nil {
		c.ctx, c.msg = nil, nil
		p.rt.calls.Put(c)
		return nil, fmt.Errorf("call %s: %w", p, err)
	}
	var r result
	if done := ctx.Done(); done == nil {
		r = <-c.ch
	} else {
		select {
		case r = <-c.ch:
		case <-done:
			// The reply may still come: c is not reused.
			return nil, fmt.Errorf("call %s: %w", p, ctx.Err())
		}
	}
	// Replied to: nobody holds c any more (nor, through it, the message).
	c.ctx, c.msg = nil, nil
	p.rt.calls.Put(c)
	return r.val, r.err
}

// CallAsync sends msg to the process's HandleCall and returns at once;
// done receives the reply (or the error: ctx ended before the process
// reached the call, the process stopped, or its handler panicked), called
// from the process's goroutine, so it must not block. If CallAsync returns
// an error, done is never called.
func (p *Process) CallAsync(ctx context.Context, msg any, done func(reply any, err error)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("call %s: %w", p, err)
	}
	if err := p.put(ctx, callEnvelope(&call{ctx: ctx, cb: done}, msg), true); err != nil {
		return fmt.Errorf("call %s: %w", p, err)
	}
	return nil
}

// Describer is implemented by a behavior that can sum itself up for an
// operator (shoal inspect). Describe runs in the process's turn, between
// two messages, so it may read the state freely; it must not change it
// nor block, and its answer should fit on a line or two.
type Describer interface {
	Describe() string
}

// Describe returns the behavior's own summary, asked in the process's
// turn; ok is false if the behavior is not a Describer.
// A panic in Describe is returned as a *PanicError and does not stop the
// process (Describe only reads).
func (p *Process) Describe(ctx context.Context) (summary string, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", true, fmt.Errorf("describe %s: %w", p, err)
	}
	c := &call{ctx: ctx, ch: make(chan result, 1), describe: true}
	if err := p.enqueue(callEnvelope(c, nil)); err != nil {
		return "", true, fmt.Errorf("describe %s: %w", p, err)
	}
	select {
	case r := <-c.ch:
		if r.err != nil {
			return "", true, fmt.Errorf("describe %s: %w", p, r.err)
		}
		s, ok := r.val.(string)
		return s, ok, nil
	case <-ctx.Done():
		return "", true, fmt.Errorf("describe %s: %w", p, ctx.Err())
	}
}

// describe runs the behavior's Describe (the process's turn).
func (p *Process) describe() result {
	if p.behavior == nil {
		return result{val: "passivated"}
	}
	if _, ok := p.behavior.(Describer); !ok {
		return result{} // not a Describer: no summary
	}
	var s string
	if perr := p.protect(func() { s = p.behavior.(Describer).Describe() }); perr != nil {
		return result{err: perr}
	}
	return result{val: s}
}

// Cast sends msg to the process's HandleCast without waiting. It fails only
// if the process has exited.
func (p *Process) Cast(msg any) error {
	if err := p.put(nil, envelope{kind: kindCast, msg: msg}, true); err != nil {
		return fmt.Errorf("cast to %s: %w", p, err)
	}
	return nil
}

// Send sends msg to the process's HandleInfo without waiting. It fails only
// if the process has exited.
func (p *Process) Send(msg any) error {
	if err := p.put(nil, envelope{kind: kindInfo, msg: msg}, true); err != nil {
		return fmt.Errorf("send to %s: %w", p, err)
	}
	return nil
}

// Stop asks the process to stop after the messages already in its mailbox
// and waits until it has exited or ctx ends. reason nil is a normal stop.
// Stopping an exited process returns nil.
func (p *Process) Stop(ctx context.Context, reason error) error {
	done := p.Done()
	_ = p.enqueue(envelope{kind: kindStop, msg: stopMsg{reason: reason}}) // fails only if already exiting
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", p, ctx.Err())
	}
}

// enqueue appends e to the mailbox and starts an activation if the process
// was idle.
func (p *Process) enqueue(e envelope) error {
	p.mu.Lock()
	return p.enqueueLocked(e)
}

// enqueueLocked is enqueue with p.mu held; it unlocks it.
func (p *Process) enqueueLocked(e envelope) error {
	switch p.st {
	case stDead:
		p.mu.Unlock()
		return ErrNoProcess
	case stActive, stPaused:
		p.settleLocked() // what was pushed before goes first
		p.q.push(p.rt.segs, e)
		p.mu.Unlock()
		return nil
	case stForwarding:
		p.forwardLocked(e)
		p.mu.Unlock()
		return nil
	}
	p.settleLocked()
	p.q.push(p.rt.segs, e)
	p.setActiveLocked()
	p.rt.active.Add(1)
	p.mu.Unlock()
	p.rt.activate(p)
	return nil
}

// run is an activation: it drains the mailbox and returns when it is empty
// or the process exits.
func (p *Process) run() {
	var batch queue // what remains of the current batch
	segs := p.rt.segs
	var cur envelope // the message being handled
	clean := false
	keep := false // a handoff pause keeps the activation's place
	defer func() {
		if !clean {
			// A handler called runtime.Goexit (t.FailNow, for one): the
			// process cannot go on, but it must still exit properly, and
			// its caller, if any, must hear of it.
			p.exit(errGoexit, true, append([]envelope{cur}, batch.drain(segs)...))
		}
		if !keep {
			p.rt.active.Done()
		}
	}()
	for {
		p.mu.Lock()
		if p.setIdleLocked() {
			p.mu.Unlock()
			clean = true
			return
		}
		batch = p.q.take()
		p.roomLocked()
		p.mu.Unlock()
		for {
			var ok bool
			if cur, ok = batch.pop(segs); !ok {
				break
			}
			out, reason := p.handle(cur)
			switch out {
			case outExit, outPanic:
				panicked := out == outPanic
				if s := p.supervisor(); s != nil && (panicked || p.selfStop) && s.applies(reason, panicked) {
					// Supervised: the call that panicked hears it now
					// (the restart may wait), then the process restarts
					// in place and goes on with the batch.
					if panicked && cur.kind == kindCall {
						cur.call().reply(result{err: fmt.Errorf("call %s: %w", p, reason)})
					}
					restarted, why := p.restart(reason, panicked)
					if restarted {
						continue
					}
					p.exit(why, panicked, batch.drain(segs))
					clean = true
					return
				}
				rest := batch.drain(segs)
				if out == outPanic && cur.kind == kindCall {
					rest = append([]envelope{cur}, rest...)
				}
				p.exit(reason, out == outPanic, rest)
				clean = true
				return
			case outPause:
				p.mu.Lock()
				if p.rt.closed.Load() {
					// The runtime shuts down: nobody would end the pause
					// (Shutdown resumes only the processes paused before
					// it began), so the handoff fails and the stop that
					// Shutdown queued is handled.
					p.mu.Unlock()
					x := p.extra.Load()
					abort := x.pendingAbort
					x.pending, x.pendingAbort = nil, nil
					abort(ErrShutdown)
					continue
				}
				x := p.extra.Load()
				x.pendingAbort = nil
				p.q.prepend(segs, batch.take())
				p.st = stPaused
				p.mu.Unlock()
				clean, keep = true, true
				pending := x.pending
				x.pending = nil
				pending()
				return
			}
		}
	}
}

// errGoexit is the exit reason of a process whose handler called
// runtime.Goexit.
var errGoexit = errors.New("handler called runtime.Goexit")

// outcome is what handling one message leaves the process to do.
type outcome uint8

const (
	outNext  outcome = iota // go on with the next message
	outExit                 // exit with the given reason
	outPanic                // exit after a panic
	outPause                // pause for a handoff
)

// handle runs one message and says what the process does next.
func (p *Process) handle(e envelope) (outcome, error) {
	self := Self{p}
	ctx := p.rt.ctx
	if p.kind != nil && p.kind.opts.PassivateAfter > 0 && e.kind != kindPassivate {
		if p.behavior == nil && needsBehavior(e) {
			if err := p.wake(); err != nil {
				return outExit, err
			}
		}
		p.extra.Load().pass.busy = true
	}
	switch e.kind {
	case kindCall:
		c := e.call()
		if err := c.ctx.Err(); err != nil {
			if c.cb != nil {
				c.cb(nil, err)
			}
			return outNext, nil // the caller has given up
		}
		if c.describe {
			c.reply(p.describe())
			break
		}
		var val any
		var err error
		perr := p.protect(func() { val, err = p.behavior.HandleCall(c.ctx, self, c.msg) })
		if perr != nil {
			// exit answers this call, once the process is out of the
			// table: a caller told it stopped never finds it again.
			return outPanic, perr
		}
		// In sync mode the reply waits for the checkpoint.
		perr, cerr := p.changed()
		if perr != nil {
			return outPanic, perr
		}
		if err == nil {
			err = cerr
		}
		c.reply(result{val: val, err: err})
	case kindCast:
		if perr := p.protect(func() { p.behavior.HandleCast(ctx, self, e.msg) }); perr != nil {
			return outPanic, perr
		}
		if perr, _ := p.changed(); perr != nil {
			return outPanic, perr
		}
	case kindInfo:
		if perr := p.protect(func() { p.behavior.HandleInfo(ctx, self, e.msg) }); perr != nil {
			return outPanic, perr
		}
		if perr, _ := p.changed(); perr != nil {
			return outPanic, perr
		}
	case kindTimer:
		tm := e.msg.(*timerMsg)
		if !p.forgetTimer(tm.id) {
			return outNext, nil // cancelled after it fired
		}
		if perr := p.protect(func() { p.behavior.HandleInfo(ctx, self, tm.msg) }); perr != nil {
			return outPanic, perr
		}
		if perr, _ := p.changed(); perr != nil {
			return outPanic, perr
		}
	case kindCheckpoint:
		return p.handleCheckpoint(e)
	case kindPassivate:
		return p.handlePassivate()
	case kindStop:
		return outExit, e.msg.(stopMsg).reason
	case kindHandoff:
		pause, perr := p.handleHandoff(e.msg.(*handoffMsg))
		if perr != nil {
			return outPanic, perr
		}
		if pause && !p.selfStop {
			return outPause, nil
		}
		if pause { // stopped itself while answering: no handoff after all
			x := p.extra.Load()
			x.pending, x.pendingAbort = nil, nil
			e.msg.(*handoffMsg).done(Handoff{}, fmt.Errorf("handoff %s: %w", p, ErrStopped))
		}
	case kindResolve:
		rm := e.msg.(resolveMsg)
		if cr, ok := p.behavior.(ConflictResolver); ok {
			state, err := p.migrate(ctx, rm.version, rm.state)
			var perr *PanicError
			switch {
			case errors.As(err, &perr):
				return outPanic, perr
			case err != nil:
				p.rt.log.Error("a conflict loser's state could not be migrated; it is not merged", "process", p.String(), "loser", rm.c.Loser, "err", err)
			default:
				if perr := p.protect(func() { cr.ResolveConflict(ctx, self, rm.c, state) }); perr != nil {
					return outPanic, perr
				}
			}
		}
		if p.ck != nil {
			p.ck.merged = append(p.ck.merged, rm.c.Loser)
		}
		if perr, _ := p.changed(); perr != nil {
			return outPanic, perr
		}
	}
	if p.selfStop {
		return outExit, p.stopReason()
	}
	return outNext, nil
}

// protect runs f and turns a panic into a logged *PanicError.
func (p *Process) protect(f func()) (perr *PanicError) {
	defer func() {
		if v := recover(); v != nil {
			perr = &PanicError{Process: p.String(), Value: v, Stack: string(debug.Stack())}
			p.rt.log.Error("process panicked", "process", p.String(), "ref", p.Ref().String(),
				"panic", fmt.Sprint(v), "stack", perr.Stack)
		}
	}()
	f()
	return nil
}

func (p *Process) init(ctx context.Context, in Initializer) error {
	var err error
	if perr := p.protect(func() { err = in.Init(ctx, Self{p}) }); perr != nil {
		return perr
	}
	if p.selfStop {
		return fmt.Errorf("stopped during init: %w", errors.Join(ErrStopped, p.stopReason()))
	}
	return err
}

func (p *Process) endHandoff(ctx context.Context, hr HandoffReceiver, state any) error {
	var err error
	if perr := p.protect(func() { err = hr.EndHandoff(ctx, Self{p}, state) }); perr != nil {
		return perr
	}
	if p.selfStop {
		return fmt.Errorf("stopped during end handoff: %w", errors.Join(ErrStopped, p.stopReason()))
	}
	return err
}

// abandon removes a process whose Init failed; nothing else has seen it
// run.
func (p *Process) abandon(reason error) {
	p.stopTimers()
	p.stopCheckpoints()
	p.stopPassivation()
	p.mu.Lock()
	p.closeGateLocked()
	p.st = stDead
	p.ext().exit = reason
	p.roomLocked()
	rest := p.q.drain(p.rt.segs)
	p.mu.Unlock()
	p.failAll(rest, reason)
	p.rt.remove(p)
	p.finish()
	p.rt.active.Done()
}

// exit ends the process: Terminate (unless it panicked), timers, removal,
// pending calls failed, OnExit, then Done closes.
func (p *Process) exit(reason error, panicked bool, rest []envelope) {
	if t, ok := p.behavior.(Terminator); ok && !panicked {
		_ = p.protect(func() { t.Terminate(p.rt.ctx, Self{p}, reason) })
	}
	p.stopTimers()
	p.stopCheckpoints()
	p.stopPassivation()
	p.setDormant(false)
	p.mu.Lock()
	p.closeGateLocked()
	p.st = stDead
	p.ext().exit = reason
	p.roomLocked()
	rest = append(rest, p.q.drain(p.rt.segs)...)
	p.mu.Unlock()
	p.rt.remove(p) // before any caller hears it stopped
	p.failAll(rest, reason)
	if p.onExit != nil {
		p.onExit(p, reason)
	}
	p.finish()
}

func (p *Process) failAll(rest []envelope, reason error) {
	for _, e := range rest {
		var err error
		switch e.kind {
		case kindCall:
			err = fmt.Errorf("call %s: %w", p, ErrStopped)
		case kindHandoff:
			err = fmt.Errorf("handoff %s: %w", p, ErrStopped)
		default:
			continue
		}
		if reason != nil {
			err = fmt.Errorf("%w (%w)", err, reason)
		}
		if e.kind == kindCall {
			e.call().reply(result{err: err})
		} else {
			e.msg.(*handoffMsg).done(Handoff{}, err)
		}
	}
}

func (p *Process) sendAfter(d time.Duration, msg any) TimerID {
	return p.setTimer(d, msg, false)
}

// setTimer sets a timer; a reminder (durable) is remembered with its
// message and due time, to travel with the state.
func (p *Process) setTimer(d time.Duration, msg any, durable bool) TimerID {
	id := TimerID(p.rt.timerID.Add(1))
	tm := &timerMsg{id: id, msg: msg}
	t := p.rt.clock.AfterFunc(d, func() {
		_ = p.enqueue(envelope{kind: kindTimer, msg: tm})
	})
	te := timerEntry{id: id, t: t}
	if durable {
		te.msg, te.at = msg, time.Now().Add(d)
	}
	x := p.ext()
	x.timers = append(x.timers, te)
	return id
}

// forgetTimer removes id from the pending timers and reports whether it was
// there.
func (p *Process) forgetTimer(id TimerID) bool {
	x := p.extra.Load()
	if x == nil {
		return false
	}
	for i, te := range x.timers {
		if te.id == id {
			last := len(x.timers) - 1
			x.timers[i] = x.timers[last]
			x.timers[last] = timerEntry{}
			x.timers = x.timers[:last]
			if len(x.timers) == 0 {
				x.timers = nil
			}
			return true
		}
	}
	return false
}

func (p *Process) cancelTimer(id TimerID) bool {
	for _, te := range p.timerList() {
		if te.id == id {
			te.t.Stop()
			return p.forgetTimer(id)
		}
	}
	return false
}

func (p *Process) stopTimers() {
	x := p.extra.Load()
	if x == nil {
		return
	}
	for _, te := range x.timers {
		te.t.Stop()
	}
	x.timers = nil
}

// MailboxLen returns the number of messages waiting in the mailbox. It
// does not count the one being handled, nor those the process already
// took with it: a process takes every waiting message at once and handles
// them in turn, so this is what came after, and a process stuck in a
// handler shows what queues behind it.
func (p *Process) MailboxLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settleLocked()
	return p.q.n
}
