// Package processtest holds test helpers for code built on package process.
package processtest

import (
	"sync"
	"time"

	"github.com/shoalhq/shoal/process"
)

// FakeClock is a process.Clock whose timers fire only when a test says so.
// Safe for concurrent use.
type FakeClock struct {
	mu     sync.Mutex
	timers []*FakeTimer
}

var _ process.Clock = (*FakeClock)(nil)

// FakeTimer is one timer of a FakeClock.
type FakeTimer struct {
	clock   *FakeClock
	d       time.Duration
	f       func()
	stopped bool
	fired   bool
}

// AfterFunc records a timer; it never fires by itself.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) process.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &FakeTimer{clock: c, d: d, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Timers returns every timer set so far, oldest first.
func (c *FakeClock) Timers() []*FakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*FakeTimer(nil), c.timers...)
}

// Len returns how many timers were set so far.
func (c *FakeClock) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Last returns the newest timer, or nil.
func (c *FakeClock) Last() *FakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return nil
	}
	return c.timers[len(c.timers)-1]
}

// Duration returns the delay the timer was set with.
func (t *FakeTimer) Duration() time.Duration { return t.d }

// Pending reports whether the timer has neither fired nor been stopped.
func (t *FakeTimer) Pending() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	return !t.stopped && !t.fired
}

// Stop implements process.Timer.
func (t *FakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// Fire runs the timer's function on the calling goroutine if the timer is
// pending, and reports whether it did.
func (t *FakeTimer) Fire() bool {
	t.clock.mu.Lock()
	run := !t.stopped && !t.fired
	t.fired = true
	t.clock.mu.Unlock()
	if run {
		t.f()
	}
	return run
}
