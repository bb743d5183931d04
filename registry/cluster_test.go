package registry_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// counterKinds gives each node its own kind table with the counter kind.
func counterKinds() *process.Kinds {
	k := process.NewKinds()
	_ = k.Register("counter", func([]byte) (process.Behavior, error) { return &counter{}, nil })
	return k
}

type cnode = clustertest.Node

func startCCluster(t *testing.T, size int) []*cnode {
	t.Helper()
	return clustertest.StartCluster(t, size, clustertest.Options{Kinds: counterKinds})
}

var waitCond = clustertest.Eventually

// converged checks that the live nodes agree on names and nothing else:
// every node synced and lists exactly names, each on the primary of its
// partition, the same process as the other nodes list; whereis agrees
// with the listing (for a sample: every whereis is a request to the
// primary); and one process runs per name.
func converged(t *testing.T, live []*cnode, names []string) (bool, string) {
	t.Helper()
	// Cheap checks first (listing every name from every node, polled,
	// would be most of the load): every node synced, the names served
	// once in all, one process each.
	served, total := 0, 0
	for _, n := range live {
		if err := n.Registry.Synced(); err != nil {
			return false, fmt.Sprintf("%s: %v", n.Name, err)
		}
		served += n.Registry.Len()
		total += n.Runtime.Len() - n.Registry.Systems()
	}
	if served != len(names) {
		return false, fmt.Sprintf("%d names served in all; want %d", served, len(names))
	}
	if total != len(names) {
		return false, fmt.Sprintf("%d processes run for %d names (duplicates or leftovers)", total, len(names))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var first map[string]process.Ref
	for i, n := range live {
		entries, err := n.Registry.Registered(ctx)
		if err != nil {
			return false, fmt.Sprintf("%s: registered: %v", n.Name, err)
		}
		got := make(map[string]process.Ref, len(entries))
		for _, e := range entries {
			if _, dup := got[e.Name]; dup {
				return false, fmt.Sprintf("%s lists %s twice", n.Name, e.Name)
			}
			got[e.Name] = e.Ref
		}
		if len(got) != len(names) {
			return false, fmt.Sprintf("%s lists %d names; want %d", n.Name, len(got), len(names))
		}
		for _, name := range names {
			ref, ok := got[name]
			switch {
			case !ok:
				return false, fmt.Sprintf("%s does not list %s", n.Name, name)
			case i == 0 && ref.Node != n.Registry.Owner(name):
				return false, fmt.Sprintf("%s runs on %s, owner is %s", name, ref.Node, n.Registry.Owner(name))
			case i > 0 && ref != first[name]:
				return false, fmt.Sprintf("%s: %s lists %v, %s lists %v", name, n.Name, ref, live[0].Name, first[name])
			}
		}
		if i == 0 {
			first = got
		}
	}
	for i, name := range names {
		if i%max(1, len(names)/100) != 0 {
			continue
		}
		for _, n := range live {
			ref, err := n.Registry.Whereis(ctx, name)
			if err != nil {
				return false, fmt.Sprintf("%s: whereis %s: %v", n.Name, name, err)
			}
			if ref != first[name] {
				return false, fmt.Sprintf("%s: whereis %s = %v, listed as %v", n.Name, name, ref, first[name])
			}
		}
	}
	total = 0
	for _, n := range live {
		total += n.Runtime.Len() - n.Registry.Systems()
	}
	if total != len(names) {
		return false, fmt.Sprintf("%d processes run for %d names (duplicates or leftovers)", total, len(names))
	}
	return true, ""
}

func waitConverged(t *testing.T, d time.Duration, live []*cnode, names []string) {
	t.Helper()
	deadline := time.Now().Add(d)
	lastWhy := time.Now()
	for {
		ok, why := converged(t, live, names)
		if os.Getenv("DEBUGWHY") != "" && time.Since(lastWhy) > time.Second {
			lastWhy = time.Now()
			t.Logf("not yet: %s", why)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged after %v: %s", d, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterRegistryPlacesAndReplicates(t *testing.T) {
	nodes := startCCluster(t, 3)
	const seed = 5
	rnd := rand.New(rand.NewPCG(seed, seed))
	n := 3000
	if testing.Short() {
		n = 300
	}
	names := make([]string, n)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := time.Now()
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				names[i] = fmt.Sprintf("c-%d", i)
				from := nodes[(i*7+w)%3]
				if _, err := from.Registry.Register(ctx, names[i], process.Spec{Kind: "counter"}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d registrations from random nodes in %v", n, time.Since(start))
	waitConverged(t, 20*time.Second, nodes, names)

	// Registering again from any node returns the same process.
	for range 50 {
		name := names[rnd.IntN(n)]
		want, _ := nodes[0].Registry.Whereis(ctx, name)
		got, err := nodes[rnd.IntN(3)].Registry.Register(ctx, name, process.Spec{Kind: "counter"})
		if err != nil || got != want {
			t.Fatalf("re-register %s = %v, %v; want %v", name, got, err, want)
		}
	}
	// Calls by name reach the process from every node, in order.
	for i := range 30 {
		name := names[rnd.IntN(n)]
		for _, from := range nodes {
			if _, err := from.Registry.Call(ctx, name, "inc"); err != nil {
				t.Fatalf("call %d %s from %s: %v", i, name, from.Name, err)
			}
		}
		if v, err := nodes[0].Registry.Call(ctx, name, "get"); err != nil || v.(int) < 3 {
			t.Fatalf("%s count = %v, %v", name, v, err)
		}
	}
	// Groups span nodes.
	for _, name := range names[:30] {
		if err := nodes[rnd.IntN(3)].Registry.Join(ctx, "g", name); err != nil {
			t.Fatal(err)
		}
	}
	waitCond(t, 10*time.Second, "group replicated", func() bool {
		for _, nd := range nodes {
			if m, _ := nd.Registry.Members(ctx, "g"); len(m) != 30 {
				return false
			}
		}
		return true
	})
	replies, err := nodes[2].Registry.MultiCall(ctx, "g", "get")
	if err != nil || len(replies) != 30 {
		t.Fatalf("multicall = %d, %v", len(replies), err)
	}
	for _, r := range replies {
		if r.Err != nil {
			t.Fatalf("multicall reply %s: %v", r.Name, r.Err)
		}
	}
	// Unregister from a node that does not run it.
	victim := names[0]
	ref, _ := nodes[0].Registry.Whereis(ctx, victim)
	for _, nd := range nodes {
		if nd.Name != ref.Node {
			if err := nd.Registry.Unregister(ctx, victim); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	waitConverged(t, 10*time.Second, nodes, names[1:])
}

func TestClusterRegistryRestartsProcessesOfDeadNode(t *testing.T) {
	nodes := startCCluster(t, 3)
	ctx := context.Background()
	names := make([]string, 600)
	for i := range names {
		names[i] = fmt.Sprintf("k-%d", i)
		if _, err := nodes[i%3].Registry.Register(ctx, names[i], process.Spec{Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names[:60] {
		if err := nodes[0].Registry.Join(ctx, "watched", name); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, 20*time.Second, nodes, names)
	victim := nodes[2]
	onVictim := 0
	for _, name := range names {
		if ref, _ := nodes[0].Registry.Whereis(ctx, name); ref.Node == victim.Name {
			onVictim++
		}
	}
	killed := time.Now()
	victim.Kill()
	waitConverged(t, 10*time.Second, nodes[:2], names)
	t.Logf("%d processes of the killed node running again elsewhere after %v", onVictim, time.Since(killed).Round(time.Millisecond))
	for _, nd := range nodes[:2] {
		if m, _ := nd.Registry.Members(ctx, "watched"); len(m) != 60 {
			t.Fatalf("%s: group has %d members after restart; want 60", nd.Name, len(m))
		}
	}
}

// A node reports itself synced (ready) only once it holds every live
// peer's registrations; a list lost while links were down is asked for
// again; a draining node is not ready.
func TestSyncedReadiness(t *testing.T) {
	opts := clustertest.Options{Kinds: counterKinds}
	nodes := clustertest.StartCluster(t, 2, opts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const names = 50
	for i := range names {
		if _, err := nodes[i%2].Registry.Register(ctx, fmt.Sprintf("s-%d", i), process.Spec{Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
	}
	waitCond(t, 10*time.Second, "both nodes synced", func() bool {
		return nodes[0].Registry.Synced() == nil && nodes[1].Registry.Synced() == nil
	})

	late := clustertest.Start(t, "n2@127.0.0.1", "", opts)
	late.CutLinks(nodes...)
	if _, err := late.Cluster.Join(ctx, []string{nodes[0].Cluster.Address()}); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 10*time.Second, "membership of 3", func() bool { return len(late.Cluster.Nodes()) == 2 })
	// Once the registry has applied the membership, it waits on both
	// peers' copies, which cannot come.
	var err error
	waitCond(t, 10*time.Second, "Synced with the links cut to name both peers", func() bool {
		err = late.Registry.Synced()
		return errors.Is(err, registry.ErrNotSynced) && strings.Contains(err.Error(), nodes[0].Name) && strings.Contains(err.Error(), nodes[1].Name)
	})
	clustertest.Heal(t, append(nodes, late)...)
	// What the late node knows: what it lists.
	known := func() int {
		entries, err := late.Registry.Registered(ctx)
		if err != nil {
			return -1
		}
		return len(entries)
	}
	waitCond(t, 10*time.Second, "the late node synced once its links are back", func() bool {
		return late.Registry.Synced() == nil && known() == names
	})
	if got := known(); got != names {
		t.Fatalf("late node knows %d names, want %d", got, names)
	}

	if err := late.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := late.Registry.Synced(); !errors.Is(err, registry.ErrDraining) {
		t.Fatalf("Synced after Drain = %v, want ErrDraining", err)
	}
}

// TestClusterRestartInPlaceLosesNothing is issue 10's problem 1: a node
// killed and started again at once with the same name, membership address
// and link address (a container restarted in place; the pod IP stays).
// Its processes are gone with it; every name must come back, on every
// node, within 10 s.
func TestClusterRestartInPlaceLosesNothing(t *testing.T) {
	opts := clustertest.Options{Kinds: counterKinds}
	nodes := clustertest.StartCluster(t, 3, opts)
	ctx := context.Background()
	names := make([]string, 600)
	for i := range names {
		names[i] = fmt.Sprintf("r-%d", i)
		if _, err := nodes[i%3].Registry.Register(ctx, names[i], process.Spec{Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, 20*time.Second, nodes, names)
	onVictim := 0
	for _, name := range names {
		if ref, _ := nodes[0].Registry.Whereis(ctx, name); ref.Node == nodes[2].Name {
			onVictim++
		}
	}
	restarted := time.Now()
	nodes[2] = clustertest.Restart(t, nodes[2], nodes[0].Cluster.Address(), opts)
	waitConverged(t, 10*time.Second, nodes, names)
	t.Logf("%d names (%d ran on the restarted node) back on every node %v after the restart",
		len(names), onVictim, time.Since(restarted).Round(time.Millisecond))
}

// Nodes that disagree on the partition count do not share names: each
// says so in Synced (so it is not ready) and keeps serving on its own
// rather than place names differently from its peer.
func TestClusterShapeMismatchIsRefused(t *testing.T) {
	a := clustertest.Start(t, "n0@127.0.0.1", "", clustertest.Options{Kinds: counterKinds, Partitions: 64})
	b := clustertest.Start(t, "n1@127.0.0.1", a.Cluster.Address(), clustertest.Options{Kinds: counterKinds, Partitions: 128})
	waitCond(t, 10*time.Second, "membership of 2", func() bool { return len(a.Cluster.Nodes()) == 1 && len(b.Cluster.Nodes()) == 1 })
	for _, n := range []*cnode{a, b} {
		waitCond(t, 10*time.Second, n.Name+" to refuse its peer", func() bool {
			err := n.Registry.Synced()
			return errors.Is(err, registry.ErrNotSynced) && strings.Contains(err.Error(), "set the same on every node")
		})
	}
	err := a.Registry.Synced()
	if !strings.Contains(err.Error(), "64 partitions") || !strings.Contains(err.Error(), b.Name+" (128 partitions") {
		t.Fatalf("Synced = %v; want both partition counts named", err)
	}
	// Each still serves names alone, on itself.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []*cnode{a, b} {
		ref, err := n.Registry.Register(ctx, "alone-"+n.Name, process.Spec{Kind: "counter"})
		if err != nil || ref.Node != n.Name {
			t.Fatalf("register on %s = %v, %v; want a process there", n.Name, ref, err)
		}
	}
}

// A node that leaves gracefully hands its processes off, and calls by
// name from another node reach them at their new place at once: the
// caller's cached refs to the leaving node go when it says it leaves,
// not when membership reports it gone (which may come after it is).
func TestCallsByNameOutliveAGracefulLeave(t *testing.T) {
	nodes := startCCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller, leaver := nodes[0], nodes[2]
	var names []string
	for i := 0; len(names) < 40; i++ {
		name := fmt.Sprintf("g-%d", i)
		if leaver.Registry.Owner(name) != leaver.Name {
			continue
		}
		if _, err := caller.Registry.Register(ctx, name, process.Spec{Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	for _, name := range names { // the caller caches where each runs
		if _, err := caller.Registry.Call(ctx, name, "inc"); err != nil {
			t.Fatalf("call %s: %v", name, err)
		}
	}
	if err := leaver.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, err := caller.Registry.Call(ctx, name, "inc"); err != nil {
			t.Fatalf("call %s right after %s left: %v", name, leaver.Name, err)
		}
	}
}
