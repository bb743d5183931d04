package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// fakeMembership is a cluster of one, made by hand: the registry's
// Membership is an interface a test can give it.
type fakeMembership struct{ events chan cluster.Event }

func (fakeMembership) Name() string        { return "fake@127.0.0.1" }
func (fakeMembership) Nodes() []string     { return nil }
func (fakeMembership) Incarnation() uint64 { return 7 }
func (m fakeMembership) Members() []cluster.Member {
	return []cluster.Member{{Name: "fake@127.0.0.1", Status: cluster.StatusAlive, Self: true, Incarnation: 7}}
}
func (m fakeMembership) Subscribe() cluster.Subscription { return fakeSub(m) }

type fakeSub fakeMembership

func (s fakeSub) Events() <-chan cluster.Event { return s.events }
func (fakeSub) Close()                         {}

// TestFakeMembership: a cluster-wide registry runs on a membership a test
// built, without a network.
func TestFakeMembership(t *testing.T) {
	kinds := process.NewKinds()
	if err := kinds.Register("counter", func([]byte) (process.Behavior, error) { return &counter{}, nil }); err != nil {
		t.Fatal(err)
	}
	rt, err := process.NewRuntime(process.Config{Node: "fake@127.0.0.1"}, kinds)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	reg, err := registry.New(registry.Config{Cluster: fakeMembership{events: make(chan cluster.Event)}, Codec: codec.New()}, rt)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for reg.Synced() != nil {
		if ctx.Err() != nil {
			t.Fatalf("never synced: %v", reg.Synced())
		}
		time.Sleep(10 * time.Millisecond) // polling period
	}
	if _, err := reg.Register(ctx, "c", process.Spec{Kind: "counter"}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Cast(ctx, "c", "inc"); err != nil {
		t.Fatal(err)
	}
	if v, err := reg.Call(ctx, "c", "get"); err != nil || v != 1 {
		t.Fatalf("call: %v, %v", v, err)
	}
}
