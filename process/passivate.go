package process

import (
	"errors"
	"fmt"
	"time"
)

// Passivation. A process of a kind with KindOptions.PassivateAfter that
// has handled no message for that long gives up its Behavior: the state
// it would checkpoint (Checkpointer) is kept, encoded by the runtime's
// StateCodec when it has one (a process that checkpoints keeps nothing:
// its last stored checkpoint is its state, and SpawnOptions.Restore
// gives it back), Terminate runs with ErrPassivated, and the Behavior is
// dropped, so that what the process's objects held is freed.
// Its next message makes a new Behavior from the kind's factory and spec
// arguments, runs Init, hands it the kept state (HandoffReceiver), then
// handles the message: Orleans's deactivation and reactivation, in
// place. The process itself stays (its ref, name, mailbox and, for the
// registry, its registration), so passivating and waking touch nothing
// outside this node and no message can race the two: a passivated
// process costs its entry in the runtime and its encoded state.
//
// A process with a pending timer or reminder, or an asynchronous
// checkpoint not yet stored, is not idle. A kind that checkpoints has
// stored the state it passivates with already (sync: after the last
// message; async: it is not idle until then), so a crash of its node
// while it is passivated restarts it elsewhere from that state.

// ErrPassivated is the reason Terminate gets when a process is
// passivated.
var ErrPassivated = errors.New("passivated")

// passivation is the bookkeeping of a process whose kind passivates
// (procExtra.pass), owned by the goroutine running its handlers.
type passivation struct {
	args []byte // the spec's arguments, to make the Behavior again
	// restore gives the last stored checkpoint (SpawnOptions.Restore) of
	// a process whose kind checkpoints: it then keeps no state itself.
	restore func(*Process) (Handoff, bool)
	after   time.Duration // KindOptions.PassivateAfter
	timer   Timer         // the idle check; nil while passivated
	busy    bool          // a message was handled since the check was set
	// While passivated: the state (encoded if encoded), its version and
	// the process's reminders (none: a process with some is not idle).
	state   any
	encoded bool
	version uint32
}

// passivating returns p's passivation bookkeeping, if its kind
// passivates (set at start, so reading it needs no lock).
func (p *Process) passivating() *passivation {
	if p.kind == nil || p.kind.opts.PassivateAfter <= 0 {
		return nil
	}
	return p.extra.Load().pass
}

// Passivated reports whether the process is passivated (its Behavior
// dropped until its next message). It is a snapshot, for tests and
// inspection.
func (p *Process) Passivated() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dormant
}

// setDormant records whether p is passivated, and counts it.
func (p *Process) setDormant(d bool) {
	p.mu.Lock()
	was := p.dormant
	p.dormant = d
	p.mu.Unlock()
	switch {
	case d && !was:
		p.rt.passivated.Add(1)
	case !d && was:
		p.rt.passivated.Add(-1)
	}
}

// validatePassivation checks, at spawn, that a kind which passivates has
// a Behavior that can give its state and take it back.
func validatePassivation(kd *kind, b Behavior) error {
	_, cp := b.(Checkpointer)
	_, hr := b.(HandoffReceiver)
	if !cp || !hr {
		return fmt.Errorf("%w: kind %q passivates (KindOptions.PassivateAfter) but %T does not implement Checkpointer and HandoffReceiver: it could not be woken with its state", ErrInvalid, kd.name, b)
	}
	return nil
}

// armPassivation sets the idle check. It runs in p's turn (or at start).
func (p *Process) armPassivation(ps *passivation) {
	ps.busy = false
	ps.timer = p.rt.clock.AfterFunc(ps.after, func() {
		_ = p.enqueue(envelope{kind: kindPassivate})
	})
}

// stopPassivation stops the idle check; the process is retiring.
func (p *Process) stopPassivation() {
	if ps := p.passivating(); ps != nil && ps.timer != nil {
		ps.timer.Stop()
		ps.timer = nil
	}
}

// idle reports whether nothing keeps p awake: no timer, no asynchronous
// checkpoint to take or in flight.
func (p *Process) idle(ps *passivation) bool {
	if ps.busy || len(p.timerList()) > 0 {
		return false
	}
	if ck := p.ck; ck != nil && (ck.dirty || ck.inflight || ck.timer != nil || len(ck.merged) > 0) {
		return false
	}
	return true
}

// handlePassivate runs the idle check: passivate p if it stayed idle,
// else check again later.
func (p *Process) handlePassivate() (outcome, error) {
	ps := p.passivating()
	if ps == nil || p.behavior == nil || ps.timer == nil {
		return outNext, nil // passivated already, or retiring
	}
	ps.timer = nil
	if !p.idle(ps) {
		p.armPassivation(ps)
		return outNext, nil
	}
	var state any
	version, encoded := uint32(0), false
	if ps.restore == nil {
		if perr := p.protect(func() { state = p.behavior.(Checkpointer).CheckpointState(p.rt.ctx, Self{p}) }); perr != nil {
			return outPanic, perr
		}
		version = stateVersion(p.behavior)
	}
	// A process that checkpoints is idle only once its newest state is
	// stored (idle): its restore hook gives it back.
	if c := p.rt.stateCodec; c != nil && ps.restore == nil {
		b, err := c.Marshal(state)
		if err != nil {
			p.rt.log.Error("process not passivated: its state cannot be encoded (declare its type in KindOptions.State)",
				"process", p.String(), "kind", p.Kind(), "type", fmt.Sprintf("%T", state), "node", p.rt.node, "err", err)
			p.armPassivation(ps)
			return outNext, nil
		}
		state, encoded = b, true
	}
	if t, ok := p.behavior.(Terminator); ok {
		if perr := p.protect(func() { t.Terminate(p.rt.ctx, Self{p}, ErrPassivated) }); perr != nil {
			return outPanic, perr
		}
	}
	ps.state, ps.encoded, ps.version = state, encoded, version
	p.behavior = nil
	p.setDormant(true)
	return outNext, nil
}

// needsBehavior reports whether handling e needs p's Behavior (a
// passivated process wakes for it).
func needsBehavior(e envelope) bool {
	switch e.kind {
	case kindStop, kindPassivate:
		return false
	case kindCall:
		return !e.call().describe
	case kindCheckpoint:
		_, answer := e.msg.(ckDone)
		return !answer
	}
	return true
}

// wake makes p's Behavior again from its kind and spec arguments and the
// state it was passivated with. It runs in p's turn; an error ends p.
func (p *Process) wake() error {
	ps := p.passivating()
	from := &Handoff{State: ps.state, Version: ps.version}
	if ps.encoded {
		state, err := p.rt.stateCodec.Unmarshal(ps.state.([]byte))
		if err != nil {
			return p.wakeFailed(fmt.Errorf("decode its state: %w", err))
		}
		from.State = state
	}
	if ps.restore != nil {
		// Its last stored checkpoint; none if it was never checkpointed
		// (no message since it started from its spec: it starts so again).
		if h, ok := ps.restore(p); ok {
			from = &h
		} else {
			from = nil
		}
	}
	if err := p.renew(ps.args, from); err != nil {
		p.behavior = nil // Terminate is not run on a Behavior that never woke
		return p.wakeFailed(err)
	}
	ps.state, ps.encoded, ps.version = nil, false, 0
	p.setDormant(false)
	p.armPassivation(ps)
	return nil
}

// wakeFailed logs a passivated process that could not be woken and
// returns the reason it exits with.
func (p *Process) wakeFailed(err error) error {
	p.rt.log.Error("passivated process could not be woken; it stops", "process", p.String(), "kind", p.Kind(), "node", p.rt.node, "err", err)
	return fmt.Errorf("wake %s: %w", p, err)
}
