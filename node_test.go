package shoal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// TestStartNamesTheField: each unusable Config is refused at Start with
// an error wrapping ErrInvalidConfig and naming the field.
func TestStartNamesTheField(t *testing.T) {
	good := shoal.Config{Name: "a@127.0.0.1", Secret: "0123456789abcdef0123"}
	cases := []struct {
		field string
		edit  func(*shoal.Config)
	}{
		{"Config.Name", func(c *shoal.Config) { c.Name = "" }},
		{"Config.Name", func(c *shoal.Config) { c.Name = "a b@127.0.0.1" }},
		{"Config.Addr", func(c *shoal.Config) { c.Addr = "localhost" }},
		{"Config.Port", func(c *shoal.Config) { c.Port = 70000 }},
		{"Config.LinkPort", func(c *shoal.Config) { c.LinkPort = -1 }},
		{"Config.LinkPort", func(c *shoal.Config) { c.Port, c.LinkPort = 7000, 7000 }},
		{"Config.ProbeInterval", func(c *shoal.Config) { c.ProbeInterval = time.Millisecond }},
		{"Config.Quorum", func(c *shoal.Config) { c.Quorum = -1 }},
		{"Config.Partitions", func(c *shoal.Config) { c.Partitions = -2 }},
		{"Config.DrainTimeout", func(c *shoal.Config) { c.DrainTimeout = -time.Second }},
		{"Config.Join[1]", func(c *shoal.Config) { c.Join = []string{"127.0.0.1:1", "nohost"} }},
		{"Config.Discovery[0]", func(c *shoal.Config) { c.Discovery = make([]discoveryStrategy, 1) }},
		{"Config.Secret", func(c *shoal.Config) { c.Secret = "short" }},
		{"Config.Secret", func(c *shoal.Config) { c.Secret, c.Join = "", []string{"127.0.0.1:7946"} }},
	}
	for _, tc := range cases {
		cfg := good
		tc.edit(&cfg)
		n, err := shoal.Start(context.Background(), cfg)
		if err == nil {
			n.Kill()
			t.Errorf("%s: Start accepted %+v", tc.field, cfg)
			continue
		}
		if !errors.Is(err, shoal.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v, want an ErrInvalidConfig naming %s", tc.field, err, tc.field)
		}
	}
}

// TestJoinThatFindsNobodyFails: a Config.Join whose nodes do not answer
// fails Start, naming the setting, and leaves nothing running.
func TestJoinThatFindsNobodyFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nobody := freeAddr(t)
	_, err := shoal.Start(ctx, shoal.Config{Name: "a@127.0.0.1", Secret: "0123456789abcdef0123", Join: []string{nobody}})
	if err == nil || !strings.Contains(err.Error(), "Config.Join") {
		t.Fatalf("Start joining %s, where nobody listens: %v, want an error naming Config.Join", nobody, err)
	}
}

// TestNodeLifecycle: three nodes started by the front door form a cluster,
// serve names from every node, and a graceful Stop hands the stopped
// node's processes with their state to the others within its budget.
func TestNodeLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startNodes(t, ctx, "n", 3, func(_ int, cfg *shoal.Config) { cfg.Kinds = counterKinds() })
	const names = 60
	for i := range names {
		name := fmt.Sprintf("c%d", i)
		if _, err := nodes[i%3].Register(ctx, name, process.Spec{Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
		if err := nodes[(i+1)%3].Cast(ctx, name, "inc"); err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[(i+1)%3].Call(ctx, name, "get"); err != nil {
			t.Fatal(err)
		}
	}
	stopped := nodes[2]
	start := time.Now()
	if err := stopped.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(start))
	if err := stopped.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	stopped.Kill() // after Stop: nothing
	for i := range names {
		name := fmt.Sprintf("c%d", i)
		n, err := nodes[i%2].Call(ctx, name, "get")
		if err != nil || n != 1 {
			t.Fatalf("%s after its node stopped: %v, %v; want 1", name, n, err)
		}
		ref, err := nodes[0].Whereis(ctx, name)
		if err != nil || ref.Node == stopped.Name() {
			t.Fatalf("%s is at %v (%v) after %s stopped", name, ref, err, stopped.Name())
		}
	}
	if _, err := nodes[0].Whereis(ctx, "nobody"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Whereis of a name never registered: %v, want ErrNotFound", err)
	}
}

// TestWaitReadySaysWhatIsMissing: WaitReady with a context that ends
// before the node is ready says what the node still waits for.
func TestWaitReadySaysWhatIsMissing(t *testing.T) {
	n, err := shoal.Start(context.Background(), shoal.Config{
		Name: "a@127.0.0.1", Secret: "0123456789abcdef0123",
		Discovery: []discoveryStrategy{never{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = n.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "never") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady: %v, want the strategy named and the deadline", err)
	}
}
