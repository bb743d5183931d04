package main

// Shoal side: in-process nodes from package clustertest, on loopback, with
// their default settings (TLS 1.3 links, CBOR codec) and the partitioned
// registry with the library's default of 1,024 partitions and one replica
// (clustertest's own default is 256 partitions, for tests); every logger is
// nil, so logging is discarded.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

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

func benchCodec(tb clustertest.T) *codec.Codec {
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

// castTarget counts benchMsgs and closes the armed channel on the last
// (at once if armed for none); it answers a call with its count.
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
		if m.n == 0 {
			close(c.done)
			c.done = nil
		}
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

// partitions is the registry's default partition count.
const partitions = 1024

func clusterOptions(registry, metrics bool) clustertest.Options {
	return clustertest.Options{NoRegistry: !registry, Metrics: metrics, Partitions: partitions, Kinds: benchKinds, Codec: benchCodec}
}

// startCluster starts size nodes; with p.metrics, each node's metrics are
// read every p.scrape until the measurement ends.
func startCluster(tb *harness.TB, size int, registry bool, p params) []*clustertest.Node {
	nodes := clustertest.StartCluster(tb, size, clusterOptions(registry, p.metrics))
	for _, n := range nodes {
		if n.Metrics != nil {
			tb.Cleanup(harness.Scrape(n.Metrics.Handler(), p.scrape))
		}
	}
	return nodes
}

// run is harness.Run for this command's result.
func run(body func(tb *harness.TB) (result, error)) (result, error) { return harness.Run(body) }

// shoalRegistry registers p.n names from random nodes of a 3-node cluster,
// then looks them up.
func shoalRegistry(p params) (result, error) {
	return run(func(tb *harness.TB) (result, error) {
		nodes := startCluster(tb, 3, true, p)
		names := make([]string, p.n)
		for i := range names {
			names[i] = "r-" + strconv.Itoa(i)
		}
		random := func(rng *rand.Rand) *clustertest.Node { return nodes[rng.IntN(len(nodes))] }
		if err := harness.WaitFor(waitLimit, "the empty registries to be synced", func() bool { return harness.Settled(nodes, 0) }, func() string { return harness.Describe(nodes) }); err != nil {
			return result{}, err
		}

		start := time.Now()
		if err := harness.RegisterAll(names, "k", p.workers, p.seed, random, nil); err != nil {
			return result{}, err
		}
		registered := time.Since(start)
		if err := harness.WaitFor(waitLimit, "every name on its primary and replica", func() bool { return harness.Settled(nodes, p.n) }, func() string { return harness.Describe(nodes) }); err != nil {
			return result{}, err
		}
		replicated := time.Since(start)

		per := (p.lookups + p.workers - 1) / p.workers
		lookups := per * p.workers
		start = time.Now()
		err := harness.Parallel(p.workers, func(w int) error {
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

// remotePair starts two nodes and k castTargets on the second,
// "target-<i>".
func remotePair(tb *harness.TB, p params, k int) (a, b *clustertest.Node, targets []process.Ref) {
	nodes := startCluster(tb, 2, false, p)
	a, b = nodes[0], nodes[1]
	for i := range k {
		proc, err := b.Runtime.Start(context.Background(), &castTarget{}, process.SpawnOptions{Name: "target-" + strconv.Itoa(i)})
		if err != nil {
			tb.Fatal(err)
		}
		targets = append(targets, proc.Ref())
	}
	return a, b, targets
}

// castN casts n messages from a to the targets on b, split among them
// (one sender goroutine per target), and waits until every target has
// handled its share.
func castN(a, b *clustertest.Node, targets []process.Ref, n int) error {
	k := len(targets)
	dones := make([]chan struct{}, k)
	for i, target := range targets {
		dones[i] = make(chan struct{})
		if err := b.Runtime.Cast(target, castArm{n: harness.Share(n, k, i), done: dones[i]}); err != nil {
			return err
		}
	}
	err := harness.Parallel(k, func(i int) error {
		for j := range harness.Share(n, k, i) {
			if err := a.Runtime.Cast(targets[i], benchMsg{N: int64(j)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return awaitAll(dones, func(i int) error {
		return fmt.Errorf("target %d: %d casts not all handled after %v", i, harness.Share(n, k, i), waitLimit)
	})
}

// shoalCast measures castN with k senders and targets.
func shoalCast(p params, k int) (result, error) {
	return run(func(tb *harness.TB) (result, error) {
		a, b, targets := remotePair(tb, p, k)
		if err := castN(a, b, targets, 1000); err != nil { // warm up: open the link
			return result{}, err
		}
		start := time.Now()
		if err := castN(a, b, targets, p.casts); err != nil {
			return result{}, err
		}
		return result{PerSecond: float64(p.casts) / time.Since(start).Seconds()}, nil
	})
}

// callN makes n sequential calls from a, split among the targets (one
// caller goroutine per target), each with its own 30 s deadline (as each
// of Proto.Actor's futures has).
func callN(a *clustertest.Node, targets []process.Ref, n int) error {
	k := len(targets)
	return harness.Parallel(k, func(i int) error {
		for j := range harness.Share(n, k, i) {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			v, err := a.Runtime.Call(ctx, targets[i], benchMsg{N: int64(j)})
			cancel()
			if err != nil {
				return fmt.Errorf("caller %d, call %d: %w", i, j, err)
			}
			if _, ok := v.(int); !ok {
				return fmt.Errorf("caller %d, call %d: reply %T, want int", i, j, v)
			}
		}
		return nil
	})
}

// shoalCall measures callN with k callers and targets.
func shoalCall(p params, k int) (result, error) {
	return run(func(tb *harness.TB) (result, error) {
		a, _, targets := remotePair(tb, p, k)
		if err := callN(a, targets, 1000); err != nil {
			return result{}, err
		}
		start := time.Now()
		if err := callN(a, targets, p.calls); err != nil {
			return result{}, err
		}
		return result{PerSecond: float64(p.calls) / time.Since(start).Seconds()}, nil
	})
}

// shoalHandoff registers names from the last node of a 3-node cluster
// until at least p.handoff of them run there (the partitioned registry
// places a name by its partition: about one in three), sets the state of
// each of those, and times that node's Drain.
func shoalHandoff(p params) (result, error) {
	return run(func(tb *harness.TB) (result, error) {
		nodes := clustertest.StartCluster(tb, 3, clusterOptions(true, false))
		leaving, survivors := nodes[2], nodes[:2]
		fromLeaving := func(*rand.Rand) *clustertest.Node { return leaving }
		if err := harness.WaitFor(waitLimit, "the empty registries to be synced", func() bool { return harness.Settled(nodes, 0) }, func() string { return harness.Describe(nodes) }); err != nil {
			return result{}, err
		}
		var names []string
		for round := 0; leaving.Registry.Local() < p.handoff; round++ {
			if round == 10 {
				return result{}, fmt.Errorf("only %d of %d names placed on %s", leaving.Registry.Local(), len(names), leaving.Name)
			}
			need := p.handoff - leaving.Registry.Local()
			batch := make([]string, need*len(nodes)+need/8+p.workers)
			for i := range batch {
				batch[i] = "h-" + strconv.Itoa(len(names)+i)
			}
			if err := harness.RegisterAll(batch, "h", p.workers, p.seed+uint64(round), fromLeaving, nil); err != nil {
				return result{}, err
			}
			names = append(names, batch...)
			if err := harness.WaitFor(waitLimit, "every name on its primary and replica", func() bool { return harness.Settled(nodes, len(names)) }, func() string { return harness.Describe(nodes) }); err != nil {
				return result{}, err
			}
		}
		ctx := context.Background()
		entries, err := leaving.Registry.Registered(ctx)
		if err != nil {
			return result{}, err
		}
		if len(entries) != len(names) {
			return result{}, fmt.Errorf("%s lists %d names of %d", leaving.Name, len(entries), len(names))
		}
		var moving []string
		for _, e := range entries {
			if e.Ref.Node == leaving.Name {
				moving = append(moving, e.Name)
			}
		}
		if local := leaving.Registry.Local(); len(moving) != local {
			return result{}, fmt.Errorf("%s runs %d processes, its listing says %d", leaving.Name, local, len(moving))
		}
		for _, name := range moving {
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

		// Every name served and running on a survivor, the moved ones with
		// their state.
		if err := harness.WaitFor(time.Minute, "the survivors to serve every name", func() bool { return harness.Settled(survivors, len(names)) }, func() string { return harness.Describe(survivors) }); err != nil {
			return result{}, err
		}
		for _, s := range survivors {
			for _, name := range moving {
				ref, err := s.Registry.Whereis(ctx, name)
				if err != nil {
					return result{}, fmt.Errorf("on %s: %w", s.Name, err)
				}
				if ref.Node == leaving.Name {
					return result{}, fmt.Errorf("on %s: %s still on %s", s.Name, name, leaving.Name)
				}
			}
		}
		if got, wrong := movedWithState.Load(), movedWrong.Load(); got != int64(len(moving)) || wrong != 0 {
			return result{}, fmt.Errorf("%d of %d processes received their state (%d a wrong one)", got, len(moving), wrong)
		}
		return result{Seconds: took.Seconds(), Moved: len(moving)}, nil
	})
}
