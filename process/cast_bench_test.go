package process_test

import (
	"context"
	"sync"
	"testing"

	"github.com/shoalhq/shoal/process"
)

// castCounter counts casts and closes done at want.
type castCounter struct {
	n, want int
	done    chan struct{}
}

func (c *castCounter) HandleCall(context.Context, process.Self, any) (any, error) { return nil, nil }
func (c *castCounter) HandleCast(context.Context, process.Self, any) {
	if c.n++; c.n == c.want {
		close(c.done)
	}
}
func (c *castCounter) HandleInfo(context.Context, process.Self, any) {}

// BenchmarkCast casts from 1 or 8 senders to one process: the cost of a
// mailbox append and of handling, per message.
func BenchmarkCast(b *testing.B) {
	for _, senders := range []int{1, 8} {
		b.Run(map[int]string{1: "1to1", 8: "8to1"}[senders], func(b *testing.B) {
			rt, err := process.NewRuntime(process.Config{Node: "a@h"}, process.NewKinds())
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Shutdown(context.Background())
			per := max(b.N/senders, 1)
			c := &castCounter{want: per * senders, done: make(chan struct{})}
			p, err := rt.Start(context.Background(), c, process.SpawnOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			for range senders {
				wg.Go(func() {
					for range per {
						if err := p.Cast(struct{}{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			<-c.done
		})
	}
}
