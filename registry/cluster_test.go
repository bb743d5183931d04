package registry_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/placement"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
	"github.com/shoalhq/shoal/remote"
)

const clusterSecret = "registry-cluster-test-cookie"

type cnode struct {
	name    string
	rt      *process.Runtime
	rem     *remote.Remote
	cl      *cluster.Cluster
	reg     *registry.Registry
	stopped bool
}

func startCNode(t *testing.T, name, join string) *cnode {
	t.Helper()
	c, _ := cookie.Parse(clusterSecret)
	cdc := codec.New()
	if err := registry.RegisterTypes(cdc); err != nil {
		t.Fatal(err)
	}
	rem, err := remote.New(remote.Config{Node: name, Codec: cdc})
	if err != nil {
		t.Fatal(err)
	}
	kinds := process.NewKinds()
	_ = kinds.Register("counter", func([]byte) (process.Behavior, error) { return &counter{}, nil })
	rt, err := process.NewRuntime(process.Config{Node: name, Remote: rem}, kinds)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := cluster.LoopbackConfig(name, c)
	ccfg.OnLink = rem.HandleLink
	cl, err := cluster.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	rem.Attach(rt, cl)
	n := &cnode{name: name, rt: rt, rem: rem, cl: cl}
	if join != "" {
		if _, err := cl.Join(context.Background(), []string{join}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := registry.DefaultConfig()
	cfg.Cluster = cl
	n.reg, err = registry.New(cfg, rt)
	if err != nil {
		t.Fatal(err)
	}
	// Fail calls to nodes that went away at once.
	sub := cl.Subscribe()
	go func() {
		for ev := range sub.Events() {
			if ev.Type == cluster.EventDown || ev.Type == cluster.EventLeft {
				rem.NodeDown(ev.Member.Name)
			}
		}
	}()
	t.Cleanup(func() { n.kill() })
	return n
}

// kill stops the node without leaving: a crash, as far as the others can
// tell.
func (n *cnode) kill() {
	if n.stopped {
		return
	}
	n.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.reg.Close()
	_ = n.cl.Shutdown(ctx)
	_ = n.rem.Close()
	_ = n.rt.Shutdown(ctx)
}

func startCCluster(t *testing.T, size int) []*cnode {
	t.Helper()
	first := startCNode(t, "n0@127.0.0.1", "")
	nodes := []*cnode{first}
	for i := 1; i < size; i++ {
		nodes = append(nodes, startCNode(t, fmt.Sprintf("n%d@127.0.0.1", i), first.cl.Address()))
	}
	waitCond(t, 20*time.Second, "membership to converge", func() bool {
		for _, n := range nodes {
			if len(n.cl.Nodes()) != size-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func owners(t *testing.T, live []*cnode) placement.Table {
	t.Helper()
	var names []string
	for _, n := range live {
		names = append(names, n.name)
	}
	tab, err := placement.Rendezvous{}.Table(names)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// converged checks that every live node answers whereis identically for
// every name, that each name runs on its owner, and that nothing else is
// registered.
func converged(t *testing.T, live []*cnode, names []string) (bool, string) {
	tab := owners(t, live)
	ctx := context.Background()
	for _, name := range names {
		var first process.Ref
		for i, n := range live {
			ref, err := n.reg.Whereis(ctx, name)
			if err != nil {
				return false, fmt.Sprintf("%s: whereis %s: %v", n.name, name, err)
			}
			if i == 0 {
				first = ref
			} else if ref != first {
				return false, fmt.Sprintf("%s: whereis %s = %v, %s says %v", n.name, name, ref, live[0].name, first)
			}
		}
		if first.Node != tab.Owner(name) {
			return false, fmt.Sprintf("%s runs on %s, owner is %s", name, first.Node, tab.Owner(name))
		}
	}
	total := 0
	for _, n := range live {
		if got := n.reg.Len(); got != len(names) {
			return false, fmt.Sprintf("%s holds %d names; want %d", n.name, got, len(names))
		}
		total += n.rt.Len() - 1 // minus the registry endpoint
	}
	if total != len(names) {
		return false, fmt.Sprintf("%d processes run for %d names (duplicates or leftovers)", total, len(names))
	}
	return true, ""
}

func waitConverged(t *testing.T, d time.Duration, live []*cnode, names []string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := converged(t, live, names)
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
				if _, err := from.reg.Register(ctx, names[i], process.Spec{Kind: "counter"}); err != nil {
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
		want, _ := nodes[0].reg.Whereis(ctx, name)
		got, err := nodes[rnd.IntN(3)].reg.Register(ctx, name, process.Spec{Kind: "counter"})
		if err != nil || got != want {
			t.Fatalf("re-register %s = %v, %v; want %v", name, got, err, want)
		}
	}
	// Calls by name reach the process from every node, in order.
	for i := range 30 {
		name := names[rnd.IntN(n)]
		for _, from := range nodes {
			if _, err := from.reg.Call(ctx, name, "inc"); err != nil {
				t.Fatalf("call %d %s from %s: %v", i, name, from.name, err)
			}
		}
		if v, err := nodes[0].reg.Call(ctx, name, "get"); err != nil || v.(int) < 3 {
			t.Fatalf("%s count = %v, %v", name, v, err)
		}
	}
	// Groups span nodes.
	for _, name := range names[:30] {
		if err := nodes[rnd.IntN(3)].reg.Join(ctx, "g", name); err != nil {
			t.Fatal(err)
		}
	}
	waitCond(t, 10*time.Second, "group replicated", func() bool {
		for _, nd := range nodes {
			if m, _ := nd.reg.Members(ctx, "g"); len(m) != 30 {
				return false
			}
		}
		return true
	})
	replies, err := nodes[2].reg.MultiCall(ctx, "g", "get")
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
	ref, _ := nodes[0].reg.Whereis(ctx, victim)
	for _, nd := range nodes {
		if nd.name != ref.Node {
			if err := nd.reg.Unregister(ctx, victim); err != nil {
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
		if _, err := nodes[i%3].reg.Register(ctx, names[i], process.Spec{Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names[:60] {
		if err := nodes[0].reg.Join(ctx, "watched", name); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, 20*time.Second, nodes, names)
	victim := nodes[2]
	onVictim := 0
	for _, name := range names {
		if ref, _ := nodes[0].reg.Whereis(ctx, name); ref.Node == victim.name {
			onVictim++
		}
	}
	killed := time.Now()
	victim.kill()
	waitConverged(t, 10*time.Second, nodes[:2], names)
	t.Logf("%d processes of the killed node running again elsewhere after %v", onVictim, time.Since(killed).Round(time.Millisecond))
	for _, nd := range nodes[:2] {
		if m, _ := nd.reg.Members(ctx, "watched"); len(m) != 60 {
			t.Fatalf("%s: group has %d members after restart; want 60", nd.name, len(m))
		}
	}
}
