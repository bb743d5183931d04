package registry_test

import (
	"context"
	"fmt"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

func Example() {
	kinds := process.NewKinds()
	_ = kinds.Register("counter", func([]byte) (process.Behavior, error) { return &counter{}, nil })
	rt, _ := process.NewRuntime(process.Config{Node: "app@127.0.0.1"}, kinds)
	defer rt.Shutdown(context.Background())
	reg, _ := registry.New(registry.DefaultConfig(), rt)

	ctx := context.Background()
	first, _ := reg.Register(ctx, "counter-1", process.Spec{Kind: "counter"})
	again, _ := reg.Register(ctx, "counter-1", process.Spec{Kind: "counter"})
	fmt.Println("same process:", first == again)

	_, _ = reg.Call(ctx, "counter-1", "inc")
	_ = reg.Join(ctx, "counters", "counter-1")
	replies, _ := reg.MultiCall(ctx, "counters", "get")
	fmt.Println(replies[0].Name, replies[0].Value)
	// Output:
	// same process: true
	// counter-1 1
}
