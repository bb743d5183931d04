package process

import (
	"context"
	"fmt"

	"github.com/shoalhq/shoal/internal/sys"
)

// System is the runtime's side door for the registry of this module:
// hooks that pause a process for a handoff and end the pause, retire it
// to its new incarnation, hand it a conflict's losing state, ask it for a
// checkpoint, and start processes at fixed ids. Calling them out of turn
// would break what the registry guarantees, so only the holder of a
// sys.Key (an internal package: this module's packages) can get one.
type System struct{ rt *Runtime }

// System returns the runtime's side door.
func (rt *Runtime) System(sys.Key) System { return System{rt: rt} }

// check refuses the zero System, which any package can write.
func (s System) check(what string) error {
	if s.rt == nil {
		return fmt.Errorf("%s: %w: the zero System opens nothing (Runtime.System gives one)", what, ErrInvalid)
	}
	return nil
}

// Start starts a process with a fixed id below 65536, so that other
// nodes can address it as Ref{Node: node, ID: id} (the registry's peer
// endpoint is one). Starting a second process with a live id fails.
func (s System) Start(ctx context.Context, id uint64, b Behavior, opts SpawnOptions) (*Process, error) {
	if err := s.check("start system process"); err != nil {
		return nil, err
	}
	if id == 0 || id >= maxSystemID {
		return nil, fmt.Errorf("start system process: %w: id %d not in 1-%d", ErrInvalid, id, maxSystemID-1)
	}
	return s.rt.start(ctx, id, b, opts, nil, nil)
}

// Forwarding returns the number of calls that reached handed-off
// processes here and wait for their new incarnations' replies.
func (s System) Forwarding() int {
	if s.rt == nil {
		return 0
	}
	return int(s.rt.forwarding.Load())
}

// BeginHandoff asks p, in its turn, what to do now that its name moves to
// another node (its Handoffer hook; Restart if it has none). done
// receives the answer, from p's goroutine; it must not block. Unless the
// answer is Stay (or an error), p is then paused and the caller must end
// the pause with Forward or ResumeHandoff. If mayStay is false (the node
// is leaving), Stay counts as Restart. If ctx ends before p reaches the
// request, done gets ctx's error and nothing changes.
func (s System) BeginHandoff(ctx context.Context, p *Process, mayStay bool, done func(Handoff, error)) error {
	if err := s.check("handoff"); err != nil {
		return err
	}
	return p.beginHandoff(ctx, mayStay, done)
}

// ResumeHandoff ends a pause begun by BeginHandoff without moving: p
// handles what waited in its mailbox and carries on.
func (s System) ResumeHandoff(p *Process) error {
	if err := s.check("resume"); err != nil {
		return err
	}
	return p.resumeHandoff()
}

// Forward ends a pause begun by BeginHandoff by retiring p: its timers
// stop, what waited in its mailbox and every message later sent to its
// Ref goes to the process at to (for ForwardFor), in the order sent, and
// Done closes with reason (ErrMoved if nil). If reason is not nil the
// Terminate hook runs with it first. Timers and stop requests that
// waited are dropped: they belonged to this incarnation.
func (s System) Forward(p *Process, to Ref, reason error) error {
	if err := s.check("forward"); err != nil {
		return err
	}
	return p.forward(to, reason)
}

// ResolveConflict hands p the state of a losing copy (of the given state
// version, migrated if need be) for its ConflictResolver hook, in its
// turn. A process without the hook ignores it.
func (s System) ResolveConflict(p *Process, c Conflict, state any, version uint32) error {
	if err := s.check("resolve conflict"); err != nil {
		return err
	}
	return p.resolveConflict(c, state, version)
}

// Flush asks p, if it checkpoints, to checkpoint its state now, in its
// turn, even if nothing changed (the registry asks after a merge it must
// record).
func (s System) Flush(p *Process) error {
	if err := s.check("flush"); err != nil {
		return err
	}
	return p.flush()
}
