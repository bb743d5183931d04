package process

import (
	"math/rand/v2"
	"testing"
)

// TestQueueKeepsOrder drives a queue with random pushes, pops, takes and
// prepends against a slice, across segment boundaries, and checks the
// order, the count, and that no segment keeps an envelope it gave up.
func TestQueueKeepsOrder(t *testing.T) {
	pool := newSegments()
	for seed := range uint64(50) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		var q queue
		var model []int
		next := 0
		for range 5000 {
			switch op := rnd.IntN(10); {
			case op < 4: // push a run
				for range rnd.IntN(3 * largeSegment) {
					q.push(pool, envelope{msg: next})
					model = append(model, next)
					next++
				}
			case op < 5: // a run settled from the inbox, in its nodes
				if k := rnd.IntN(2 * largeSegment); k > 0 {
					first := &inNode{e: envelope{msg: next}}
					last := first
					for i := 1; i < k; i++ {
						last.next = &inNode{e: envelope{msg: next + i}}
						last = last.next
					}
					q.appendNodes(first, last, k)
					for i := range k {
						model = append(model, next+i)
					}
					next += k
				}
			case op < 8: // pop a few
				for range rnd.IntN(2 * largeSegment) {
					e, ok := q.pop(pool)
					if !ok {
						if len(model) != 0 {
							t.Fatalf("seed %d: pop found nothing, %d wait", seed, len(model))
						}
						break
					}
					if len(model) == 0 || e.msg != model[0] {
						t.Fatalf("seed %d: popped %v, want %v", seed, e.msg, model[:min(1, len(model))])
					}
					model = model[1:]
				}
			case op < 9: // take all, pop some of it, prepend the rest (a pause)
				batch := q.take()
				if q.n != 0 || q.head != nil || q.tail != nil || q.first != nil || q.last != nil {
					t.Fatalf("seed %d: take left %d", seed, q.n)
				}
				k := rnd.IntN(batch.n + 1)
				for range k {
					e, _ := batch.pop(pool)
					if e.msg != model[0] {
						t.Fatalf("seed %d: batch popped %v, want %v", seed, e.msg, model[0])
					}
					model = model[1:]
				}
				for range rnd.IntN(20) { // arrivals during the pause
					if rnd.IntN(2) == 0 {
						q.push(pool, envelope{msg: next})
					} else {
						n := &inNode{e: envelope{msg: next}}
						q.appendNodes(n, n, 1)
					}
					next++
				}
				// The arrivals go after the batch's rest.
				var arrivals []int
				for i := range q.n {
					arrivals = append(arrivals, next-q.n+i)
				}
				q.prepend(pool, batch.take())
				model = append(model[:len(model):len(model)], arrivals...)
			default: // drain
				got := q.drain(pool)
				if len(got) != len(model) {
					t.Fatalf("seed %d: drained %d, want %d", seed, len(got), len(model))
				}
				for i, e := range got {
					if e.msg != model[i] {
						t.Fatalf("seed %d: drained %v at %d, want %v", seed, e.msg, i, model[i])
					}
				}
				model = nil
			}
			if q.n != len(model) {
				t.Fatalf("seed %d: count %d, want %d", seed, q.n, len(model))
			}
		}
	}
}
