package main

// Shoal side: in-process nodes from package clustertest, on loopback, with
// their default settings (TLS 1.3 links, CBOR codec, rendezvous
// placement); every logger is nil, so logging is discarded.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/placement"
	"github.com/shoalhq/shoal/process"
)

// benchTB lets clustertest run outside a test. Fatal, Fatalf and Errorf
// (a benchmark has no use for a failure it carries on after) panic with a
// tbFailure, which run recovers on the measuring goroutine; a failure on
// another goroutine ends the child process, which the parent reports.
// Cleanups run, last first, when the measurement ends. clustertest uses
// only the methods defined here; any other would hit the nil embedded
// interface and panic.
type benchTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

type tbFailure struct{ msg string }

func (*benchTB) Helper()                      {}
func (*benchTB) Name() string                 { return "clusterbench" }
func (*benchTB) Log(...any)                   {}
func (*benchTB) Logf(string, ...any)          {}
func (*benchTB) Errorf(f string, args ...any) { panic(tbFailure{fmt.Sprintf(f, args...)}) }
func (*benchTB) Fatal(args ...any)            { panic(tbFailure{fmt.Sprint(args...)}) }
func (*benchTB) Fatalf(f string, args ...any) { panic(tbFailure{fmt.Sprintf(f, args...)}) }
func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

func (t *benchTB) runCleanups() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// run calls body with a fresh benchTB, turns a tbFailure into an error and
// runs the cleanups.
func run(body func(tb *benchTB) (result, error)) (res result, err error) {
	tb := &benchTB{}
	defer tb.runCleanups()
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(tbFailure)
			if !ok {
				panic(v)
			}
			err = errors.New(f.msg)
		}
	}()
	return body(tb)
}

// Messages and behaviors.

// benchMsg is what crosses the wire in the cast and call workloads.
type benchMsg struct{ N int64 }

// castArm tells the cast target how many messages to expect and which
// channel to close on the last; it is cast locally, on the target's node.
type castArm struct {
	n    int
	done chan struct{}
}

// bump sets a handoff process's state before it moves.
type bump struct{}

func benchCodec(tb testing.TB) *codec.Codec {
	c := codec.New()
	if err := c.Register("bench.msg", benchMsg{}); err != nil {
		tb.Fatal(err)
	}
	return c
}

// idleProc is the trivial kind "k" of the registry workload.
type idleProc struct{}

func (idleProc) HandleCall(context.Context, process.Self, any) (any, error) { return nil, nil }
func (idleProc) HandleCast(context.Context, process.Self, any)              {}
func (idleProc) HandleInfo(context.Context, process.Self, any)              {}

// castTarget counts benchMsgs and closes the armed channel on the last.
type castTarget struct {
	count, target int
	done          chan struct{}
}

func (c *castTarget) HandleCall(context.Context, process.Self, any) (any, error) {
	c.count++
	return c.count, nil
}
func (c *castTarget) HandleCast(_ context.Context, _ process.Self, msg any) {
	switch m := msg.(type) {
	case benchMsg:
		c.count++
		if c.count == c.target && c.done != nil {
			close(c.done)
			c.done = nil
		}
	case castArm:
		c.count, c.target, c.done = 0, m.n, m.done
	}
}
func (c *castTarget) HandleInfo(context.Context, process.Self, any) {}

// movedWithState counts handoff processes whose new incarnation received
// the state set before the move (bumped once: 1); movedWrong counts any
// other state.
var movedWithState, movedWrong atomic.Int64

// handoffProc is the kind "h": an int of state that moves with it.
type handoffProc struct{ count int }

func (h *handoffProc) HandleCall(context.Context, process.Self, any) (any, error) {
	return h.count, nil
}
func (h *handoffProc) HandleCast(_ context.Context, _ process.Self, msg any) {
	if _, ok := msg.(bump); ok {
		h.count++
	}
}
func (h *handoffProc) HandleInfo(context.Context, process.Self, any) {}
func (h *handoffProc) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: h.count}
}
func (h *handoffProc) EndHandoff(_ context.Context, _ process.Self, state any) error {
	n, ok := state.(int)
	if !ok {
		movedWrong.Add(1)
		return fmt.Errorf("handoff state is %T, want int", state)
	}
	h.count = n
	if n == 1 {
		movedWithState.Add(1)
	} else {
		movedWrong.Add(1)
	}
	return nil
}

var (
	_ process.Handoffer       = (*handoffProc)(nil)
	_ process.HandoffReceiver = (*handoffProc)(nil)
)

func benchKinds() *process.Kinds {
	k := process.NewKinds()
	for name, f := range map[string]process.Factory{
		"k": func([]byte) (process.Behavior, error) { return idleProc{}, nil },
		"h": func([]byte) (process.Behavior, error) { return &handoffProc{}, nil },
	} {
		if err := k.Register(name, f); err != nil {
			panic(err) // constant kinds
		}
	}
	return k
}

func clusterOptions(registry bool) clustertest.Options {
	return clustertest.Options{Registry: registry, Kinds: benchKinds, Codec: benchCodec}
}

// parallel runs workers goroutines of work(worker) and returns the first
// error.
func parallel(workers int, work func(w int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for w := range workers {
		wg.Go(func() {
			if err := work(w); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

// waitFor polls cond every 5 ms for at most d.
func waitFor(d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// registerAll registers names[i] for every i from random nodes (or from
// the nodes from returns), workers at a time.
func registerAll(nodes []*clustertest.Node, names []string, kind string, workers int, seed uint64, from func(*rand.Rand) *clustertest.Node) error {
	var next atomic.Int64
	spec := process.Spec{Kind: kind}
	return parallel(workers, func(w int) error {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		for {
			i := int(next.Add(1) - 1)
			if i >= len(names) {
				return nil
			}
			node := from(rng)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := node.Registry.Register(ctx, names[i], spec)
			cancel()
			if err != nil {
				return fmt.Errorf("register %s on %s: %w", names[i], node.Name, err)
			}
		}
	})
}

func allHold(nodes []*clustertest.Node, n int) func() bool {
	return func() bool {
		for _, node := range nodes {
			if node.Registry.Len() != n {
				return false
			}
		}
		return true
	}
}

// shoalRegistry registers p.n names from random nodes of a 3-node cluster,
// then looks them up.
func shoalRegistry(p params) (result, error) {
	return run(func(tb *benchTB) (result, error) {
		nodes := clustertest.StartCluster(tb, 3, clusterOptions(true))
		names := make([]string, p.n)
		for i := range names {
			names[i] = "r-" + strconv.Itoa(i)
		}
		random := func(rng *rand.Rand) *clustertest.Node { return nodes[rng.IntN(len(nodes))] }

		start := time.Now()
		if err := registerAll(nodes, names, "k", p.workers, p.seed, random); err != nil {
			return result{}, err
		}
		registered := time.Since(start)
		if err := waitFor(waitLimit, "every node to hold every name", allHold(nodes, p.n)); err != nil {
			return result{}, err
		}
		replicated := time.Since(start)

		per := (p.lookups + p.workers - 1) / p.workers
		lookups := per * p.workers
		start = time.Now()
		err := parallel(p.workers, func(w int) error {
			rng := rand.New(rand.NewPCG(p.seed^0x5eed, uint64(w)))
			ctx := context.Background()
			for range per {
				node, name := nodes[rng.IntN(len(nodes))], names[rng.IntN(len(names))]
				if _, err := node.Registry.Whereis(ctx, name); err != nil {
					return fmt.Errorf("on %s: %w", node.Name, err)
				}
			}
			return nil
		})
		looked := time.Since(start)
		if err != nil {
			return result{}, err
		}
		return result{
			PerSecond:           float64(p.n) / registered.Seconds(),
			ReplicatedPerSecond: float64(p.n) / replicated.Seconds(),
			LookupsPerSecond:    float64(lookups) / looked.Seconds(),
		}, nil
	})
}

// remotePair starts two nodes and a castTarget on the second.
func remotePair(tb *benchTB) (a, b *clustertest.Node, target process.Ref) {
	nodes := clustertest.StartCluster(tb, 2, clusterOptions(false))
	a, b = nodes[0], nodes[1]
	proc, err := b.Runtime.Start(context.Background(), &castTarget{}, process.SpawnOptions{Name: "target"})
	if err != nil {
		tb.Fatal(err)
	}
	return a, b, proc.Ref()
}

// castN casts n messages from a to target on b and waits until the last is
// handled.
func castN(a, b *clustertest.Node, target process.Ref, n int) error {
	done := make(chan struct{})
	if err := b.Runtime.Cast(target, castArm{n: n, done: done}); err != nil {
		return err
	}
	for i := range n {
		if err := a.Runtime.Cast(target, benchMsg{N: int64(i)}); err != nil {
			return err
		}
	}
	select {
	case <-done:
		return nil
	case <-time.After(waitLimit):
		return fmt.Errorf("%d casts not all handled after %v", n, waitLimit)
	}
}

func shoalCast(p params) (result, error) {
	return run(func(tb *benchTB) (result, error) {
		a, b, target := remotePair(tb)
		if err := castN(a, b, target, 1000); err != nil { // warm up: open the link
			return result{}, err
		}
		start := time.Now()
		if err := castN(a, b, target, p.casts); err != nil {
			return result{}, err
		}
		return result{PerSecond: float64(p.casts) / time.Since(start).Seconds()}, nil
	})
}

// callN makes n sequential calls, each with its own 30 s deadline (as each
// of Proto.Actor's futures has).
func callN(a *clustertest.Node, target process.Ref, n int) error {
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := a.Runtime.Call(ctx, target, benchMsg{N: int64(i)})
		cancel()
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		if _, ok := v.(int); !ok {
			return fmt.Errorf("call %d: reply %T, want int", i, v)
		}
	}
	return nil
}

func shoalCall(p params) (result, error) {
	return run(func(tb *benchTB) (result, error) {
		a, _, target := remotePair(tb)
		if err := callN(a, target, 1000); err != nil {
			return result{}, err
		}
		start := time.Now()
		if err := callN(a, target, p.calls); err != nil {
			return result{}, err
		}
		return result{PerSecond: float64(p.calls) / time.Since(start).Seconds()}, nil
	})
}

// shoalHandoff places p.handoff processes on the last node of a 3-node
// cluster, sets each one's state, and times that node's Drain.
func shoalHandoff(p params) (result, error) {
	return run(func(tb *benchTB) (result, error) {
		nodes := clustertest.StartCluster(tb, 3, clusterOptions(true))
		leaving, survivors := nodes[2], nodes[:2]
		members := make([]string, len(nodes))
		for i, n := range nodes {
			members[i] = n.Name
		}
		// Names the default placement gives to the leaving node.
		table, err := placement.Rendezvous{}.Table(members)
		if err != nil {
			return result{}, err
		}
		names := make([]string, 0, p.handoff)
		for i := 0; len(names) < p.handoff && i < 100*p.handoff; i++ {
			if name := "h-" + strconv.Itoa(i); table.Owner(name) == leaving.Name {
				names = append(names, name)
			}
		}
		if len(names) < p.handoff {
			return result{}, fmt.Errorf("only %d names placed on %s", len(names), leaving.Name)
		}
		fromLeaving := func(*rand.Rand) *clustertest.Node { return leaving }
		if err := registerAll(nodes, names, "h", p.workers, p.seed, fromLeaving); err != nil {
			return result{}, err
		}
		if err := waitFor(waitLimit, "every node to hold every name", allHold(nodes, len(names))); err != nil {
			return result{}, err
		}
		ctx := context.Background()
		entries, err := leaving.Registry.Registered(ctx)
		if err != nil {
			return result{}, err
		}
		local := 0
		for _, e := range entries {
			if e.Ref.Node == leaving.Name {
				local++
			}
		}
		if local != len(names) {
			return result{}, fmt.Errorf("%d of %d names run on %s", local, len(names), leaving.Name)
		}
		for _, name := range names {
			if err := leaving.Registry.Cast(ctx, name, bump{}); err != nil {
				return result{}, err
			}
		}

		dctx, cancel := context.WithTimeout(ctx, waitLimit)
		defer cancel()
		start := time.Now()
		err = leaving.Registry.Drain(dctx)
		took := time.Since(start)
		if err != nil {
			return result{}, err
		}
		if err := leaving.Stop(dctx); err != nil {
			return result{}, fmt.Errorf("stop %s: %w", leaving.Name, err)
		}

		// Every name on both survivors, on a survivor, with its state.
		if err := waitFor(time.Minute, "the survivors to hold every name", allHold(survivors, len(names))); err != nil {
			return result{}, err
		}
		for _, s := range survivors {
			for _, name := range names {
				ref, err := s.Registry.Whereis(ctx, name)
				if err != nil {
					return result{}, fmt.Errorf("on %s: %w", s.Name, err)
				}
				if ref.Node == leaving.Name {
					return result{}, fmt.Errorf("on %s: %s still on %s", s.Name, name, leaving.Name)
				}
			}
		}
		if got, wrong := movedWithState.Load(), movedWrong.Load(); got != int64(len(names)) || wrong != 0 {
			return result{}, fmt.Errorf("%d of %d processes received their state (%d a wrong one)", got, len(names), wrong)
		}
		return result{Seconds: took.Seconds(), Moved: len(names)}, nil
	})
}
