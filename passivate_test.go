package shoal_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/process"
)

// cartState is a cart: item -> quantity, and the log of what was added.
type cartState struct {
	Items map[string]int
	Log   []string
}

// addItem adds Qty of Item to a cart.
type addItem struct {
	Item string
	Qty  int
}

// fill adds one of each item to a cart.
type fill struct{ Items []string }

// cart is a process whose kind passivates: it gives its state
// (Checkpointer, BeginHandoff) and takes it back (EndHandoff). wakes
// counts the Behaviors made, passivated those that ended passivated.
type cart struct {
	st          cartState
	wakes       *atomic.Int64
	passivated  *atomic.Int64
	unpassivate *atomic.Int64 // ends for another reason
}

func (c *cart) Init(context.Context, process.Self) error {
	c.wakes.Add(1)
	c.st.Items = map[string]int{}
	return nil
}
func (c *cart) Terminate(_ context.Context, _ process.Self, reason error) {
	if errors.Is(reason, process.ErrPassivated) {
		c.passivated.Add(1)
	} else {
		c.unpassivate.Add(1)
	}
}
func (c *cart) HandleCall(_ context.Context, _ process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case addItem:
		c.st.Items[m.Item] += m.Qty
		c.st.Log = append(c.st.Log, m.Item)
	case fill:
		for _, it := range m.Items {
			c.st.Items[it]++
		}
	}
	total := 0
	for _, q := range c.st.Items {
		total += q
	}
	return total, nil
}
func (c *cart) HandleCast(context.Context, process.Self, any) {}
func (c *cart) HandleInfo(context.Context, process.Self, any) {}
func (c *cart) CheckpointState(context.Context, process.Self) any {
	return c.st
}
func (c *cart) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: c.st}
}
func (c *cart) EndHandoff(_ context.Context, _ process.Self, state any) error {
	st, ok := state.(cartState)
	if !ok {
		return fmt.Errorf("cart state is %T", state)
	}
	c.st = st
	return nil
}

// cartKinds is a kind table with "cart", checkpointing in sync mode and
// passivating after the given idle time.
func cartKinds(after time.Duration, wakes, passivated, other *atomic.Int64) *process.Kinds {
	kinds := process.NewKinds()
	_ = kinds.RegisterWith("cart", func([]byte) (process.Behavior, error) {
		return &cart{wakes: wakes, passivated: passivated, unpassivate: other}, nil
	}, process.KindOptions{
		Checkpoints:    process.CheckpointSync,
		PassivateAfter: after,
		State:          cartState{},
		Messages:       []any{addItem{}, fill{}},
	})
	return kinds
}

// TestPassivation: 300 carts activated on 3 nodes, each filled with 10
// calls, are all passivated once idle (their Behaviors end with
// ErrPassivated, the runtimes count them); every cart's next call wakes
// it with its whole state; passivated again, a node stopped hands its
// carts to the others with their state (a drain wakes them), and every
// cart still answers with its total.
func TestPassivation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wakes, passivated, other atomic.Int64
	nodes := startNodes(t, ctx, "p", 3, func(_ int, cfg *shoal.Config) {
		cfg.Kinds = cartKinds(200*time.Millisecond, &wakes, &passivated, &other)
	})
	const carts, adds = 300, 10
	spec := process.Spec{Kind: "cart"}
	name := func(i int) string { return fmt.Sprintf("cart-%d", i) }
	for i := range carts {
		for j := range adds {
			if _, err := nodes[(i+j)%3].Get(name(i), spec).Call(ctx, addItem{Item: fmt.Sprintf("item-%d", j%4), Qty: j + 1}); err != nil {
				t.Fatalf("%s: %v", name(i), err)
			}
		}
	}
	const total = adds * (adds + 1) / 2
	allPassivated := func(live []*shoal.Node, what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			n := 0
			for _, node := range live {
				n += node.Runtime().Passivated()
			}
			if n == carts {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d carts passivated", what, n, carts)
			}
			time.Sleep(20 * time.Millisecond) // polling period
		}
	}
	allPassivated(nodes, "idle after their calls")
	if w, p := wakes.Load(), passivated.Load(); w != carts || p != carts {
		t.Fatalf("after the first passivation: %d Behaviors made, %d ended passivated; want %d each", w, p, carts)
	}
	check := func(via []*shoal.Node, what string) {
		t.Helper()
		for i := range carts {
			v, err := via[i%len(via)].Get(name(i), spec).Call(ctx, "total")
			if err != nil || v != total {
				t.Fatalf("%s: %s: %v, %v; want %d", what, name(i), v, err, total)
			}
		}
	}
	check(nodes, "woken by a call")
	if w := wakes.Load(); w != 2*carts {
		t.Fatalf("%d Behaviors made after every cart was called once passivated; want %d", w, 2*carts)
	}
	allPassivated(nodes, "idle again")

	// A drain wakes the passivated carts and hands them over.
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	defer stopCancel()
	if err := nodes[0].Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	moved := wakes.Load() - 2*carts // woken on the stopped node, then made on another
	check(nodes[1:], "after a node with passivated carts stopped")
	if moved == 0 {
		t.Fatal("the stopped node handed off no cart")
	}
	t.Logf("checked: %d carts passivated twice, woken by calls, and by a drain that moved about %d; %d Behaviors made in all",
		carts, moved/2, wakes.Load())
}

// TestPassivationFreesMemory: a node's heap after its carts are
// passivated, against while they are awake, for carts whose maps hold
// 200 items: what passivation frees.
func TestPassivationFreesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a node with 2,000 large carts")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wakes, passivated, other atomic.Int64
	nodes := startNodes(t, ctx, "m", 1, func(_ int, cfg *shoal.Config) {
		cfg.Kinds = cartKinds(4*time.Second, &wakes, &passivated, &other)
	})
	const carts, items = 2000, 200
	spec := process.Spec{Kind: "cart"}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	list := make([]string, items)
	for j := range list {
		list[j] = strings.Repeat("x", 8) + fmt.Sprint(j)
	}
	base := heap()
	// Fill the carts (each awake after its call).
	for i := range carts {
		h := nodes[0].Get(fmt.Sprintf("big-%d", i), spec)
		if _, err := h.Call(ctx, fill{Items: list}); err != nil {
			t.Fatal(err)
		}
	}
	// Every cart called again, so that all are awake.
	for i := range carts {
		if _, err := nodes[0].Get(fmt.Sprintf("big-%d", i), spec).Call(ctx, "total"); err != nil {
			t.Fatal(err)
		}
	}
	awake := heap()
	if n := nodes[0].Runtime().Passivated(); n != 0 {
		t.Logf("%d carts passivated while filling (slow run); the figures below undercount", n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for nodes[0].Runtime().Passivated() != carts {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d carts passivated", nodes[0].Runtime().Passivated(), carts)
		}
		time.Sleep(50 * time.Millisecond) // polling period
	}
	asleep := heap()
	perAwake := float64(awake-base) / carts
	perAsleep := float64(asleep-base) / carts
	t.Logf("measured: heap per cart of %d items: %.0f B awake, %.0f B passivated (%.0f%% freed; what stays is the stored checkpoint the registry keeps anyway)",
		items, perAwake, perAsleep, 100*(1-perAsleep/perAwake))
	if perAsleep > 0.8*perAwake {
		t.Fatalf("passivation freed too little: %.0f B per cart awake, %.0f B passivated", perAwake, perAsleep)
	}
}

// TestPassivationNeedsDeclaredState: a kind that passivates without
// declaring its state type is refused at start, naming the kind and the
// field.
func TestPassivationNeedsDeclaredState(t *testing.T) {
	kinds := process.NewKinds()
	_ = kinds.RegisterWith("cart", func([]byte) (process.Behavior, error) { return &cart{}, nil },
		process.KindOptions{PassivateAfter: time.Second})
	n, err := shoal.Start(context.Background(), shoal.Config{Name: "alone@127.0.0.1", Kinds: kinds})
	if err == nil {
		n.Kill()
		t.Fatal("a kind that passivates without KindOptions.State was accepted")
	}
	if !errors.Is(err, process.ErrInvalid) || !strings.Contains(err.Error(), `kind "cart"`) || !strings.Contains(err.Error(), "KindOptions.State") {
		t.Fatalf("start: %v; want ErrInvalid naming the kind and KindOptions.State", err)
	}
}
