package registry_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// mover is a counter that carries its count when handed off and adds a
// losing copy's count when a conflict is resolved.
type mover struct {
	counter
	resolved *resolutions
}

// resolutions counts the conflicts movers resolved and keeps what each
// was told of the copies.
type resolutions struct {
	atomic.Int64
	mu   sync.Mutex
	seen []process.Conflict
}

func (r *resolutions) all() []process.Conflict {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

var _ process.ConflictResolver = (*mover)(nil)

func (m *mover) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: m.n}
}

func (m *mover) EndHandoff(_ context.Context, _ process.Self, state any) error {
	n, ok := state.(int)
	if !ok {
		return fmt.Errorf("handed-off state is %T, want int", state)
	}
	m.n = n
	return nil
}

func (m *mover) ResolveConflict(_ context.Context, _ process.Self, c process.Conflict, state any) {
	m.resolved.mu.Lock()
	m.resolved.seen = append(m.resolved.seen, c)
	m.resolved.mu.Unlock()
	m.resolved.Add(1)
	if n, ok := state.(int); ok {
		m.n += n
	}
}

func moverOptions(resolved *resolutions) clustertest.Options {
	return clustertest.Options{Kinds: func() *process.Kinds {
		k := process.NewKinds()
		_ = k.Register("counter", func([]byte) (process.Behavior, error) { return &mover{resolved: resolved}, nil })
		return k
	}}
}

// registerAll registers names as counters from random nodes, 8 at a
// time.
func registerAll(t *testing.T, nodes []*cnode, names []string) time.Duration {
	t.Helper()
	return registerSpec(t, nodes, names, process.Spec{Kind: "counter"})
}

// registerSpec registers names with spec from random nodes, 8 at a time.
func registerSpec(t *testing.T, nodes []*cnode, names []string, spec process.Spec) time.Duration {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for w := range 8 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for i := w; i < len(names); i += 8 {
				if _, err := nodes[rnd.IntN(len(nodes))].Registry.Register(ctx, names[i], spec); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// bumpAll increments every named counter once and records the count.
func bumpAll(t *testing.T, via *cnode, names []string, counts map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(names); i += 8 {
				v, err := via.Registry.Call(ctx, names[i], "inc")
				if err != nil {
					failed.Store(fmt.Errorf("inc %s: %w", names[i], err))
					return
				}
				mu.Lock()
				if v.(int) != counts[names[i]]+1 {
					failed.Store(fmt.Errorf("%s counted %d after %d increments: its state was lost", names[i], v, counts[names[i]]+1))
				}
				counts[names[i]] = v.(int)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
}

func placedOn(t *testing.T, via *cnode, names []string, node string) []string {
	t.Helper()
	var out []string
	for _, name := range names {
		if ref, err := via.Registry.Whereis(context.Background(), name); err == nil && ref.Node == node {
			out = append(out, name)
		}
	}
	return out
}

// TestClusterTopologyChanges is the acceptance run of the cluster-wide
// registry: 10,000 processes on 3 nodes; a 4th joins (moved processes keep
// their state); one is killed (its processes restart elsewhere within
// 10 s); one stops gracefully while calls go on (all its processes move
// with their state, no call hangs).
func TestClusterTopologyChanges(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 1_000
	}
	var resolved resolutions
	opts := moverOptions(&resolved)
	nodes := clustertest.StartCluster(t, 3, opts)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("p-%d", i)
	}
	took := registerAll(t, nodes, names)
	t.Logf("%d registrations from random nodes of 3 in %v", n, took.Round(time.Millisecond))
	waitConverged(t, 30*time.Second, nodes, names)
	counts := make(map[string]int, n)
	bumpAll(t, nodes[0], names, counts)

	// A 4th node joins: names it now owns move to it with their counts.
	joined := time.Now()
	fourth := clustertest.Start(t, "n3@127.0.0.1", nodes[0].Cluster.Address(), opts)
	nodes = append(nodes, fourth)
	// About 2 s without the race detector; 15-30 s under it, beside
	// other packages' tests (each of the 2,500 moves is a few messages
	// through every node's one directory lock).
	waitConverged(t, 60*time.Second, nodes, names)
	moved := placedOn(t, nodes[0], names, fourth.Name)
	t.Logf("4th node joined: %d processes moved to it, converged in %v", len(moved), time.Since(joined).Round(time.Millisecond))
	if len(moved) < n/8 {
		t.Fatalf("only %d of %d processes moved to the new node", len(moved), n)
	}
	bumpAll(t, nodes[1], names, counts) // fails if any count restarted

	// Hard kill: the victim's processes run again elsewhere within 10 s.
	victim := nodes[1]
	lost := placedOn(t, nodes[0], names, victim.Name)
	killed := time.Now()
	victim.Kill()
	nodes = []*cnode{nodes[0], nodes[2], nodes[3]}
	waitConverged(t, 10*time.Second, nodes, names)
	t.Logf("killed a node: its %d processes running elsewhere after %v", len(lost), time.Since(killed).Round(time.Millisecond))
	for _, name := range lost {
		counts[name] = 0 // restarted from the spec: state gone with the node
	}
	bumpAll(t, nodes[0], names, counts)

	// Graceful stop of a node while callers keep calling from the others.
	leaver := nodes[2]
	leaving := placedOn(t, nodes[0], names, leaver.Name)
	stay := nodes[:2]
	var (
		mu       sync.Mutex
		ok       = map[string]int{}
		tried    = map[string]int{}
		failures atomic.Int64
		slowest  atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				name := leaving[rnd.IntN(len(leaving))]
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				began := time.Now()
				_, err := stay[w%2].Registry.Call(ctx, name, "inc")
				cancel()
				el := time.Since(began)
				for {
					cur := slowest.Load()
					if int64(el) <= cur || slowest.CompareAndSwap(cur, int64(el)) {
						break
					}
				}
				mu.Lock()
				tried[name]++
				if err == nil {
					ok[name]++
				} else if failures.Add(1) <= 3 {
					t.Logf("call during the graceful stop failed: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	stopped := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := leaver.Stop(ctx)
	cancel()
	drained := time.Since(stopped)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	waitConverged(t, 10*time.Second, stay, names)
	if el := time.Duration(slowest.Load()); el > 3*time.Second+time.Second {
		t.Fatalf("a call took %v against a 3 s deadline", el)
	}
	t.Logf("graceful stop of a node with %d processes: drained in %v; %d calls during it, %d failed, slowest %v",
		len(leaving), drained.Round(time.Millisecond), sum(tried), failures.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
	// Every count survived the move: it is at least the successful
	// increments, and at most the attempted ones.
	for _, name := range leaving {
		counts[name] += ok[name]
	}
	for i, name := range names {
		v, err := stay[i%2].Registry.Call(context.Background(), name, "get")
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := counts[name], counts[name]+tried[name]-ok[name]
		if v.(int) < lo || v.(int) > hi {
			t.Fatalf("%s counts %v after the graceful stop; want %d..%d (state lost or duplicated)", name, v, lo, hi)
		}
	}
	if r := resolved.Load(); r != 0 {
		t.Fatalf("%d conflicts resolved in a run without a netsplit", r)
	}
}

func sum(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

// TestClusterNetsplitHeal splits {A,B} from {C}: each side keeps serving
// every name (restarting the other side's processes), both register the
// same new names; on heal each name ends with one process, whose count is
// the sum of both sides' (the loser's state reached ResolveConflict).
//
// ResolveConflict runs once per name when the heal is clean. It may run
// more often when membership flaps as the sides rejoin: C's gossip that a
// node of the other side is dead, still queued when the network heals,
// reaches that node's partner, which sees it down for a moment and
// restarts its processes from their specs. To the registry that is one
// more netsplit; those copies lose (or win) in turn, and each resolution
// calls ResolveConflict once more.
func TestClusterNetsplitHeal(t *testing.T) {
	var resolved resolutions
	opts := moverOptions(&resolved)
	// Every node holds a copy of every partition (k = 2 of 3), so that
	// each side of the split knows every name: with fewer replicas a side
	// serves only what it holds a copy of until the heal.
	opts.Replicas = 2
	nodes := clustertest.StartCluster(t, 3, opts)
	a, b, c := nodes[0], nodes[1], nodes[2]
	old := make([]string, 300)
	for i := range old {
		old[i] = fmt.Sprintf("old-%d", i)
	}
	registerAll(t, nodes, old)
	waitConverged(t, 20*time.Second, nodes, old)

	clustertest.Partition([]*cnode{a, b}, []*cnode{c})
	split := time.Now()
	waitCond(t, 20*time.Second, "each side to see the other as failed", func() bool {
		return len(a.Cluster.Nodes()) == 1 && len(b.Cluster.Nodes()) == 1 && len(c.Cluster.Nodes()) == 0
	})
	t.Logf("split detected after %v", time.Since(split).Round(time.Millisecond))
	// Each side serves every old name, and takes new ones.
	waitConverged(t, 10*time.Second, []*cnode{a, b}, old)
	waitConverged(t, 10*time.Second, []*cnode{c}, old)
	fresh := make([]string, 200)
	for i := range fresh {
		fresh[i] = fmt.Sprintf("new-%d", i)
	}
	registerAll(t, []*cnode{a, b}, fresh)
	registerAll(t, []*cnode{c}, fresh)
	all := append(append([]string(nil), old...), fresh...)
	waitConverged(t, 10*time.Second, []*cnode{a, b}, all)
	waitConverged(t, 10*time.Second, []*cnode{c}, all)
	sideAB, sideC := map[string]int{}, map[string]int{}
	bumpAll(t, a, all, sideAB)
	bumpAll(t, c, all, sideC)
	bumpAll(t, c, all, sideC)

	healed := time.Now()
	flaps := watchDowns(t, nodes)
	clustertest.Heal(t, a, b, c)
	waitConverged(t, 10*time.Second, nodes, all)
	waitCond(t, 10*time.Second, "a conflict resolved for every name", func() bool {
		return resolved.Load() >= int64(len(all))
	})
	t.Logf("healed: one process per name for %d names after %v; %d conflicts resolved",
		len(all), time.Since(healed).Round(time.Millisecond), resolved.Load())
	var wrong []string
	for _, name := range all {
		v, err := b.Registry.Call(context.Background(), name, "get")
		if err != nil {
			t.Fatal(err)
		}
		if want := sideAB[name] + sideC[name]; v.(int) != want {
			ref, _ := b.Registry.Whereis(context.Background(), name)
			wrong = append(wrong, fmt.Sprintf("%s on %s counts %v, want %d+%d", name, ref.Node, v, sideAB[name], sideC[name]))
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d names lost a side's count in the heal (merged by ResolveConflict); %v", len(wrong), wrong[:min(len(wrong), 10)])
	}
	// Each resolution said where the copies came from: two processes,
	// each on a node of this cluster with its incarnation (the winner may
	// have moved since, to the loser's node too); names registered before
	// the split are one registration on both sides, those registered on
	// each side during it are two.
	downs := flaps()
	incs := map[string]uint64{}
	for _, n := range nodes {
		incs[n.Name] = n.Cluster.Incarnation()
	}
	for _, c := range resolved.all() {
		for _, cp := range []process.Copy{c.Winner, c.Loser} {
			if incs[cp.Node] == 0 || cp.Incarnation != incs[cp.Node] || cp.ID == 0 {
				t.Fatalf("%s: a copy is from %+v, not a node of this cluster", c.Name, cp)
			}
		}
		if c.Winner == c.Loser {
			t.Fatalf("%s: the winner %+v is the loser", c.Name, c.Winner)
		}
		if fresh := strings.HasPrefix(c.Name, "new-"); c.SameRegistration == fresh && len(downs) == 0 {
			t.Fatalf("%s: SameRegistration = %v", c.Name, c.SameRegistration)
		}
	}
	if len(downs) > 0 {
		t.Logf("membership flapped after the heal (%s): %d conflicts resolved for %d names",
			strings.Join(downs, "; "), resolved.Load(), len(all))
	} else if r := resolved.Load(); r != int64(len(all)) {
		t.Fatalf("%d conflicts resolved for %d names after a clean heal", r, len(all))
	}
}

// watchDowns records, from now on, each time one of nodes sees a peer go
// down or leave. stop ends the watch (at the latest when the test ends)
// and returns what it saw.
func watchDowns(t *testing.T, nodes []*cnode) (stop func() []string) {
	var (
		mu   sync.Mutex
		seen []string
		wg   sync.WaitGroup
	)
	subs := make([]cluster.Subscription, len(nodes))
	for i, n := range nodes {
		sub := n.Cluster.Subscribe()
		subs[i] = sub
		wg.Go(func() {
			for ev := range sub.Events() {
				if ev.Type == cluster.EventDown || ev.Type == cluster.EventLeft {
					mu.Lock()
					seen = append(seen, fmt.Sprintf("%s saw %s %s", n.Name, ev.Member.Name, ev.Type))
					mu.Unlock()
				}
			}
		})
	}
	stop = func() []string {
		for _, sub := range subs {
			sub.Close()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestClusterQuorumRefusesToPlace checks the quorum strategy: with fewer
// nodes than its minimum visible, registering fails with a clear error;
// once enough have joined, it works.
func TestClusterQuorumRefusesToPlace(t *testing.T) {
	var resolved resolutions
	opts := moverOptions(&resolved)
	opts.Quorum = 3
	nodes := clustertest.StartCluster(t, 2, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := nodes[0].Registry.Register(ctx, "q", process.Spec{Kind: "counter"}); !errors.Is(err, registry.ErrNoQuorum) {
		t.Fatalf("register with 2 of 3 nodes = %v; want ErrNoQuorum", err)
	}
	third := clustertest.Start(t, "n2@127.0.0.1", nodes[0].Cluster.Address(), opts)
	nodes = append(nodes, third)
	waitCond(t, 20*time.Second, "3 nodes to see each other", func() bool {
		for _, n := range nodes {
			if len(n.Cluster.Nodes()) != 2 {
				return false
			}
		}
		return true
	})
	// The registries learn of the third node from their own subscription,
	// a moment after membership lists it: placement succeeds once they do.
	waitCond(t, 10*time.Second, "a registration with a quorum", func() bool {
		_, err := nodes[1].Registry.Register(ctx, "q", process.Spec{Kind: "counter"})
		return err == nil
	})
	waitConverged(t, 10*time.Second, nodes, []string{"q"})
}

// TestClusterKillThenSplit kills one node of five, then, once the four
// agree, cuts one more off: with one replica per partition (the
// default), the three that stay still know and run every name (each
// partition's copies were restored on the survivors after the kill).
func TestClusterKillThenSplit(t *testing.T) {
	var resolved resolutions
	nodes := clustertest.StartCluster(t, 5, moverOptions(&resolved))
	names := make([]string, 2000)
	for i := range names {
		names[i] = fmt.Sprintf("ks-%d", i)
	}
	registerAll(t, nodes, names)
	waitConverged(t, 30*time.Second, nodes, names)
	nodes[4].Kill()
	four := nodes[:4]
	waitConverged(t, 30*time.Second, four, names)
	clustertest.Partition(nodes[:3], nodes[3:4])
	split := time.Now()
	waitCond(t, 20*time.Second, "the three to see the fourth gone", func() bool {
		return len(nodes[0].Cluster.Nodes()) == 2 && len(nodes[1].Cluster.Nodes()) == 2 && len(nodes[2].Cluster.Nodes()) == 2
	})
	waitConverged(t, 30*time.Second, nodes[:3], names)
	t.Logf("the three run all %d names %v after the cut", len(names), time.Since(split).Round(time.Millisecond))
}
