package main

// The measurements, each run in a child process: in-process nodes from
// package clustertest on loopback with their default settings (TLS 1.3
// links, CBOR codec), the partitioned registry with -partitions
// partitions and its default of one replica; every logger is nil.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

// Bounds of the waits of a measurement.
const (
	// settleLimit bounds waiting for registries to be synced after the
	// registrations (1,000,000 names are copied to their replicas).
	settleLimit = 5 * time.Minute
	// loopLimit bounds each loop of lookups.
	loopLimit = 5 * time.Minute
)

// Process kinds.

// mover is the kind "s" of the scale measurements: a process whose state
// is the number of times it has moved. It moves with its state
// (BeginHandoff answers HandoffMove), and counts each state it receives.
type mover struct{ moves int }

// movedOnce counts the processes whose new incarnation received the
// state of a first move (1); movedWrong any other state.
var movedOnce, movedWrong atomic.Int64

func (m *mover) HandleCall(context.Context, process.Self, any) (any, error) { return m.moves, nil }
func (m *mover) HandleCast(context.Context, process.Self, any)              {}
func (m *mover) HandleInfo(context.Context, process.Self, any)              {}
func (m *mover) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: m.moves + 1}
}
func (m *mover) EndHandoff(_ context.Context, _ process.Self, state any) error {
	n, ok := state.(int)
	if !ok || n != 1 {
		movedWrong.Add(1)
		return fmt.Errorf("handoff state %v (%T), want 1", state, state)
	}
	m.moves = n
	movedOnce.Add(1)
	return nil
}

var (
	_ process.Handoffer       = (*mover)(nil)
	_ process.HandoffReceiver = (*mover)(nil)
)

// idle is the kind "k" of the registration measurement: the trivial kind
// of clusterbench's registry row, which the earlier design's run uses.
type idle struct{}

func (idle) HandleCall(context.Context, process.Self, any) (any, error) { return nil, nil }
func (idle) HandleCast(context.Context, process.Self, any)              {}
func (idle) HandleInfo(context.Context, process.Self, any)              {}

func kinds() *process.Kinds {
	k := process.NewKinds()
	for name, f := range map[string]process.Factory{
		"s": func([]byte) (process.Behavior, error) { return &mover{}, nil },
		"k": func([]byte) (process.Behavior, error) { return idle{}, nil },
	} {
		if err := k.Register(name, f); err != nil {
			panic(err) // constant kinds
		}
	}
	return k
}

func newCodec(clustertest.T) *codec.Codec {
	c := codec.New()
	if err := c.Register("scalebench.ping", ping{}); err != nil {
		panic(err) // a constant type
	}
	return c
}

func options(registry bool, partitions int) clustertest.Options {
	return clustertest.Options{NoRegistry: !registry, Partitions: partitions, Kinds: kinds, Codec: newCodec}
}

// quietWindow is how long the settled cluster idles before its heap is
// measured again (the directory keeps each request it served for 200
// ticks, 20 s, to answer a retry), and its CPU time meanwhile.
const quietWindow = 25 * time.Second

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// progress writes a line about a measurement in progress to stderr (a
// measurement that fails later leaves what it had measured).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  scale: "+format+"\n", args...)
}

// waitJoin waits up to limit until joiner runs processes and every node
// of all is settled with n names, writing every 30 s how far they are.
func waitJoin(joiner *clustertest.Node, all []*clustertest.Node, n int, limit time.Duration) error {
	start := time.Now()
	done := func() bool { return joiner.Registry.Local() > 0 && harness.Settled(all, n) }
	for {
		slice := min(30*time.Second, limit-time.Since(start))
		err := harness.WaitFor(slice, "the new node to take its share", done, func() string { return harness.Describe(all) })
		if err == nil {
			return nil
		}
		if time.Since(start) >= limit {
			return fmt.Errorf("after %v: %w", limit, err)
		}
		names, procs, unsynced := 0, 0, 0
		for _, node := range all {
			names += node.Registry.Len()
			procs += node.Registry.Local()
			if node.Registry.Synced() != nil {
				unsynced++
			}
		}
		progress("join after %v: %d names served, %d processes, %d of %d nodes not synced, the new node serves %d and runs %d",
			time.Since(start).Round(time.Second), names, procs, unsynced, len(all), joiner.Registry.Len(), joiner.Registry.Local())
	}
}

// nameList returns prefix0 ... prefix(n-1).
func nameList(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = prefix + strconv.Itoa(i)
	}
	return names
}

// waitSettled waits until the registries of nodes hold n names, each
// served and run by its primary, all synced.
func waitSettled(nodes []*clustertest.Node, n int, limit time.Duration) error {
	return harness.WaitFor(limit, fmt.Sprintf("%d names served, run and copied on %d nodes", n, len(nodes)),
		func() bool { return harness.Settled(nodes, n) },
		func() string { return harness.Describe(nodes) })
}

// rate runs total calls of one (rounded up to a multiple of workers) on
// workers goroutines, each with its own random source, and returns calls
// per second. The loop fails once loopLimit has passed.
func rate(workers, total int, seed uint64, one func(ctx context.Context, rng *rand.Rand) error) (float64, error) {
	per := (total + workers - 1) / workers
	ctx, cancel := context.WithTimeout(context.Background(), loopLimit)
	defer cancel()
	start := time.Now()
	err := harness.Parallel(workers, func(w int) error {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		for i := range per {
			if i%4096 == 0 && ctx.Err() != nil {
				return fmt.Errorf("after %d calls: %w", i, ctx.Err())
			}
			if err := one(ctx, rng); err != nil {
				return err
			}
		}
		return nil
	})
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	return float64(per*workers) / took.Seconds(), nil
}

// procsBaseline spawns p.n processes of kind "s", with names, round robin
// on the runtimes of p.nodes nodes that have no registry, and reports the
// live heap before and after.
func procsBaseline(p params) (result, error) {
	return harness.Run(func(tb *harness.TB) (result, error) {
		nodes := clustertest.StartCluster(tb, p.nodes, options(false, p.partitions))
		names := nameList("s-", p.n)
		before := harness.Heap()
		var next atomic.Int64
		spec := process.Spec{Kind: "s"}
		err := harness.Parallel(p.workers, func(int) error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return nil
				}
				node := nodes[i%len(nodes)]
				if _, err := node.Runtime.Spawn(context.Background(), spec, process.SpawnOptions{Name: strings.Clone(names[i])}); err != nil {
					return fmt.Errorf("spawn %s on %s: %w", names[i], node.Name, err)
				}
			}
		})
		if err != nil {
			return result{}, err
		}
		after := harness.Heap()
		return result{HeapBefore: before, HeapAfter: after}, nil
	})
}

// scale registers p.n names of kind "s" from random nodes of p.nodes,
// measures the live heap once every registry is synced, then the rate of
// lookups, then the time a new node takes to join and take its share,
// and checks that every name is still listed once.
func scale(p params) (result, error) {
	return harness.Run(func(tb *harness.TB) (result, error) {
		var res result
		opts := options(true, p.partitions)
		nodes := clustertest.StartCluster(tb, p.nodes, opts)
		index := map[string]int{}
		for i, n := range nodes {
			index[n.Name] = i
		}
		names := nameList("s-", p.n)
		primary := make([]uint8, p.n) // the node each name's process runs on
		if err := waitSettled(nodes, 0, settleLimit); err != nil {
			return result{}, err
		}
		res.HeapBefore = harness.Heap()

		random := func(rng *rand.Rand) *clustertest.Node { return nodes[rng.IntN(len(nodes))] }
		start := time.Now()
		err := harness.RegisterAll(names, "s", p.workers, p.seed, random, func(i int, ref process.Ref) {
			primary[i] = uint8(index[ref.Node])
		})
		if err != nil {
			return result{}, err
		}
		res.PerSecond = float64(p.n) / time.Since(start).Seconds()
		progress("%d names registered in %v", p.n, time.Since(start).Round(time.Millisecond))
		if err := waitSettled(nodes, p.n, settleLimit); err != nil {
			return result{}, err
		}
		res.SettledPerSecond = float64(p.n) / time.Since(start).Seconds()
		res.HeapSettled = harness.Heap()
		// Then quiet for quietWindow (the directory forgets the requests
		// it served after 20 s): the CPU the idle cluster uses, and the
		// heap it keeps.
		stopIdle, err := startIdleProfile()
		if err != nil {
			return result{}, err
		}
		cpu0 := cpuTime()
		time.Sleep(quietWindow)
		stopIdle()
		res.IdleCores = (cpuTime() - cpu0).Seconds() / quietWindow.Seconds()
		res.HeapAfter = harness.Heap()
		res.Goroutines = runtime.NumGoroutine()
		progress("settled; live heap: %d B before, %d B once synced, %d B after %v quiet (%.2f cores idle)",
			res.HeapBefore, res.HeapSettled, res.HeapAfter, quietWindow, res.IdleCores)
		if err := writeHeapProfile(); err != nil {
			return result{}, err
		}

		// Lookups. Settled says each node runs exactly the names it is
		// primary of, so where Register found a name is its primary.
		byNode := make([][]int32, len(nodes))
		for i, k := range primary {
			byNode[k] = append(byNode[k], int32(i))
		}
		for k, idx := range byNode {
			if len(idx) == 0 {
				return result{}, fmt.Errorf("%s is primary of no name", nodes[k].Name)
			}
		}
		pickLocal := func(rng *rand.Rand) (int, string) {
			k := rng.IntN(len(nodes))
			idx := byNode[k]
			return k, names[idx[rng.IntN(len(idx))]]
		}
		pickRemote := func(rng *rand.Rand) (int, int, string) {
			k := rng.IntN(len(nodes))
			j := rng.IntN(len(nodes) - 1)
			if j >= k {
				j++
			}
			idx := byNode[j]
			return k, j, names[idx[rng.IntN(len(idx))]]
		}
		procs := runtime.GOMAXPROCS(0)
		res.LocalLookups, err = rate(procs, p.lookups, p.seed^1, func(ctx context.Context, rng *rand.Rand) error {
			k, name := pickLocal(rng)
			ref, err := nodes[k].Registry.Whereis(ctx, name)
			if err != nil {
				return fmt.Errorf("whereis %s on %s: %w", name, nodes[k].Name, err)
			}
			if ref.Node != nodes[k].Name {
				return fmt.Errorf("whereis %s on %s: on %s, not on its primary", name, nodes[k].Name, ref.Node)
			}
			return nil
		})
		if err != nil {
			return result{}, err
		}
		// The same loop over a plain map of the same names. Its keys are
		// copies, as the registry's are: a key that is the very string
		// looked up compares equal without reading its bytes.
		table := make(map[string]process.Ref, p.n)
		for i, name := range names {
			table[strings.Clone(name)] = process.Ref{Node: nodes[primary[i]].Name, ID: uint64(i)}
		}
		res.MapLookups, err = rate(procs, p.lookups, p.seed^1, func(_ context.Context, rng *rand.Rand) error {
			k, name := pickLocal(rng)
			ref, ok := table[name]
			if !ok || ref.Node != nodes[k].Name {
				return fmt.Errorf("map: %s missing or not on %s", name, nodes[k].Name)
			}
			return nil
		})
		if err != nil {
			return result{}, err
		}
		table = nil
		hop := func(ctx context.Context, rng *rand.Rand) error {
			k, j, name := pickRemote(rng)
			ref, err := nodes[k].Registry.Whereis(ctx, name)
			if err != nil {
				return fmt.Errorf("whereis %s on %s: %w", name, nodes[k].Name, err)
			}
			if ref.Node != nodes[j].Name {
				return fmt.Errorf("whereis %s on %s: on %s, want %s", name, nodes[k].Name, ref.Node, nodes[j].Name)
			}
			return nil
		}
		if res.HopLookups, err = rate(procs, p.hops, p.seed^2, hop); err != nil {
			return result{}, err
		}
		if res.HopLookupsWide, err = rate(p.hopWorkers, p.hops, p.seed^3, hop); err != nil {
			return result{}, err
		}

		// An extra node joins and takes its share of the partitions, the
		// processes moving with their state.
		movedOnce.Store(0)
		movedWrong.Store(0)
		start = time.Now()
		joiner := clustertest.Start(tb, fmt.Sprintf("n%d@127.0.0.1", len(nodes)), nodes[0].Cluster.Address(), opts)
		all := append(slices.Clone(nodes), joiner)
		err = waitJoin(joiner, all, p.n, p.joinLimit)
		if err != nil {
			return result{}, err
		}
		res.JoinSeconds = time.Since(start).Seconds()
		progress("joined and settled in %v", time.Since(start).Round(time.Millisecond))
		res.JoinLocal = joiner.Registry.Local()
		res.JoinMoved = int(movedOnce.Load())
		res.JoinWrongState = int(movedWrong.Load())

		// Every name listed once, on the node that serves it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		entries, err := joiner.Registry.Registered(ctx)
		if err != nil {
			return result{}, err
		}
		seen := make([]bool, p.n)
		for _, e := range entries {
			i, err := strconv.Atoi(strings.TrimPrefix(e.Name, "s-"))
			switch {
			case err != nil || i < 0 || i >= p.n || !strings.HasPrefix(e.Name, "s-"):
				res.ListedUnknown++
			case seen[i]:
				res.ListedTwice++
			default:
				seen[i] = true
				res.Listed++
			}
		}
		return res, nil
	})
}

// registrations registers p.regN names of the trivial kind "k" on a
// 3-node cluster from random nodes, p.regWorkers at a time (clusterbench's
// registry row), once the empty registries are synced.
func registrations(p params) (result, error) {
	return harness.Run(func(tb *harness.TB) (result, error) {
		nodes := clustertest.StartCluster(tb, 3, options(true, p.partitions))
		if err := waitSettled(nodes, 0, settleLimit); err != nil {
			return result{}, err
		}
		names := nameList("r-", p.regN)
		random := func(rng *rand.Rand) *clustertest.Node { return nodes[rng.IntN(len(nodes))] }
		start := time.Now()
		if err := harness.RegisterAll(names, "k", p.regWorkers, p.seed, random, nil); err != nil {
			return result{}, err
		}
		registered := time.Since(start)
		if err := waitSettled(nodes, p.regN, settleLimit); err != nil {
			return result{}, err
		}
		res := result{
			PerSecond:        float64(p.regN) / registered.Seconds(),
			SettledPerSecond: float64(p.regN) / time.Since(start).Seconds(),
		}
		calls, err := callCeiling(nodes, p)
		if err != nil {
			return result{}, err
		}
		res.CallCeiling = calls
		return res, nil
	})
}

// callCeiling measures, on the same nodes, the bare request and answer a
// registration needs at the least in a design that sends it to the
// name's primary: p.regN calls, p.regWorkers at a time, each from a
// random node to a trivial process on a random node (a third of them on
// the caller's own node, as a third of the names' primaries are). Its
// rate bounds the registrations/s of any such design on this machine.
func callCeiling(nodes []*clustertest.Node, p params) (float64, error) {
	refs := make([]process.Ref, len(nodes))
	for i, node := range nodes {
		proc, err := node.Runtime.Spawn(context.Background(), process.Spec{Kind: "k"}, process.SpawnOptions{})
		if err != nil {
			return 0, fmt.Errorf("spawn the call target on %s: %w", node.Name, err)
		}
		refs[i] = proc.Ref()
	}
	return rate(p.regWorkers, p.regN, p.seed, func(ctx context.Context, rng *rand.Rand) error {
		from, to := nodes[rng.IntN(len(nodes))], refs[rng.IntN(len(refs))]
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := from.Runtime.Call(cctx, to, ping{}); err != nil {
			return fmt.Errorf("call %v from %s: %w", to, from.Name, err)
		}
		return nil
	})
}

// ping is the call of callCeiling: an empty message.
type ping struct{}
