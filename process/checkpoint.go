package process

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Checkpoints. A process whose kind checkpoints hands its state to a
// CheckpointSink (the registry, which keeps it on the replicas of the
// name's partition) after the messages it handles, so that a crash of
// its node does not lose it: the process is started again elsewhere from
// its newest checkpoint. The runtime owns the when (the mode), the sink
// the where.

// CheckpointMode says when a process's state is checkpointed.
type CheckpointMode uint8

const (
	// CheckpointOff never checkpoints: a crash loses the state (a
	// graceful handoff still carries it). The default.
	CheckpointOff CheckpointMode = iota
	// CheckpointSync checkpoints after every message the process
	// handles; the reply to a call, and the next message, wait until the
	// sink has stored it (the registry: on every live replica). Nothing
	// a caller saw acknowledged is lost while a replica survives; each
	// message costs a round trip to the replicas.
	CheckpointSync
	// CheckpointAsync checkpoints at most once per interval
	// (CheckpointOptions.Every), the changes in between coalesced; replies
	// do not wait. A crash loses at most the changes of the last interval
	// (and of the checkpoint in flight).
	CheckpointAsync
)

func (m CheckpointMode) String() string {
	switch m {
	case CheckpointOff:
		return "off"
	case CheckpointSync:
		return "sync"
	case CheckpointAsync:
		return "async"
	}
	return fmt.Sprintf("CheckpointMode(%d)", m)
}

// ParseCheckpointMode reads "off", "sync" or "async".
func ParseCheckpointMode(s string) (CheckpointMode, error) {
	switch s {
	case "off":
		return CheckpointOff, nil
	case "sync":
		return CheckpointSync, nil
	case "async":
		return CheckpointAsync, nil
	}
	return 0, fmt.Errorf("checkpoint mode %q: %w: want off, sync or async", s, ErrInvalid)
}

// DefaultCheckpointEvery is the async interval when none is set.
const DefaultCheckpointEvery = 100 * time.Millisecond

// Checkpointer is implemented by a Behavior whose kind checkpoints: it
// returns the state to save, the same value its BeginHandoff would hand
// over (its type registered in every node's codec), and its EndHandoff
// receives it when the process is started again from the checkpoint.
// It runs in the process's turn, after the message it follows.
type Checkpointer interface {
	CheckpointState(ctx context.Context, self Self) any
}

// Checkpoint is one saved state of a process, handed to a sink.
type Checkpoint struct {
	// Process is the process that saved it.
	Process *Process
	// Seq numbers the process's checkpoints from 1; a later one replaces
	// an earlier.
	Seq uint64
	// State is what the process's Checkpointer returned. The process goes
	// on changing it once SaveCheckpoint returns.
	State any
	// Version is State's format version (StateVersioner; 0 without).
	Version uint32
	// Reminders are the process's pending reminders (Self.Remind).
	Reminders []Reminder
	// Merged lists the conflict losers whose states the process took
	// (ResolveConflict) since its last checkpoint the sink stored.
	Merged []Copy
	// Mode is the process's mode and Every its async interval (0: the
	// default). The process waits on a sync checkpoint before it goes on;
	// a sink may hold an async one back for a small part of Every, to
	// store it together with others.
	Mode  CheckpointMode
	Every time.Duration
}

// CheckpointSink stores checkpoints.
type CheckpointSink interface {
	// SaveCheckpoint is called in the process's turn: it must encode
	// ck.State before it returns and must not block; it calls done once,
	// from any goroutine, when the checkpoint is stored (nil) or cannot
	// be (the error). done does not block.
	SaveCheckpoint(ck Checkpoint, done func(error))
}

// CheckpointOptions say whether and how a process checkpoints.
type CheckpointOptions struct {
	// Mode is when; CheckpointOff (the zero value) never.
	Mode CheckpointMode
	// Every is the async interval; 0 means DefaultCheckpointEvery.
	Every time.Duration
	// Sink stores the checkpoints; required unless Mode is
	// CheckpointOff.
	Sink CheckpointSink
}

// ErrNotDurable is the error of a call to a process in sync mode whose
// checkpoint after the call could not be stored: the call took effect
// (its reply comes with the error), but a crash may lose it.
var ErrNotDurable = errors.New("state change not checkpointed")

// ckState is a checkpointing process's bookkeeping, owned by the
// goroutine running its handlers.
type ckState struct {
	opts     CheckpointOptions
	seq      uint64
	merged   []Copy // taken since the last stored checkpoint
	dirty    bool   // changed since the last checkpoint taken (async)
	inflight bool   // a checkpoint is with the sink (async)
	timer    Timer  // the next async checkpoint, if set
}

// ckDone is the sink's answer to an async checkpoint.
type ckDone struct {
	merged int // how many of ckState.merged it held
	err    error
}

// ckFlush asks for a checkpoint now.
type ckFlush struct{}

// validate checks the options at spawn.
func (o CheckpointOptions) validate(b Behavior) error {
	switch o.Mode {
	case CheckpointOff:
		return nil
	case CheckpointSync, CheckpointAsync:
	default:
		return fmt.Errorf("%w: checkpoint mode %v", ErrInvalid, o.Mode)
	}
	if o.Sink == nil {
		return fmt.Errorf("%w: checkpoint mode %v without a sink", ErrInvalid, o.Mode)
	}
	if o.Every < 0 {
		return fmt.Errorf("%w: negative checkpoint interval %v", ErrInvalid, o.Every)
	}
	if _, ok := b.(Checkpointer); !ok {
		return fmt.Errorf("%w: checkpoint mode %v but %T does not implement Checkpointer", ErrInvalid, o.Mode, b)
	}
	return nil
}

// flush: see System.Flush.
func (p *Process) flush() error {
	if err := p.enqueue(envelope{kind: kindCheckpoint, msg: ckFlush{}}); err != nil {
		return fmt.Errorf("flush %s: %w", p, err)
	}
	return nil
}

// CheckpointMode returns the process's checkpoint mode.
func (p *Process) CheckpointMode() CheckpointMode {
	if p.ck == nil {
		return CheckpointOff
	}
	return p.ck.opts.Mode
}

// changed is called in the process's turn after a message that may have
// changed its state; sync mode checkpoints and waits (its error is what
// a call's caller should hear), async mode schedules.
func (p *Process) changed() (*PanicError, error) {
	ck := p.ck
	if ck == nil || p.selfStop {
		return nil, nil
	}
	if ck.opts.Mode == CheckpointSync {
		return p.checkpointSync()
	}
	ck.dirty = true
	p.scheduleCheckpoint()
	return nil, nil
}

// checkpointSync hands the state to the sink and waits for its answer.
func (p *Process) checkpointSync() (*PanicError, error) {
	ck := p.ck
	ch := make(chan error, 1)
	n := len(ck.merged)
	if perr := p.takeCheckpoint(func(err error) { ch <- err }); perr != nil {
		return perr, nil
	}
	var err error
	select {
	case err = <-ch:
	case <-p.rt.ctx.Done():
		err = ErrShutdown
	}
	if err != nil {
		p.rt.log.Debug("checkpoint not stored", "process", p.String(), "seq", ck.seq, "err", err)
		ck.dirty = true // not idle until one is stored (passivation)
		return nil, fmt.Errorf("%w: %s seq %d: %w", ErrNotDurable, p, ck.seq, err)
	}
	ck.merged = ck.merged[n:]
	if len(ck.merged) == 0 {
		ck.merged = nil
	}
	return nil, nil
}

// takeCheckpoint asks the behavior for its state and hands it to the
// sink.
func (p *Process) takeCheckpoint(done func(error)) *PanicError {
	ck := p.ck
	var state any
	if perr := p.protect(func() { state = p.behavior.(Checkpointer).CheckpointState(p.rt.ctx, Self{p}) }); perr != nil {
		return perr
	}
	ck.seq++
	ck.dirty = false
	ck.opts.Sink.SaveCheckpoint(Checkpoint{Process: p, Seq: ck.seq, State: state, Version: stateVersion(p.behavior), Reminders: p.reminders(),
		Merged: append([]Copy(nil), ck.merged...), Mode: ck.opts.Mode, Every: ck.opts.Every}, done)
	return nil
}

// scheduleCheckpoint sets the async timer if a checkpoint is due and
// none is set or in flight.
func (p *Process) scheduleCheckpoint() {
	ck := p.ck
	if !ck.dirty || ck.inflight || ck.timer != nil {
		return
	}
	every := ck.opts.Every
	if every == 0 {
		every = DefaultCheckpointEvery
	}
	ck.timer = p.rt.clock.AfterFunc(every, func() {
		_ = p.enqueue(envelope{kind: kindCheckpoint})
	})
}

// handleCheckpoint runs an async checkpoint, a flush or a sink's answer.
func (p *Process) handleCheckpoint(e envelope) (outcome, error) {
	ck := p.ck
	if ck == nil {
		return outNext, nil
	}
	switch m := e.msg.(type) {
	case ckDone:
		ck.inflight = false
		if m.err != nil {
			p.rt.log.Debug("checkpoint not stored; sent again with the next", "process", p.String(), "seq", ck.seq, "err", m.err)
			ck.dirty = true
		} else {
			ck.merged = ck.merged[m.merged:]
			if len(ck.merged) == 0 {
				ck.merged = nil
			}
		}
		p.scheduleCheckpoint()
		return outNext, nil
	case ckFlush:
		if ck.opts.Mode == CheckpointSync {
			perr, err := p.checkpointSync()
			if perr != nil {
				return outPanic, perr
			}
			if err != nil {
				p.rt.log.Warn("checkpoint asked for not stored", "process", p.String(), "err", err)
			}
			return outNext, nil
		}
		ck.dirty = true
		if ck.timer != nil {
			ck.timer.Stop()
			ck.timer = nil
		}
		if ck.inflight {
			return outNext, nil // goes once the one in flight is answered
		}
	default: // the async timer fired
		ck.timer = nil
		if !ck.dirty || ck.inflight {
			return outNext, nil
		}
	}
	ck.inflight = true
	n := len(ck.merged)
	perr := p.takeCheckpoint(func(err error) {
		_ = p.enqueue(envelope{kind: kindCheckpoint, msg: ckDone{merged: n, err: err}})
	})
	if perr != nil {
		return outPanic, perr
	}
	return outNext, nil
}

// stopCheckpoints stops the async timer; the process is retiring.
func (p *Process) stopCheckpoints() {
	if p.ck != nil && p.ck.timer != nil {
		p.ck.timer.Stop()
		p.ck.timer = nil
	}
}
