package process

import "sync"

// A process's mailbox is a queue of envelopes in a chain of fixed-size
// segments: senders append under the process's lock, and the process
// takes the whole chain at once and handles it without the lock. A
// burst grows the chain a segment at a time, so an append never copies
// what waits (a growing slice did, under the lock, and its old arrays
// went back to the allocator in the millions), and the segments of a
// drained chain go back to the runtime's pools. The first segment of a
// chain is small (most mailboxes hold a message or two at a time), the
// next ones large. An idle process holds no segment.

const (
	smallSegment = 8
	largeSegment = 128
)

// segment is one link of a queue.
type segment struct {
	next *segment
	r, w int // envelopes [r, w) of buf wait
	buf  []envelope
}

// segments are a runtime's pools of empty segments, one per size.
type segments struct {
	small, large sync.Pool
}

func newSegments() *segments {
	s := &segments{}
	s.small.New = func() any { return &segment{buf: make([]envelope, smallSegment)} }
	s.large.New = func() any { return &segment{buf: make([]envelope, largeSegment)} }
	return s
}

// put returns an emptied segment to its pool.
func (s *segments) put(g *segment) {
	g.next, g.r, g.w = nil, 0, 0
	if len(g.buf) == smallSegment {
		s.small.Put(g)
	} else {
		s.large.Put(g)
	}
}

// queue is a chain of segments, then a list of inbox nodes (inbox.go):
// the messages moved from the inbox are kept in the nodes they were
// pushed in rather than copied. Its zero value is empty.
type queue struct {
	head, tail  *segment
	first, last *inNode // after the segments
	n           int
}

// push appends e, taking a segment from pool when the last is full.
func (q *queue) push(pool *segments, e envelope) {
	if q.last != nil { // after the nodes, in a node of its own
		n := &inNode{e: e}
		q.last.next, q.last = n, n
		q.n++
		return
	}
	t := q.tail
	if t == nil || t.w == len(t.buf) {
		var g *segment
		if t == nil {
			g = pool.small.Get().(*segment)
		} else {
			g = pool.large.Get().(*segment)
		}
		if t == nil {
			q.head = g
		} else {
			t.next = g
		}
		q.tail, t = g, g
	}
	t.buf[t.w] = e
	t.w++
	q.n++
}

// appendNodes appends the list first..last of n nodes, in order.
func (q *queue) appendNodes(first, last *inNode, n int) {
	if q.last == nil {
		q.first = first
	} else {
		q.last.next = first
	}
	q.last = last
	q.n += n
}

// pop removes and returns the first envelope; the segments it empties go
// back to pool.
func (q *queue) pop(pool *segments) (envelope, bool) {
	h := q.head
	if h == nil {
		f := q.first
		if f == nil {
			return envelope{}, false
		}
		q.first = f.next
		if q.first == nil {
			q.last = nil
		}
		q.n--
		return f.e, true
	}
	e := h.buf[h.r]
	h.buf[h.r] = envelope{}
	h.r++
	q.n--
	if h.r == h.w { // consumed: the next segment, if any, is the head
		q.head = h.next
		if q.head == nil {
			q.tail = nil
		}
		pool.put(h)
	}
	return e, true
}

// take moves every envelope of q into a queue it returns, leaving q
// empty.
func (q *queue) take() queue {
	out := *q
	*q = queue{}
	return out
}

// prepend puts front's envelopes before q's (a rare path: a pause).
func (q *queue) prepend(pool *segments, front queue) {
	if front.n == 0 {
		return
	}
	if q.n == 0 {
		*q = front
		return
	}
	if front.last == nil && q.first == nil {
		front.tail.next = q.head
		q.head = front.head
		q.n += front.n
		return
	}
	all := append(front.drain(pool), q.drain(pool)...)
	for _, e := range all {
		q.push(pool, e)
	}
}

// drain removes every envelope, in order, into a slice (the rare paths:
// exit, forward), and returns the segments to pool.
func (q *queue) drain(pool *segments) []envelope {
	if q.n == 0 {
		return nil
	}
	out := make([]envelope, 0, q.n)
	for {
		e, ok := q.pop(pool)
		if !ok {
			return out
		}
		out = append(out, e)
	}
}
