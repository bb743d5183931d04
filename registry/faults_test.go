package registry_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/process"
)

// Issue 10's problems 2, 3 and 5 against real nodes: an update lost while
// links are down (membership up) is repaired; a process that stayed off
// its owner is resolved after a netsplit; big registrations and states
// travel.

// TestClusterLostUpdateIsRepaired is problem 2: the links between a
// partition's primary and its replica fail while membership stays up, and
// the primary unregisters names meanwhile. Once the links are back the
// replica must not list them, and registering one there must start a new
// process, not return the dead one.
func TestClusterLostUpdateIsRepaired(t *testing.T) {
	nodes := startCCluster(t, 3)
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var victims, rest []string
	old := map[string]process.Ref{}
	for i := 0; len(victims) < 20 || len(rest) < 20; i++ {
		name := fmt.Sprintf("lost-%d", i)
		h := a.Registry.Holders(name)
		isVictim := len(h) == 2 && h[0] == a.Name && h[1] == b.Name
		if isVictim && len(victims) >= 20 || !isVictim && len(rest) >= 20 {
			continue
		}
		ref, err := nodes[i%3].Registry.Register(ctx, name, process.Spec{Kind: "counter"})
		if err != nil {
			t.Fatal(err)
		}
		if isVictim {
			victims, old[name] = append(victims, name), ref
		} else {
			rest = append(rest, name)
		}
	}
	waitConverged(t, 20*time.Second, nodes, append(append([]string(nil), victims...), rest...))

	a.CutLinks(b)
	before := a.Registry.Local()
	var wg sync.WaitGroup
	errs := make(chan error, len(victims))
	for _, name := range victims {
		wg.Go(func() {
			// It waits for the replica's acknowledgement: it returns
			// once the links are back.
			if err := a.Registry.Unregister(ctx, name); err != nil {
				errs <- err
			}
		})
	}
	waitCond(t, 10*time.Second, "the primary to end the names", func() bool {
		return a.Registry.Local() == before-len(victims)
	})
	clustertest.Heal(t, nodes...)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitConverged(t, 20*time.Second, nodes, rest)
	for _, name := range victims {
		ref, err := b.Registry.Register(ctx, name, process.Spec{Kind: "counter"})
		if err != nil {
			t.Fatal(err)
		}
		if ref == old[name] {
			t.Fatalf("register %s on the replica returned the unregistered process %v", name, ref)
		}
		if _, err := b.Registry.Call(ctx, name, "get"); err != nil {
			t.Fatalf("call %s after registering it again: %v", name, err)
		}
	}
}

// stayer is a counter that stays where it is when its name moves, unless
// its node is leaving.
type stayer struct{ counter }

func (s *stayer) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffStay}
}

// TestClusterStayersResolvedAfterNetsplit is problem 3: processes that
// answered Stay run off their partition's primary; a netsplit restarts
// them on the other side; after the heal exactly one process per name
// runs and every node finds the same one.
func TestClusterStayersResolvedAfterNetsplit(t *testing.T) {
	opts := clustertest.Options{Kinds: func() *process.Kinds {
		k := process.NewKinds()
		_ = k.Register("counter", func([]byte) (process.Behavior, error) { return &stayer{}, nil })
		return k
	}}
	// Every node holds every partition, so that each side of the split
	// knows every name.
	opts.Replicas = 3
	nodes := clustertest.StartCluster(t, 3, opts)
	names := make([]string, 300)
	for i := range names {
		names[i] = fmt.Sprintf("stay-%d", i)
	}
	registerAll(t, nodes, names)
	waitConverged(t, 20*time.Second, nodes, names)
	// A fourth node takes partitions over; their processes stay put.
	nodes = append(nodes, clustertest.Start(t, "n3@127.0.0.1", nodes[0].Cluster.Address(), opts))
	waitCond(t, 20*time.Second, "the fourth node synced", func() bool {
		for _, n := range nodes {
			if n.Registry.Synced() != nil {
				return false
			}
		}
		return true
	})
	stayed := 0
	for _, name := range names {
		if ref, err := nodes[0].Registry.Whereis(context.Background(), name); err == nil && ref.Node != nodes[0].Registry.Owner(name) {
			stayed++
		}
	}
	if stayed == 0 {
		t.Fatal("no process stayed off its primary: the test tests nothing")
	}
	t.Logf("%d of %d processes stayed off their primary", stayed, len(names))

	left, right := nodes[:2], nodes[2:]
	clustertest.Partition(left, right)
	waitCond(t, 20*time.Second, "each side to see the other gone", func() bool {
		for _, n := range nodes {
			if len(n.Cluster.Nodes()) != 1 {
				return false
			}
		}
		return true
	})
	waitOnePerName(t, 20*time.Second, left, names)
	waitOnePerName(t, 20*time.Second, right, names)
	clustertest.Heal(t, nodes...)
	healed := time.Now()
	waitOnePerName(t, 20*time.Second, nodes, names)
	t.Logf("one process per name, found alike by every node, %v after the heal", time.Since(healed).Round(time.Millisecond))
}

// waitOnePerName waits until the live nodes run exactly one process per
// name and each node's whereis finds it (stayers may run off their
// primary, so converged does not apply).
func waitOnePerName(t *testing.T, d time.Duration, live []*cnode, names []string) {
	t.Helper()
	ctx := context.Background()
	why := ""
	ok := func() bool {
		total := 0
		for _, n := range live {
			if err := n.Registry.Synced(); err != nil {
				why = fmt.Sprintf("%s: %v", n.Name, err)
				return false
			}
			total += n.Runtime.Len() - n.Registry.Systems()
		}
		if total != len(names) {
			why = fmt.Sprintf("%d processes for %d names", total, len(names))
			return false
		}
		for _, name := range names {
			var first process.Ref
			for i, n := range live {
				ref, err := n.Registry.Whereis(ctx, name)
				if err != nil {
					why = fmt.Sprintf("%s: %v", n.Name, err)
					return false
				}
				if i == 0 {
					first = ref
				} else if ref != first {
					why = fmt.Sprintf("%s: %s finds %v, %s finds %v", name, n.Name, ref, live[0].Name, first)
					return false
				}
			}
		}
		return true
	}
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not one process per name after %v: %s", d, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bigState carries a large state when handed off.
type bigState struct {
	counter
	blob []byte
}

func (s *bigState) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: s.blob}
}

func (s *bigState) EndHandoff(_ context.Context, _ process.Self, state any) error {
	b, ok := state.([]byte)
	if !ok {
		return fmt.Errorf("state is %T", state)
	}
	s.blob = b
	return nil
}

func (s *bigState) HandleCall(ctx context.Context, self process.Self, msg any) (any, error) {
	if msg == "size" {
		return len(s.blob), nil
	}
	return s.counter.HandleCall(ctx, self, msg)
}

// TestClusterLargeRecordsAndStates is problem 5: 400 names with 16 KB
// specs reach a joining node whole (and a call on the same links still
// works), and a node whose processes each hold 32 KB of state drains.
func TestClusterLargeRecordsAndStates(t *testing.T) {
	const blob = 32 << 10
	opts := clustertest.Options{Kinds: func() *process.Kinds {
		k := process.NewKinds()
		_ = k.Register("big", func(args []byte) (process.Behavior, error) {
			return &bigState{blob: make([]byte, blob)}, nil
		})
		return k
	}}
	// Four partitions, so that each partition's records (about 1.6 MB)
	// exceed a message (1 MiB): snapshots and gives go in chunks.
	opts.Partitions = 4
	nodes := clustertest.StartCluster(t, 2, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	names := make([]string, 400)
	for i := range names {
		names[i] = fmt.Sprintf("big-%d", i)
	}
	registerSpec(t, nodes, names, process.Spec{Kind: "big", Args: []byte(strings.Repeat("x", 16<<10))})
	third := clustertest.Start(t, "n2@127.0.0.1", nodes[0].Cluster.Address(), opts)
	nodes = append(nodes, third)
	joined := time.Now()
	waitConverged(t, 2*time.Minute, nodes, names)
	t.Logf("a joining node took its share of %d names with 16 KB specs in %v", len(names), time.Since(joined).Round(time.Millisecond))
	for _, name := range names[:50] {
		if v, err := third.Registry.Call(ctx, name, "size"); err != nil || v != blob {
			t.Fatalf("call %s from the new node = %v, %v; want its %d-byte state", name, v, err, blob)
		}
	}
	// The first node leaves: every process it runs moves with its state.
	leaving := nodes[0]
	moving := leaving.Registry.Local()
	began := time.Now()
	if err := leaving.Stop(ctx); err != nil {
		t.Fatalf("drain of %d processes with %d KB each: %v", moving, blob>>10, err)
	}
	t.Logf("drained %d processes with %d KB of state each in %v", moving, blob>>10, time.Since(began).Round(time.Millisecond))
	waitConverged(t, 2*time.Minute, nodes[1:], names)
	for _, name := range names {
		if v, err := nodes[1].Registry.Call(ctx, name, "size"); err != nil || v != blob {
			t.Fatalf("call %s after the drain = %v, %v; want its %d-byte state", name, v, err, blob)
		}
	}
}
