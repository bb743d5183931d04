package registry_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/internal/sys"
	"github.com/shoalhq/shoal/process"
)

// Issue 11: checkpoints keep what a crash would lose.

// durable is a mover (it hands its count off and adds a loser's) that
// also checkpoints its count.
type durable struct{ mover }

func (d *durable) CheckpointState(context.Context, process.Self) any { return d.n }

func durableOptions(mode process.CheckpointMode, every time.Duration) clustertest.Options {
	return clustertest.Options{Kinds: func() *process.Kinds {
		k := process.NewKinds()
		_ = k.RegisterWith("counter", func([]byte) (process.Behavior, error) { return &durable{mover{resolved: &resolutions{}}}, nil },
			process.KindOptions{Checkpoints: mode, CheckpointEvery: every})
		return k
	}}
}

// callLog is what callers saw: per name, the values acknowledged
// increments returned, when, and how many increments ended in an error
// (which may or may not have taken effect).
type callLog struct {
	mu      sync.Mutex
	acked   map[string][]ackAt
	unknown map[string]int
	total   atomic.Int64
}

type ackAt struct {
	v  int
	at time.Time
}

// load runs 8 callers incrementing random names through random nodes of
// via until stop closes.
func (cl *callLog) load(names []string, via func() []*cnode, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				nodes := via()
				name := names[rnd.IntN(len(names))]
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				v, err := nodes[rnd.IntN(len(nodes))].Registry.Call(ctx, name, "inc")
				cancel()
				cl.mu.Lock()
				if n, ok := v.(int); ok && err == nil {
					cl.acked[name] = append(cl.acked[name], ackAt{v: n, at: time.Now()})
					cl.total.Add(1)
				} else {
					cl.unknown[name]++
				}
				cl.mu.Unlock()
			}
		})
	}
	return &wg
}

// ckptNames is how many counters the crash tests use: 600, or
// SHOAL_CKPT_NAMES (issue 11 asks for 10,000).
func ckptNames(t *testing.T) []string {
	n := 600
	if s := os.Getenv("SHOAL_CKPT_NAMES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("SHOAL_CKPT_NAMES=%q: want a positive number", s)
		}
		n = v
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ck-%d", i)
	}
	return names
}

// crashUnderLoad registers the names on 3 nodes, increments them from 8
// callers, kills the third node (and, if restart, starts it again at
// once at the same addresses), keeps the load on until the survivors
// agree, and returns each name's final count, what the callers saw and
// when the crash happened.
func crashUnderLoad(t *testing.T, opts clustertest.Options, names []string, restart bool) (map[string]int, *callLog, time.Time) {
	nodes := clustertest.StartCluster(t, 3, opts)
	registerAll(t, nodes, names)
	waitConverged(t, 60*time.Second, nodes, names)
	cl := &callLog{acked: map[string][]ackAt{}, unknown: map[string]int{}}
	stop := make(chan struct{})
	survivors := nodes[:2]
	wg := cl.load(names, func() []*cnode { return survivors }, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitCond(t, 60*time.Second, "load under way", func() bool { return cl.total.Load() >= int64(max(2000, len(names)/2)) })
	crashed := time.Now()
	live := survivors
	if restart {
		nodes[2] = clustertest.Restart(t, nodes[2], nodes[0].Cluster.Address(), opts)
		live = nodes
	} else {
		nodes[2].Kill()
	}
	waitConverged(t, 90*time.Second, live, names)
	after := cl.total.Load()
	waitCond(t, 60*time.Second, "load after recovery", func() bool { return cl.total.Load() >= after+500 })
	close(stop)
	wg.Wait()
	final := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range names {
		v, err := live[0].Registry.Call(ctx, name, "get")
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		final[name] = v.(int)
	}
	return final, cl, crashed
}

// TestClusterCheckpointsSurviveACrash is issue 11's first acceptance
// item: counters in sync mode, 8 callers, one node of 3 killed (and
// restarted at once at the same address): no acknowledged increment is
// lost, none applied twice.
func TestClusterCheckpointsSurviveACrash(t *testing.T) {
	mode := process.CheckpointSync
	if s := os.Getenv("SHOAL_CKPT_MODE"); s != "" { // off: to measure what the crash loses without
		var err error
		if mode, err = process.ParseCheckpointMode(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			names := ckptNames(t)
			final, cl, _ := crashUnderLoad(t, durableOptions(mode, 0), names, restart)
			lost, dup, acked, unknown := 0, 0, 0, 0
			for _, name := range names {
				vs := cl.acked[name]
				acked += len(vs)
				unknown += cl.unknown[name]
				seen := map[int]bool{}
				top := 0
				for _, a := range vs {
					if seen[a.v] {
						dup++
						t.Errorf("%s: two acknowledged increments returned %d (one was applied twice or lost)", name, a.v)
					}
					seen[a.v] = true
					top = max(top, a.v)
				}
				if final[name] < top {
					lost++
					t.Errorf("%s: count %d after the crash, but an increment was acknowledged at %d", name, final[name], top)
				}
				if final[name] > len(vs)+cl.unknown[name] {
					dup++
					t.Errorf("%s: count %d, but only %d increments acknowledged and %d failed", name, final[name], len(vs), cl.unknown[name])
				}
			}
			t.Logf("mode %v, %d counters: %d increments acknowledged, %d failed; %d counters lost an acknowledged increment, %d counted one twice",
				mode, len(names), acked, unknown, lost, dup)
		})
	}
}

// TestClusterAsyncCheckpointLossWindow is the async half of the item: a
// crash loses only increments acknowledged within about one interval
// (plus the checkpoint in flight) before it.
func TestClusterAsyncCheckpointLossWindow(t *testing.T) {
	const every = 300 * time.Millisecond
	names := ckptNames(t)
	final, cl, crashed := crashUnderLoad(t, durableOptions(process.CheckpointAsync, every), names, false)
	lostNames, lostIncs := 0, 0
	var oldest time.Duration
	for _, name := range names {
		vs := cl.acked[name]
		slices.SortFunc(vs, func(a, b ackAt) int { return a.v - b.v })
		// What the name restarted from: below the first value counted
		// again after the crash, or the final count.
		restored := final[name]
		for _, a := range vs {
			if !a.at.Before(crashed) {
				restored = min(restored, a.v-1)
			}
		}
		var lost []ackAt
		for _, a := range vs {
			if a.v > restored && a.at.Before(crashed) {
				lost = append(lost, a)
			}
		}
		if len(lost) == 0 {
			continue
		}
		lostNames++
		lostIncs += len(lost)
		oldest = max(oldest, crashed.Sub(lost[0].at))
	}
	t.Logf("async every %v: %d counters lost %d acknowledged increments; the oldest lost was acknowledged %v before the crash",
		every, lostNames, lostIncs, oldest.Round(time.Millisecond))
	// An interval, plus a checkpoint in flight (one round trip to the
	// replicas; a slow one under -race on 2 cores).
	if bound := every + 2*time.Second; oldest > bound {
		t.Fatalf("an increment acknowledged %v before the crash was lost; the window is %v (bound %v)", oldest, every, bound)
	}
}

// TestClusterAsyncCheckpointsTravelTogether: async checkpoints of many
// processes taken within a few milliseconds of each other reach the
// machine (and so the primaries and replicas) together, in a few steps,
// not one each. The processes change, then all are asked to checkpoint
// at once (their own timers, a minute away, would spread them).
func TestClusterAsyncCheckpointsTravelTogether(t *testing.T) {
	nodes := clustertest.StartCluster(t, 3, durableOptions(process.CheckpointAsync, time.Minute))
	names := make([]string, 300)
	for i := range names {
		names[i] = fmt.Sprintf("tt-%d", i)
	}
	registerAll(t, nodes, names)
	waitConverged(t, 60*time.Second, nodes, names)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(names); i = int(next.Add(1) - 1) {
				if _, err := nodes[(i+w)%3].Registry.Call(ctx, names[i], "inc"); err != nil {
					t.Errorf("inc %s: %v", names[i], err)
				}
			}
		})
	}
	wg.Wait()
	byName := map[string]*cnode{}
	for _, nd := range nodes {
		byName[nd.Name] = nd
	}
	var procs []*process.Process
	for _, name := range names {
		ref, err := nodes[0].Registry.Whereis(ctx, name)
		if err != nil {
			t.Fatalf("whereis %s: %v", name, err)
		}
		p, ok := byName[ref.Node].Runtime.Lookup(ref)
		if !ok {
			t.Fatalf("%s: no process %v", name, ref)
		}
		procs = append(procs, p)
	}
	steps := func() (n uint64) {
		for _, nd := range nodes {
			n += nd.Registry.CheckpointSteps()
		}
		return n
	}
	before := steps()
	for _, p := range procs {
		if err := nodes[0].Runtime.System(sys.Key{}).Flush(p); err != nil {
			t.Fatal(err)
		}
	}
	waitCond(t, 20*time.Second, "every counter's checkpoint at its primary", func() bool {
		for _, name := range names {
			nd := byName[nodes[0].Registry.Owner(name)]
			if nd == nil || nd.Registry.CheckpointSeq(name) == 0 {
				return false
			}
		}
		return true
	})
	took := steps() - before
	t.Logf("%d async checkpoints taken at once went to the directory in %d steps", len(names), took)
	if took > uint64(len(names))/10 {
		t.Errorf("%d steps for %d checkpoints taken at once: they did not travel together", took, len(names))
	}
}
