package shoal_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

// counter is a process kind: it counts the casts it gets, answers a call
// with its count, and takes its count along when its name moves.
type counter struct{ n int }

func (c *counter) HandleCall(context.Context, process.Self, any) (any, error) { return c.n, nil }
func (c *counter) HandleCast(context.Context, process.Self, any)              { c.n++ }
func (c *counter) HandleInfo(context.Context, process.Self, any)              {}

func (c *counter) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: c.n}
}

func (c *counter) EndHandoff(_ context.Context, _ process.Self, state any) error {
	c.n = state.(int)
	return nil
}

// counterKinds is each node's kind table: the same kinds on every node.
func counterKinds() *process.Kinds {
	kinds := process.NewKinds()
	_ = kinds.Register("counter", func([]byte) (process.Behavior, error) { return &counter{}, nil })
	return kinds
}

// Three nodes in one process, on loopback: a name registered from one
// node is reached from every node, and keeps its state when the node that
// runs it stops.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var nodes []*shoal.Node
	for i := range 3 {
		cfg := shoal.Config{
			Name:   fmt.Sprintf("app%d@127.0.0.1", i),
			Secret: "a secret every node shares",
			Kinds:  counterKinds(),
			Codec:  codec.New(),
		}
		if i > 0 {
			cfg.Join = []string{nodes[0].Address()}
		}
		node, err := shoal.Start(ctx, cfg)
		if err != nil {
			log.Fatal(err)
		}
		defer node.Stop(context.Background())
		nodes = append(nodes, node)
	}
	for _, node := range nodes {
		if err := node.WaitReady(ctx); err != nil {
			log.Fatal(err)
		}
	}

	if _, err := nodes[0].Register(ctx, "visits", process.Spec{Kind: "counter"}); err != nil {
		log.Fatal(err)
	}
	for _, node := range nodes { // one hit from each node
		_ = node.Cast(ctx, "visits", "hit")
		_, _ = node.Call(ctx, "visits", "get") // after the cast: one sender's messages keep their order
	}
	ref, _ := nodes[1].Whereis(ctx, "visits")
	for _, node := range nodes { // stop the node that runs it
		if node.Name() == ref.Node {
			_ = node.Stop(ctx)
		}
	}
	for _, node := range nodes {
		if node.Name() != ref.Node {
			n, err := node.Call(ctx, "visits", "get")
			fmt.Println(n, err)
		}
	}
	// Output:
	// 3 <nil>
	// 3 <nil>
}
