package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

// Issue 11, upgrades keep state: two builds of one kind whose state type
// differs hand states to each other during a rolling update.

// stateA is build A's state; stateB, build B's, gained a field (and a
// version: A's states migrate to it).
type stateA struct{ N int }

type stateB struct {
	N     int
	Since string // which build's state this one started from
}

// upgradeSeen counts what each build received.
type upgradeSeen struct {
	aFromB   atomic.Int64 // A started from a state B handed over
	bFromA   atomic.Int64 // B migrated a state of version 0 (A's)
	bFromB   atomic.Int64
	failures atomic.Int64
}

// counterA is build A's counter: state stateA, no version.
type counterA struct {
	counter
	seen *upgradeSeen
}

func (c *counterA) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: stateA{N: c.n}}
}

func (c *counterA) EndHandoff(_ context.Context, _ process.Self, state any) error {
	st, ok := state.(stateA)
	if !ok {
		c.seen.failures.Add(1)
		return fmt.Errorf("build A: state is %T", state)
	}
	c.n = st.N
	return nil
}

func (c *counterA) CheckpointState(context.Context, process.Self) any { return stateA{N: c.n} }

// StateVersion says A's states are of version 0 (before versions).
func (c *counterA) StateVersion() uint32 { return 0 }

// MigrateState takes a newer build's state as the codec read it (the
// fields A does not know skipped).
func (c *counterA) MigrateState(_ context.Context, from uint32, state any) (any, error) {
	if from == 2 {
		c.seen.aFromB.Add(1)
	}
	return state, nil
}

// counterB is build B's: state stateB, version 2.
type counterB struct {
	counter
	since string
	seen  *upgradeSeen
}

func (c *counterB) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: stateB{N: c.n, Since: c.since}}
}

func (c *counterB) StateVersion() uint32 { return 2 }

func (c *counterB) MigrateState(_ context.Context, from uint32, state any) (any, error) {
	st, ok := state.(stateB)
	if from != 0 || !ok {
		return nil, fmt.Errorf("build B: cannot migrate %T of version %d", state, from)
	}
	st.Since = "A"
	return st, nil
}

func (c *counterB) EndHandoff(_ context.Context, _ process.Self, state any) error {
	st, ok := state.(stateB)
	if !ok {
		c.seen.failures.Add(1)
		return fmt.Errorf("build B: state is %T", state)
	}
	if st.Since == "A" {
		c.seen.bFromA.Add(1)
	} else {
		c.seen.bFromB.Add(1)
	}
	c.n, c.since = st.N, st.Since
	return nil
}

func (c *counterB) CheckpointState(context.Context, process.Self) any {
	return stateB{N: c.n, Since: c.since}
}

// buildA and buildB are the node options of the two builds.
func buildA(seen *upgradeSeen, strict bool) clustertest.Options {
	return clustertest.Options{
		Kinds: func() *process.Kinds {
			k := process.NewKinds()
			_ = k.RegisterWith("counter", func([]byte) (process.Behavior, error) { return &counterA{seen: seen}, nil },
				process.KindOptions{Checkpoints: process.CheckpointSync})
			return k
		},
		Codec: func(t clustertest.T) *codec.Codec {
			c := codec.New()
			if strict {
				c = codec.NewStrict()
			}
			if err := codec.Register[stateA](c, "upgrade.state"); err != nil {
				t.Fatal(err)
			}
			return c
		},
	}
}

func buildB(seen *upgradeSeen) clustertest.Options {
	return clustertest.Options{
		Kinds: func() *process.Kinds {
			k := process.NewKinds()
			_ = k.RegisterWith("counter", func([]byte) (process.Behavior, error) { return &counterB{since: "B", seen: seen}, nil },
				process.KindOptions{Checkpoints: process.CheckpointSync})
			return k
		},
		Codec: func(t clustertest.T) *codec.Codec {
			c := codec.New()
			if err := codec.Register[stateB](c, "upgrade.state"); err != nil {
				t.Fatal(err)
			}
			return c
		},
	}
}

// TestRollingUpdateKeepsState rolls 3 nodes from build A to build B, one
// at a time (drain, stop, start the new build under the same name), one
// of them twice, so that states cross from A to B and from B to A; every
// count survives, and B sees A's states through its migration.
func TestRollingUpdateKeepsState(t *testing.T) {
	seen := &upgradeSeen{}
	nodes := clustertest.StartCluster(t, 3, buildA(seen, false))
	names := make([]string, 150)
	for i := range names {
		names[i] = fmt.Sprintf("up-%d", i)
	}
	registerAll(t, nodes, names)
	waitConverged(t, 30*time.Second, nodes, names)
	counts := map[string]int{}
	bumpAll(t, nodes[0], names, counts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Node 0 is rolled twice: its second drain hands B's states to the
	// A nodes.
	for step, i := range []int{0, 0, 1, 2} {
		if err := nodes[i].Stop(ctx); err != nil {
			t.Fatalf("step %d: stop %s: %v", step, nodes[i].Name, err)
		}
		join := nodes[(i+1)%3].Cluster.Address()
		nodes[i] = clustertest.Start(t, nodes[i].Name, join, buildB(seen))
		waitConverged(t, 60*time.Second, nodes, names)
		bumpAll(t, nodes[(i+1)%3], names, counts)
	}
	for _, name := range names {
		v, err := nodes[2].Registry.Call(ctx, name, "get")
		if err != nil {
			t.Fatal(err)
		}
		if v != counts[name] {
			t.Errorf("%s: count %v after the update, want %d", name, v, counts[name])
		}
	}
	t.Logf("states handed A to B (migrated) %d, B to A %d, B to B %d; refused %d",
		seen.bFromA.Load(), seen.aFromB.Load(), seen.bFromB.Load(), seen.failures.Load())
	if seen.bFromA.Load() == 0 || seen.aFromB.Load() == 0 || seen.failures.Load() != 0 {
		t.Fatalf("want states handed both ways and none refused")
	}
}

// TestUndecodableStateStaysPut: a strict build A cannot read build B's
// states (a field it does not know); a B node that drains cannot hand
// its processes to it, so they stay, counts intact, and the drain says
// so when its deadline passes.
func TestUndecodableStateStaysPut(t *testing.T) {
	seen := &upgradeSeen{}
	b := clustertest.Start(t, "n0@127.0.0.1", "", buildB(seen))
	a := clustertest.Start(t, "n1@127.0.0.1", b.Cluster.Address(), buildA(seen, true))
	nodes := []*cnode{b, a}
	waitCond(t, 20*time.Second, "membership", func() bool { return len(a.Cluster.Nodes()) == 1 && len(b.Cluster.Nodes()) == 1 })
	names := make([]string, 60)
	for i := range names {
		names[i] = fmt.Sprintf("stay-%d", i)
	}
	registerAll(t, nodes, names)
	waitConverged(t, 30*time.Second, nodes, names)
	counts := map[string]int{}
	bumpAll(t, a, names, counts)
	onB := placedOn(t, a, names, b.Name)
	if len(onB) == 0 {
		t.Fatal("no process on the B node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := b.Registry.Drain(ctx); err == nil {
		t.Fatal("drain handed B's states to a node that cannot read them")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("drain: %v", err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	for _, name := range onB {
		v, err := a.Registry.Call(cctx, name, "get")
		if err != nil {
			t.Fatal(err)
		}
		if v != counts[name] {
			t.Fatalf("%s: count %v, want %d (the state was dropped)", name, v, counts[name])
		}
	}
	t.Logf("%d processes stayed on the B node with their counts", len(onB))
}
