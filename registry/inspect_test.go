package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// gate counts what it handles and describes itself; a call "wait" holds
// it until release is closed (saying so on entered).
type gate struct {
	entered chan<- struct{}
	release <-chan struct{}
	n       int
}

func (g *gate) HandleCall(_ context.Context, _ process.Self, msg any) (any, error) {
	if msg == "wait" {
		g.entered <- struct{}{}
		<-g.release
	}
	g.n++
	return g.n, nil
}
func (g *gate) HandleCast(context.Context, process.Self, any) { g.n++ }
func (g *gate) HandleInfo(context.Context, process.Self, any) {}
func (g *gate) Describe() string                              { return fmt.Sprintf("passed %d", g.n) }

// TestInspect asks every node of 3 about a name that runs on one of
// them: where, kind, groups, generation, incarnation, mailbox and the
// process's own summary, asked in its turn (and not waited for past the
// inspection's bound while the process is busy).
func TestInspect(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	kinds := func() *process.Kinds {
		k := counterKinds()
		_ = k.Register("gate", func([]byte) (process.Behavior, error) { return &gate{entered: entered, release: release}, nil })
		return k
	}
	nodes := clustertest.StartCluster(t, 3, clustertest.Options{Kinds: kinds})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r0 := nodes[0].Registry
	if _, err := r0.Register(ctx, "g-1", process.Spec{Kind: "gate"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r0.Register(ctx, "c-1", process.Spec{Kind: "counter"}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"b", "a"} {
		if err := r0.Join(ctx, g, "g-1"); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := r0.Cast(ctx, "g-1", "x"); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := r0.Call(ctx, "g-1", "x"); err != nil || v != 3 {
		t.Fatalf("call g-1 = %v, %v", v, err)
	}
	ref, err := r0.Whereis(ctx, "g-1")
	if err != nil {
		t.Fatal(err)
	}
	var owner *cnode
	for _, n := range nodes {
		if n.Name == ref.Node {
			owner = n
		}
	}
	for _, n := range nodes {
		in, err := n.Registry.Inspect(ctx, "g-1")
		if err != nil {
			t.Fatalf("inspect from %s: %v", n.Name, err)
		}
		want := registry.Inspection{Name: "g-1", Ref: ref, Kind: "gate", Groups: []string{"a", "b"},
			Incarnation: owner.Cluster.Incarnation(), Summary: "passed 3", Described: true}
		if in.Name != want.Name || in.Ref != want.Ref || in.Kind != want.Kind || !slices.Equal(in.Groups, want.Groups) ||
			in.Incarnation != want.Incarnation || in.Mailbox != 0 || in.Summary != want.Summary || !in.Described || in.DescribeError != "" {
			t.Fatalf("inspect from %s = %+v, want %+v", n.Name, in, want)
		}
		c, err := n.Registry.Inspect(ctx, "c-1")
		if err != nil || c.Kind != "counter" || c.Described || c.Summary != "" {
			t.Fatalf("inspect c-1 from %s = %+v, %v (a counter does not describe itself)", n.Name, c, err)
		}
		if _, err := n.Registry.Inspect(ctx, "nobody"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("inspect nobody from %s: %v, want ErrNotFound", n.Name, err)
		}
	}

	// Busy: the mailbox shows, the summary is not waited for forever.
	waited := make(chan error, 1)
	go func() {
		_, err := r0.Call(ctx, "g-1", "wait")
		waited <- err
	}()
	// The casts come after the process took the call (what a process has
	// taken from its mailbox in one batch is not counted as waiting).
	<-entered
	for range 5 {
		if err := r0.Cast(ctx, "g-1", "x"); err != nil {
			t.Fatal(err)
		}
	}
	var asker *cnode
	for _, n := range nodes {
		if n != owner {
			asker = n
		}
	}
	var in registry.Inspection
	// (An inspection that gave up waiting leaves its question queued
	// too, to be skipped: the count grows by one with each.)
	clustertest.Eventually(t, 10*time.Second, "5 messages in the busy process's mailbox", func() bool {
		in, err = asker.Registry.Inspect(ctx, "g-1")
		return err == nil && in.Mailbox >= 5
	})
	if !in.Described || in.Summary != "" || !strings.Contains(in.DescribeError, "deadline exceeded") {
		t.Fatalf("inspect of a busy process = %+v: want its mailbox and a describe error saying it did not answer in time", in)
	}
	close(release)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 10*time.Second, "the process done with its mailbox", func() bool {
		in, err = asker.Registry.Inspect(ctx, "g-1")
		return err == nil && in.Summary == "passed 9" && in.Mailbox == 0
	})
}

// TestDrainNode drains one node of 3 from another: its processes move
// (the generation of their names grows), it runs none and says it
// drains; draining a stranger fails.
func TestDrainNode(t *testing.T) {
	nodes := startCCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	for i := range 30 {
		name := fmt.Sprintf("d-%d", i)
		if _, err := nodes[0].Registry.Register(ctx, name, process.Spec{Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	victim := nodes[2]
	var on []string
	for _, name := range names {
		if ref, err := nodes[0].Registry.Whereis(ctx, name); err != nil {
			t.Fatal(err)
		} else if ref.Node == victim.Name {
			on = append(on, name)
		}
	}
	if len(on) == 0 {
		t.Fatalf("no name of %d on %s", len(names), victim.Name)
	}
	if err := nodes[0].Registry.DrainNode(ctx, victim.Name); err != nil {
		t.Fatalf("drain %s: %v", victim.Name, err)
	}
	if n := victim.Registry.Local(); n != 0 {
		t.Fatalf("%s runs %d registered processes after its drain", victim.Name, n)
	}
	if err := victim.Registry.Synced(); !errors.Is(err, registry.ErrDraining) {
		t.Fatalf("Synced of the drained node = %v, want ErrDraining", err)
	}
	for _, name := range on {
		in, err := nodes[1].Registry.Inspect(ctx, name)
		if err != nil || in.Ref.Node == victim.Name || in.Generation == 0 {
			t.Fatalf("inspect %s after the drain = %+v, %v: want it elsewhere, generation > 0", name, in, err)
		}
	}
	for _, name := range names {
		if _, err := nodes[0].Registry.Call(ctx, name, "get"); err != nil {
			t.Fatalf("call %s after the drain: %v", name, err)
		}
	}
	if err := nodes[0].Registry.DrainNode(ctx, "stranger@nowhere"); err == nil || !strings.Contains(err.Error(), "not a live member") {
		t.Fatalf("drain a stranger: %v", err)
	}
}
