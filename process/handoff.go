package process

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Handing a process off to another node happens in three steps, driven by
// the registry through the runtime's side door (System):
//
//  1. System.BeginHandoff runs the Behavior's BeginHandoff hook in the process's
//     own turn, after the messages sent before it. Unless the process
//     chose to stay, it is then paused: it handles nothing more, and
//     messages sent to it (and its timers) wait in its mailbox.
//  2. The registry starts the new incarnation elsewhere with the state
//     (SpawnOptions.HandedOff; its EndHandoff hook receives it).
//  3. System.Forward ends the old incarnation: what waited in its mailbox,
//     and everything sent to its Ref afterwards, goes to the new one, in
//     order. If the new one could not be started, System.ResumeHandoff lets the
//     old one carry on as if nothing happened.

// HandoffAction is what a process does when its name moves to another
// node.
type HandoffAction uint8

const (
	// HandoffRestart starts a fresh process from the Spec on the new node;
	// the state is dropped. It is what a Behavior without a BeginHandoff
	// hook does.
	HandoffRestart HandoffAction = iota
	// HandoffMove carries State to the new process's EndHandoff hook.
	HandoffMove
	// HandoffStay keeps the process where it is. A node that is leaving
	// cannot keep it: there Stay counts as Restart.
	HandoffStay
)

func (a HandoffAction) String() string {
	switch a {
	case HandoffRestart:
		return "restart"
	case HandoffMove:
		return "move"
	case HandoffStay:
		return "stay"
	}
	return fmt.Sprintf("HandoffAction(%d)", a)
}

// Handoff is a process's answer to BeginHandoff.
type Handoff struct {
	Action HandoffAction
	// State is handed to the new process when Action is HandoffMove. It
	// crosses the network: its type must be registered in every node's
	// codec.
	State any
	// Version is the version of State's format: the runtime sets it from
	// the Behavior's StateVersioner (0 without one).
	Version uint32
	// Reminders are the process's pending reminders (Self.Remind): the
	// runtime fills them in, and sets them again in the new process.
	Reminders []Reminder
}

// Reminder is a pending reminder, as it travels with a state.
type Reminder struct {
	// At is when it is due (wall clock).
	At time.Time
	// Msg is what the process's HandleInfo gets then.
	Msg any
}

// reminders returns the process's pending reminders, soonest first.
func (p *Process) reminders() []Reminder {
	var out []Reminder
	for _, te := range p.timerList() {
		if te.msg != nil {
			out = append(out, Reminder{At: te.at, Msg: te.msg})
		}
	}
	slices.SortStableFunc(out, func(a, b Reminder) int { return a.At.Compare(b.At) })
	return out
}

// restoreReminders sets the reminders a state brought.
func (p *Process) restoreReminders(rs []Reminder) {
	now := time.Now()
	for _, r := range rs {
		p.setTimer(max(0, r.At.Sub(now)), r.Msg, true)
	}
}

// StateVersioner is implemented by a Behavior whose state format changes
// between releases (a field gained a meaning, a type was replaced): the
// states it hands off, checkpoints or loses in a conflict carry
// StateVersion, and a state of another version goes through MigrateState
// before EndHandoff or ResolveConflict sees it. During a rolling update
// states cross both ways, from the older build to the newer and back, so
// MigrateState should accept the versions either side produces. An error
// fails the start that needed it, and the state stays where it was.
type StateVersioner interface {
	StateVersion() uint32
	MigrateState(ctx context.Context, from uint32, state any) (any, error)
}

// stateVersion returns b's state version (0 if it has none).
func stateVersion(b Behavior) uint32 {
	if v, ok := b.(StateVersioner); ok {
		return v.StateVersion()
	}
	return 0
}

// migrate turns a state of version from into p's version.
func (p *Process) migrate(ctx context.Context, from uint32, state any) (any, error) {
	v, ok := p.behavior.(StateVersioner)
	if !ok || from == v.StateVersion() {
		return state, nil
	}
	var out any
	var err error
	if perr := p.protect(func() { out, err = v.MigrateState(ctx, from, state) }); perr != nil {
		return nil, perr
	}
	if err != nil {
		return nil, fmt.Errorf("migrate state of %s from version %d to %d: %w", p, from, v.StateVersion(), err)
	}
	return out, nil
}

// Handoffer is implemented by a Behavior that decides what happens to it
// when its name moves to another node (a node joined, or this one is
// leaving), and by one whose state should survive a netsplit: the losing
// copy's state goes to the winner's ResolveConflict.
type Handoffer interface {
	BeginHandoff(ctx context.Context, self Self) Handoff
}

// HandoffReceiver is implemented by a Behavior that takes over the state of
// its previous incarnation. EndHandoff runs after Init, before any message;
// an error fails the new incarnation, and the old one carries on.
type HandoffReceiver interface {
	EndHandoff(ctx context.Context, self Self, state any) error
}

// ConflictResolver is implemented by a Behavior that merges the state of
// another copy of itself: after a netsplit heals, a name may have a process
// on each side; one wins, and receives in ResolveConflict where each copy
// came from and the state the loser returned from BeginHandoff. The loser
// then exits with ErrConflict (its Terminate hook runs), and messages sent
// to it go to the winner.
type ConflictResolver interface {
	ResolveConflict(ctx context.Context, self Self, c Conflict, state any)
}

// Conflict says where the two copies of a name that met came from: the
// receiving process is Winner.
type Conflict struct {
	Name          string
	Winner, Loser Copy
	// SameRegistration says both copies descend from one registration
	// (its process was restarted or kept on each side of a split); false
	// means the name was registered afresh on one side while the other
	// still ran it.
	SameRegistration bool
}

// Copy is one copy of a conflicted process.
type Copy struct {
	// Node and Incarnation are the node that ran the copy and that start
	// of it (a node restarted at the same name is a new incarnation).
	Node        string
	Incarnation uint64
	// ID is the copy's process id on that node.
	ID uint64
	// Version counts the times the registry placed the name's process
	// (started, moved, restarted) up to this copy, as the copy's side
	// saw it: the copy with the higher version has moved or restarted
	// more often since the split.
	Version uint64
}

var (
	// ErrMoved is the exit reason of an incarnation that was handed off to
	// another node.
	ErrMoved = errors.New("process moved to another node")
	// ErrNotPaused means System.Forward or System.ResumeHandoff was
	// called on a process that System.BeginHandoff did not pause.
	ErrNotPaused = errors.New("process not paused for handoff")
)

// ForwardFor is how long the old incarnation of a handed-off process keeps
// forwarding messages sent to its Ref.
const ForwardFor = time.Minute

type handoffMsg struct {
	ctx     context.Context
	mayStay bool
	done    func(Handoff, error)
}

type resolveMsg struct {
	c       Conflict
	state   any
	version uint32
}

// beginHandoff: see System.BeginHandoff.
func (p *Process) beginHandoff(ctx context.Context, mayStay bool, done func(Handoff, error)) error {
	if done == nil {
		return fmt.Errorf("handoff %s: %w: nil done", p, ErrInvalid)
	}
	if err := p.enqueue(envelope{kind: kindHandoff, msg: &handoffMsg{ctx: ctx, mayStay: mayStay, done: done}}); err != nil {
		return fmt.Errorf("handoff %s: %w", p, err)
	}
	return nil
}

// resolveConflict: see System.ResolveConflict.
func (p *Process) resolveConflict(c Conflict, state any, version uint32) error {
	if err := p.enqueue(envelope{kind: kindResolve, msg: resolveMsg{c: c, state: state, version: version}}); err != nil {
		return fmt.Errorf("resolve conflict of %s: %w", p, err)
	}
	return nil
}

// resumeHandoff: see System.ResumeHandoff.
func (p *Process) resumeHandoff() error {
	p.mu.Lock()
	if p.st != stPaused {
		p.mu.Unlock()
		return fmt.Errorf("resume %s: %w", p, ErrNotPaused)
	}
	if p.setIdleLocked() {
		p.mu.Unlock()
		p.rt.active.Done()
		return nil
	}
	p.setActiveLocked()
	p.mu.Unlock()
	p.rt.activate(p) // the pause kept the activation's place in rt.active
	return nil
}

// forward: see System.Forward.
func (p *Process) forward(to Ref, reason error) error {
	if to.Node == p.rt.node && to.ID == p.id {
		return fmt.Errorf("forward %s: %w: to itself", p, ErrInvalid)
	}
	if to.Node != p.rt.node && p.rt.remote == nil {
		return fmt.Errorf("forward %s to %s: %w: no remote", p, to, ErrInvalid)
	}
	p.mu.Lock()
	if p.st != stPaused {
		p.mu.Unlock()
		return fmt.Errorf("forward %s: %w", p, ErrNotPaused)
	}
	p.mu.Unlock()
	// Paused: no handler runs, so this goroutine may run the hook and own
	// the timers.
	if t, ok := p.behavior.(Terminator); ok && reason != nil {
		_ = p.protect(func() { t.Terminate(p.rt.ctx, Self{p}, reason) })
	}
	p.stopTimers()
	p.stopCheckpoints()
	p.stopPassivation()
	if reason == nil {
		reason = ErrMoved
	}
	p.mu.Lock()
	p.closeGateLocked()
	p.st = stForwarding
	p.roomLocked()
	p.ext().fwd = to
	p.ext().exit = reason
	// Under p.mu, so that nothing sent meanwhile overtakes the backlog.
	for _, e := range p.q.drain(p.rt.segs) {
		p.forwardLocked(e)
	}
	p.mu.Unlock()
	p.rt.count.Add(-1)
	p.rt.clock.AfterFunc(ForwardFor, func() { p.rt.unlist(p) })
	if p.onExit != nil {
		p.onExit(p, reason)
	}
	p.finish()
	p.rt.active.Done()
	return nil
}

// forwardLocked sends one message of a retired incarnation on to its new
// home; p.mu is held.
func (p *Process) forwardLocked(e envelope) {
	rt, to := p.rt, p.extra.Load().fwd
	switch e.kind {
	case kindCast:
		_ = rt.Cast(to, e.msg)
	case kindInfo:
		_ = rt.Send(to, e.msg)
	case kindCall:
		c := e.call()
		if err := c.ctx.Err(); err != nil {
			c.reply(result{err: fmt.Errorf("call %s: %w", p, err)})
			return
		}
		if c.describe { // asked of this incarnation: ask the new one
			c.reply(result{err: fmt.Errorf("%w to %s", ErrMoved, to)})
			return
		}
		rt.forwarding.Add(1)
		err := rt.callAsync(c.ctx, to, c.msg, func(v any, err error) {
			rt.forwarding.Add(-1)
			c.reply(result{val: v, err: err})
		})
		if err != nil {
			rt.forwarding.Add(-1)
			c.reply(result{err: fmt.Errorf("call %s (moved to %s): %w", p, to, err)})
		}
	case kindHandoff:
		h := e.msg.(*handoffMsg)
		h.done(Handoff{}, fmt.Errorf("handoff %s: %w", p, ErrMoved))
	case kindResolve:
		if to.Node == rt.node {
			if q, ok := rt.Lookup(to); ok {
				rm := e.msg.(resolveMsg)
				_ = q.resolveConflict(rm.c, rm.state, rm.version)
			}
		}
		// A conflict state for a process that moved away is dropped: the
		// registry resolves the name again where it now runs.
	}
	// kindTimer, kindStop: this incarnation's own; dropped.
}

// callAsync calls ref, on this node or another, and hands the outcome to
// done.
func (rt *Runtime) callAsync(ctx context.Context, ref Ref, msg any, done func(any, error)) error {
	if remote, err := rt.remoteFor(ref); err != nil {
		return fmt.Errorf("call: %w", err)
	} else if remote {
		return rt.remote.CallAsync(ctx, ref, msg, done)
	}
	p, err := rt.lookup(ref)
	if err != nil {
		return err
	}
	if rt.codec == nil {
		return p.CallAsync(ctx, msg, done)
	}
	if msg, err = rt.cross(p, "call", msg); err != nil {
		return err
	}
	return p.CallAsync(ctx, msg, func(v any, err error) {
		if err == nil {
			v, err = rt.cross(p, "reply from", v)
		}
		done(v, err)
	})
}

// handleHandoff runs the BeginHandoff hook; it reports whether the process
// must pause.
func (p *Process) handleHandoff(h *handoffMsg) (pause bool, perr *PanicError) {
	if err := h.ctx.Err(); err != nil {
		h.done(Handoff{}, fmt.Errorf("handoff %s: %w", p, err))
		return false, nil
	}
	ans := Handoff{Action: HandoffRestart}
	if hf, ok := p.behavior.(Handoffer); ok {
		if perr := p.protect(func() { ans = hf.BeginHandoff(h.ctx, Self{p}) }); perr != nil {
			h.done(Handoff{}, perr)
			return false, perr
		}
	}
	switch ans.Action {
	case HandoffRestart, HandoffMove, HandoffStay:
	default:
		h.done(Handoff{}, fmt.Errorf("handoff %s: %w: action %v", p, ErrInvalid, ans.Action))
		return false, nil
	}
	if ans.Action == HandoffStay && !h.mayStay {
		ans.Action = HandoffRestart
	}
	if ans.Action == HandoffRestart {
		ans.State = nil
	}
	if ans.Action == HandoffMove {
		ans.Version = stateVersion(p.behavior)
		ans.Reminders = p.reminders()
	}
	if ans.Action == HandoffStay {
		h.done(ans, nil)
		return false, nil
	}
	// The caller learns the answer once the pause has taken effect (see
	// run), so that it may Forward at once.
	x := p.ext()
	x.pending = func() { h.done(ans, nil) }
	x.pendingAbort = func(err error) { h.done(Handoff{}, fmt.Errorf("handoff %s: %w", p, err)) }
	return true, nil
}
