package shoal_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/process"
)

// activated counts its calls; its Init counts activations by name.
type activated struct {
	inits *sync.Map // name -> *atomic.Int32
	calls int
}

func (a *activated) Init(_ context.Context, self process.Self) error {
	c, _ := a.inits.LoadOrStore(self.Name(), new(atomic.Int32))
	c.(*atomic.Int32).Add(1)
	return nil
}
func (a *activated) HandleCall(_ context.Context, _ process.Self, msg any) (any, error) {
	if msg != "count" {
		a.calls++
	}
	return a.calls, nil
}
func (a *activated) HandleCast(context.Context, process.Self, any) { a.calls++ }
func (a *activated) HandleInfo(context.Context, process.Self, any) {}

// TestActivationRace: 8 callers on 3 nodes race through the same 1,000
// names no one registered; each name is activated exactly once,
// cluster-wide, and every message is delivered to it.
func TestActivationRace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var inits sync.Map
	nodes := startNodes(t, ctx, "v", 3, func(_ int, cfg *shoal.Config) {
		cfg.Kinds = process.NewKinds()
		_ = cfg.Kinds.Register("activated", func([]byte) (process.Behavior, error) { return &activated{inits: &inits}, nil })
	})
	const callers, names = 8, 1000
	spec := process.Spec{Kind: "activated"}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		node := nodes[c%len(nodes)]
		wg.Go(func() {
			for i := range names {
				name := fmt.Sprintf("v-%d", (i+c*names/callers)%names) // each caller starts elsewhere
				var err error
				if c%2 == 0 {
					_, err = node.Get(name, spec).Call(ctx, "hit")
				} else {
					err = node.Get(name, spec).Cast(ctx, "hit")
				}
				if err != nil {
					errs <- fmt.Errorf("caller %d on %s, %s: %w", c, node.Name(), name, err)
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
	for i := range names {
		name := fmt.Sprintf("v-%d", i)
		c, ok := inits.Load(name)
		if !ok || c.(*atomic.Int32).Load() != 1 {
			n := int32(0)
			if ok {
				n = c.(*atomic.Int32).Load()
			}
			t.Fatalf("%s activated %d times, want 1", name, n)
		}
		// Casts are not waited for: poll until the 8 messages are in.
		deadline := time.Now().Add(10 * time.Second)
		for {
			v, err := nodes[i%3].Call(ctx, name, "count")
			if err == nil && v == callers {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v, %v; want %d messages", name, v, err, callers)
			}
			time.Sleep(5 * time.Millisecond) // polling period
		}
	}
}

// TestHandleWithoutRegistry: a handle on a node without a registry says
// so.
func TestHandleWithoutRegistry(t *testing.T) {
	n, err := shoal.Start(context.Background(), shoal.Config{Name: "bare@127.0.0.1"}, shoal.WithoutRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Kill()
	if _, err := n.Get("x", process.Spec{Kind: "k"}).Call(context.Background(), "hi"); !errors.Is(err, shoal.ErrNoRegistry) {
		t.Fatalf("call through a handle without a registry: %v", err)
	}
}
