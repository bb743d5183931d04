package process_test

import (
	"context"
	"fmt"

	"github.com/shoalhq/shoal/process"
)

// counter counts casts and answers calls with its count.
type counter struct{ n int }

func (c *counter) HandleCall(context.Context, process.Self, any) (any, error) { return c.n, nil }
func (c *counter) HandleCast(context.Context, process.Self, any)              { c.n++ }
func (c *counter) HandleInfo(context.Context, process.Self, any)              {}

func Example() {
	kinds := process.NewKinds()
	_ = kinds.Register("counter", func([]byte) (process.Behavior, error) { return &counter{}, nil })
	rt, _ := process.NewRuntime(process.Config{Node: "app@127.0.0.1"}, kinds)
	defer rt.Shutdown(context.Background())

	ctx := context.Background()
	p, _ := rt.Spawn(ctx, process.Spec{Kind: "counter"}, process.SpawnOptions{Name: "c"})
	_ = p.Cast("inc")
	_ = p.Cast("inc")
	n, _ := p.Call(ctx, "get") // handled after both casts: same sender, in order
	fmt.Println(n)
	// Output: 2
}
