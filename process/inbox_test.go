package process_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/process"
)

// seqMsg is message i of sender s.
type seqMsg struct{ s, i int }

// orderChecker checks that each sender's messages come in its order and
// counts them; it stops itself at message stopAt of sender 0 (-1:
// never).
type orderChecker struct {
	mu     sync.Mutex
	next   []int
	bad    error
	stopAt int
	seen   atomic.Int64
}

func (c *orderChecker) check(m seqMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next[m.s] != m.i && c.bad == nil {
		c.bad = fmt.Errorf("sender %d: message %d came when %d was due", m.s, m.i, c.next[m.s])
	}
	c.next[m.s] = m.i + 1
	c.seen.Add(1)
}

func (c *orderChecker) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	m := msg.(seqMsg)
	c.check(m)
	if m.s == 0 && m.i == c.stopAt {
		self.Stop(nil)
	}
	return m.i, nil
}

func (c *orderChecker) HandleCast(_ context.Context, self process.Self, msg any) {
	m := msg.(seqMsg)
	c.check(m)
	if m.s == 0 && m.i == c.stopAt {
		self.Stop(nil)
	}
}

func (c *orderChecker) HandleInfo(_ context.Context, _ process.Self, msg any) { c.check(msg.(seqMsg)) }

// TestInboxKeepsOrder sends from 8 goroutines to one process, as casts,
// sends and calls, in bursts that let it go idle and wake again: every
// message arrives, each sender's in its order. Seeds replay.
func TestInboxKeepsOrder(t *testing.T) {
	const senders, each = 8, 3000
	for seed := range uint64(10) {
		rt, err := process.NewRuntime(process.Config{Node: "a@h"}, process.NewKinds())
		if err != nil {
			t.Fatal(err)
		}
		c := &orderChecker{next: make([]int, senders), stopAt: -1}
		p, err := rt.Start(context.Background(), c, process.SpawnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for s := range senders {
			rng := rand.New(rand.NewPCG(seed, uint64(s)))
			wg.Go(func() {
				for i := range each {
					var err error
					switch r := rng.IntN(100); {
					case r < 80:
						err = p.Cast(seqMsg{s, i})
					case r < 90:
						err = p.Send(seqMsg{s, i})
					default:
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						_, err = p.Call(ctx, seqMsg{s, i})
						cancel()
					}
					if err != nil {
						t.Errorf("seed %d: sender %d message %d: %v", seed, s, i, err)
						return
					}
					if rng.IntN(500) == 0 {
						// Let the process catch up and go idle.
						for deadline := time.Now().Add(10 * time.Second); p.MailboxLen() > 0 && time.Now().Before(deadline); {
							time.Sleep(50 * time.Microsecond)
						}
					}
				}
			})
		}
		wg.Wait()
		deadline := time.Now().Add(10 * time.Second)
		for c.seen.Load() < senders*each && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		c.mu.Lock()
		bad := c.bad
		c.mu.Unlock()
		if bad != nil {
			t.Fatalf("seed %d: %v", seed, bad)
		}
		if got := c.seen.Load(); got != senders*each {
			t.Fatalf("seed %d: %d of %d messages handled", seed, got, senders*each)
		}
		if err := rt.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInboxExitAnswersEveryCall: callers and casters keep sending while
// the process stops itself; every call returns at once, answered or
// failed as stopped (none waits for its deadline), and every cast is
// handled or refused.
func TestInboxExitAnswersEveryCall(t *testing.T) {
	const senders, each = 8, 2000
	for seed := range uint64(10) {
		rt, err := process.NewRuntime(process.Config{Node: "a@h"}, process.NewKinds())
		if err != nil {
			t.Fatal(err)
		}
		c := &orderChecker{next: make([]int, senders), stopAt: 500 + int(seed)*100}
		p, err := rt.Start(context.Background(), c, process.SpawnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var refused atomic.Int64
		var wg sync.WaitGroup
		for s := range senders {
			rng := rand.New(rand.NewPCG(seed, uint64(s)))
			wg.Go(func() {
				for i := range each {
					if rng.IntN(2) == 0 {
						if err := p.Cast(seqMsg{s, i}); err != nil {
							if !errors.Is(err, process.ErrNoProcess) {
								t.Errorf("seed %d: cast: %v", seed, err)
							}
							refused.Add(1)
						}
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					_, err := p.Call(ctx, seqMsg{s, i})
					cancel()
					switch {
					case err == nil:
					case errors.Is(err, context.DeadlineExceeded):
						t.Errorf("seed %d: a call waited for its deadline: %v", seed, err)
						return
					case errors.Is(err, process.ErrStopped), errors.Is(err, process.ErrNoProcess):
						refused.Add(1)
					default:
						t.Errorf("seed %d: call: %v", seed, err)
						return
					}
				}
			})
		}
		wg.Wait()
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("seed %d: the process did not stop", seed)
		}
		if refused.Load() == 0 {
			t.Fatalf("seed %d: nothing was refused: the stop came after every message", seed)
		}
		if err := rt.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
