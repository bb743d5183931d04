package process

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Behavior is the code of a process. The runtime calls its methods one at a
// time, never concurrently, from whichever goroutine is draining the
// process's mailbox; a Behavior therefore needs no locking for its own state.
//
// Handlers may call other processes (they may block), but a process that
// calls itself waits until its context ends.
type Behavior interface {
	// HandleCall handles a synchronous request. ctx is the caller's context:
	// its deadline is the caller's. The returned value and error reach the
	// caller as they are.
	HandleCall(ctx context.Context, self Self, msg any) (reply any, err error)
	// HandleCast handles an asynchronous message. ctx ends when the runtime
	// shuts down.
	HandleCast(ctx context.Context, self Self, msg any)
	// HandleInfo handles a message the process sent itself (Self.SendAfter)
	// or any other info message sent with Process.Send.
	HandleInfo(ctx context.Context, self Self, msg any)
}

// Initializer is implemented by a Behavior that needs to act before its
// first message, for example to set its first timer. Init runs on the
// spawning goroutine, before Spawn returns; an error from Init fails the
// spawn and the process never runs.
type Initializer interface {
	Init(ctx context.Context, self Self) error
}

// Terminator is implemented by a Behavior that needs to clean up when it is
// stopped. Terminate is not called after a panic. reason is nil for a normal
// stop.
type Terminator interface {
	Terminate(ctx context.Context, self Self, reason error)
}

// Spec says how to create a process: the kind (a Factory registered under
// that name on every node) and its serialised arguments. A Spec is plain
// data: it can be stored and sent to another node.
type Spec struct {
	// Kind names a Factory registered in Kinds.
	Kind string
	// Args are the kind's arguments in whatever encoding the kind's Factory
	// reads; nil is allowed.
	Args []byte
}

// Factory creates a fresh Behavior from a Spec's arguments. It must not
// block; use Initializer for work that must precede the first message.
type Factory func(args []byte) (Behavior, error)

// Self is what a handler knows of its own process. It is valid only inside
// that process's handlers (and Init and Terminate); its timer and stop
// methods must not be called from other goroutines.
type Self struct{ p *Process }

// Ref returns the process's reference.
func (s Self) Ref() Ref { return s.p.Ref() }

// Name returns the name the process was spawned with ("" if none).
func (s Self) Name() string { return s.p.name }

// Process returns the process's handle, to give to other processes.
func (s Self) Process() *Process { return s.p }

// Logger returns the runtime's logger with this process's name or ref.
func (s Self) Logger() *slog.Logger { return s.p.rt.log.With("process", s.p.String()) }

// SendAfter delivers msg to this process's HandleInfo after d, unless the
// timer is cancelled first or the process stops. It does not block.
func (s Self) SendAfter(d time.Duration, msg any) TimerID {
	return s.p.sendAfter(d, msg)
}

// Remind is SendAfter for a reminder that moves with the process: when
// its name moves to another node (its handoff moves its state) or its
// node crashes (its kind checkpoints), the new process gets msg at the
// same time, or at once if that time has passed meanwhile. msg crosses
// the network: its type must be registered in every node's codec. A
// SendAfter timer, by contrast, belongs to this process alone and is
// dropped when it moves. CancelTimer cancels a reminder too.
func (s Self) Remind(d time.Duration, msg any) TimerID {
	return s.p.setTimer(d, msg, true)
}

// CancelTimer cancels a timer set by SendAfter or Remind. It reports whether the timer
// was still pending; after it returns, that timer's message is never
// handled.
func (s Self) CancelTimer(id TimerID) bool {
	return s.p.cancelTimer(id)
}

// Stop asks the runtime to stop this process once the current handler
// returns. reason nil means a normal stop.
func (s Self) Stop(reason error) {
	s.p.selfStop = true
	if reason != nil {
		s.p.ext().selfReason = reason
	} else if x := s.p.extra.Load(); x != nil {
		x.selfReason = nil
	}
}

// safeFactory runs f, turning a panic into an error.
func safeFactory(f Factory, args []byte) (b Behavior, err error) {
	defer func() {
		if v := recover(); v != nil {
			b, err = nil, fmt.Errorf("factory panicked: %v", v)
		}
	}()
	return f(args)
}
