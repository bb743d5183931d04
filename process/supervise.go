package process

import (
	"errors"
	"fmt"
	"time"
)

// Supervision. A kind's RestartPolicy says whether its processes are
// restarted in place when they end by themselves, as an OTP supervisor
// restarts its children: the same process (its ref, name and mailbox
// stay, so the registry and callers see nothing move) gets a new
// Behavior from its kind's factory and spec arguments, runs Init, and
// takes back the state of its last stored checkpoint (through its
// EndHandoff) when its kind checkpoints and its spawner can read it
// (SpawnOptions.Restore: the registry can). The message that made it
// panic is dropped (a call gets the panic as its error); the messages
// after it are handled by the new incarnation. Restarted more often than
// the policy's intensity allows, it stops with ErrRestartIntensity, and
// says why in the log.

// RestartMode is when a process is restarted.
type RestartMode uint8

const (
	// RestartTemporary never restarts: a panic or a stop ends the process
	// (and its registration). The default.
	RestartTemporary RestartMode = iota
	// RestartTransient restarts after a panic, or a stop the process asked
	// for with a reason (Self.Stop with a non-nil error).
	RestartTransient
	// RestartPermanent restarts after a panic or any stop the process
	// asked for itself. A stop from outside (Process.Stop, Unregister,
	// shutdown) always ends it.
	RestartPermanent
)

func (m RestartMode) String() string {
	switch m {
	case RestartTemporary:
		return "temporary"
	case RestartTransient:
		return "transient"
	case RestartPermanent:
		return "permanent"
	}
	return fmt.Sprintf("RestartMode(%d)", m)
}

// RestartPolicy is a kind's restart policy (KindOptions.Restart).
type RestartPolicy struct {
	// Mode says when; RestartTemporary by default.
	Mode RestartMode
	// MaxRestarts restarts within Within are allowed; one more stops the
	// process with ErrRestartIntensity. 0 means 3 in 5 s (OTP's
	// supervisor allows 1 in 5 s by default; a process here restarts
	// alone, not with siblings).
	MaxRestarts int
	Within      time.Duration
	// Backoff delays the first restart within Within; each next one waits
	// twice as long, up to MaxBackoff (0 means 1 s). 0 restarts at once.
	// The mailbox keeps what arrives meanwhile.
	Backoff, MaxBackoff time.Duration
}

// ErrRestartIntensity is the exit reason of a process restarted more
// often than its RestartPolicy allows.
var ErrRestartIntensity = errors.New("restarted too often")

func (r RestartPolicy) validate() error {
	switch {
	case r.Mode > RestartPermanent:
		return fmt.Errorf("%w: restart mode %v", ErrInvalid, r.Mode)
	case r.MaxRestarts < 0 || r.Within < 0 || r.Backoff < 0 || r.MaxBackoff < 0:
		return fmt.Errorf("%w: negative restart intensity or backoff", ErrInvalid)
	}
	return nil
}

// withDefaults fills the zero intensity and backoff ceiling.
func (r RestartPolicy) withDefaults() RestartPolicy {
	if r.MaxRestarts == 0 {
		r.MaxRestarts = 3
	}
	if r.Within == 0 {
		r.Within = 5 * time.Second
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = time.Second
	}
	return r
}

// supervised is what a restartable process keeps to restart itself.
type supervised struct {
	args     []byte
	policy   RestartPolicy
	restore  func(*Process) (Handoff, bool)
	restarts []time.Time // within policy.Within, oldest first
}

// applies reports whether the policy restarts a process that ended with
// reason (panicked, or a stop it asked for).
func (s *supervised) applies(reason error, panicked bool) bool {
	switch s.policy.Mode {
	case RestartPermanent:
		return true
	case RestartTransient:
		return panicked || reason != nil
	}
	return false
}

// restart restarts p in place after it ended with reason, if its policy
// says so; otherwise, or if the restart fails, it returns false and the
// reason p exits with. It runs in p's turn.
func (p *Process) restart(reason error, panicked bool) (bool, error) {
	s := p.supervisor()
	if s == nil || !s.applies(reason, panicked) || p.rt.closed.Load() {
		return false, reason
	}
	now := time.Now()
	keep := s.restarts[:0]
	for _, t := range s.restarts {
		if now.Sub(t) < s.policy.Within {
			keep = append(keep, t)
		}
	}
	s.restarts = keep
	if len(s.restarts) >= s.policy.MaxRestarts {
		err := fmt.Errorf("%w: %d restarts within %v, then: %w", ErrRestartIntensity, len(s.restarts), s.policy.Within, reason)
		p.rt.log.Error("process restarted too often; it stops", "process", p.String(), "kind", p.Kind(),
			"restarts", len(s.restarts), "within", s.policy.Within, "reason", reason)
		return false, err
	}
	if d := backoff(s.policy, len(s.restarts)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-p.rt.ctx.Done():
			t.Stop()
			return false, reason
		}
	}
	s.restarts = append(s.restarts, now)
	if t, ok := p.behavior.(Terminator); ok && !panicked {
		_ = p.protect(func() { t.Terminate(p.rt.ctx, Self{p}, reason) })
	}
	p.stopTimers() // the old incarnation's; reminders come back with the state
	p.selfStop = false
	if x := p.extra.Load(); x != nil {
		x.selfReason = nil
	}
	var from *Handoff // its last stored checkpoint, if its spawner keeps one
	if s.restore != nil {
		if h, ok := s.restore(p); ok {
			from = &h
		}
	}
	if err := p.renew(s.args, from); err != nil {
		return false, p.restartFailed(reason, err)
	}
	restored := from != nil
	p.rt.log.Warn("process restarted", "process", p.String(), "kind", p.Kind(), "policy", s.policy.Mode,
		"from_checkpoint", restored, "restart", len(s.restarts), "reason", reason)
	return true, nil
}

// restartFailed logs a restart that could not be done and returns the
// reason the process exits with.
func (p *Process) restartFailed(reason, err error) error {
	p.rt.log.Error("process could not be restarted; it stops", "process", p.String(), "kind", p.Kind(), "reason", reason, "err", err)
	return fmt.Errorf("restart after %w: %w", reason, err)
}

// backoff is the delay before restart n+1 within the policy's window.
func backoff(r RestartPolicy, n int) time.Duration {
	if r.Backoff <= 0 {
		return 0
	}
	d := r.Backoff
	for range n {
		d *= 2
		if d >= r.MaxBackoff {
			return r.MaxBackoff
		}
	}
	return min(d, r.MaxBackoff)
}

// renew gives p a new Behavior from its kind's factory and spec
// arguments, runs its Init, and, if from is not nil, hands it from's
// state (migrated to its version) and sets from's reminders: a restart
// in place, or a passivated process woken. It runs in p's turn.
func (p *Process) renew(args []byte, from *Handoff) error {
	b, err := safeFactory(p.kind.factory, args)
	if err == nil && b == nil {
		err = fmt.Errorf("%w: factory returned nil", ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	p.behavior = b
	if in, ok := b.(Initializer); ok {
		if err := p.init(p.rt.ctx, in); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	if from == nil {
		return nil
	}
	if hr, ok := b.(HandoffReceiver); ok {
		state, err := p.migrate(p.rt.ctx, from.Version, from.State)
		if err == nil {
			err = p.endHandoff(p.rt.ctx, hr, state)
		}
		if err != nil {
			return fmt.Errorf("give it its state: %w", err)
		}
	}
	p.restoreReminders(from.Reminders)
	return nil
}
