package process

import (
	"context"
	"errors"
	"fmt"
)

// Bounded mailboxes. A kind may bound the messages waiting in each of its
// processes' mailboxes (KindOptions.Mailbox): a call, cast or send that
// finds the mailbox full waits for room with its caller's context
// (OverflowBlock) or fails at once with ErrMailboxFull (OverflowFail).
// The bound counts the messages waiting, not those the process already
// took into the batch it is handling (MailboxLen's count): a process
// holds at most twice its bound. The runtime's own messages (timers,
// stops, handoffs, checkpoints) are never refused. A message from
// another node never waits for room, whatever the policy (it would hold
// up every message behind it on the link): a call fails with
// ErrMailboxFull, a cast or send is dropped (package remote counts and
// logs it).

// Overflow is what a message does when it finds its mailbox full.
type Overflow uint8

const (
	// OverflowBlock waits for room, as long as the caller's context lets
	// it (Cast and Send, which take none, wait until there is room or the
	// process exits). The default.
	OverflowBlock Overflow = iota
	// OverflowFail fails at once with ErrMailboxFull.
	OverflowFail
)

// MailboxOptions bound a kind's mailboxes.
type MailboxOptions struct {
	// Size is how many messages may wait; 0 means no bound.
	Size int
	// Overflow is what a message finding Size waiting does.
	Overflow Overflow
}

func (m MailboxOptions) validate() error {
	if m.Size < 0 || m.Overflow > OverflowFail {
		return fmt.Errorf("%w: mailbox size %d, overflow %d", ErrInvalid, m.Size, m.Overflow)
	}
	return nil
}

// ErrMailboxFull means a message found its process's bounded mailbox
// full (OverflowFail, or a message from another node).
var ErrMailboxFull = errors.New("mailbox full")

// mailboxSize is the process's bound (0: none).
func (p *Process) mailboxSize() int {
	if p.kind == nil {
		return 0
	}
	return p.kind.opts.Mailbox.Size
}

// put enqueues a caller's message, waiting for room if the process's
// mailbox is bounded, full and its policy blocks: with ctx, or until
// there is room if ctx is nil. wait false fails at once when full.
func (p *Process) put(ctx context.Context, e envelope, wait bool) error {
	size := p.mailboxSize()
	if size == 0 {
		if h := p.in.Load(); h != idleMark && h != closedMark && p.pushFast(e) {
			return nil // awake: no lock to share with it
		}
		if p.mu.TryLock() {
			return p.enqueueLocked(e) // nobody else wants the lock: the cheapest way
		}
		if p.pushFast(e) {
			return nil
		}
		return p.enqueue(e)
	}
	if p.kind.opts.Mailbox.Overflow == OverflowFail {
		wait = false
	}
	p.mu.Lock()
	for p.q.n >= size && (p.st == stIdle || p.st == stActive || p.st == stPaused) {
		if !wait {
			p.mu.Unlock()
			return fmt.Errorf("%w: %d messages wait in process %s (kind %q) on node %s", ErrMailboxFull, size, p, p.Kind(), p.rt.node)
		}
		x := p.ext()
		if x.space == nil {
			x.space = make(chan struct{})
		}
		room := x.space
		p.mu.Unlock()
		var done <-chan struct{}
		if ctx != nil {
			done = ctx.Done()
		}
		select {
		case <-room:
		case <-done:
			return fmt.Errorf("wait for room in the mailbox of %s: %w", p, ctx.Err())
		}
		p.mu.Lock()
	}
	return p.enqueueLocked(e)
}

// roomLocked wakes the messages waiting for room; p.mu is held.
func (p *Process) roomLocked() {
	if x := p.extra.Load(); x != nil && x.space != nil {
		close(x.space)
		x.space = nil
	}
}

// TryCast is Cast that never waits for room in a bounded mailbox: a full
// one fails it with ErrMailboxFull (for messages from another node).
func (p *Process) TryCast(msg any) error {
	if err := p.put(nil, envelope{kind: kindCast, msg: msg}, false); err != nil {
		return fmt.Errorf("cast to %s: %w", p, err)
	}
	return nil
}

// TrySend is Send that never waits for room (see TryCast).
func (p *Process) TrySend(msg any) error {
	if err := p.put(nil, envelope{kind: kindInfo, msg: msg}, false); err != nil {
		return fmt.Errorf("send to %s: %w", p, err)
	}
	return nil
}

// TryCallAsync is CallAsync that never waits for room (see TryCast).
func (p *Process) TryCallAsync(ctx context.Context, msg any, done func(reply any, err error)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("call %s: %w", p, err)
	}
	if err := p.put(ctx, callEnvelope(&call{ctx: ctx, cb: done}, msg), false); err != nil {
		return fmt.Errorf("call %s: %w", p, err)
	}
	return nil
}
