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

// queue is a chain of segments. Its zero value is empty.
type queue struct {
	head, tail *segment
	n          int
}

// push appends e, taking a segment from pool when the last is full.
func (q *queue) push(pool *segments, e envelope) {
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

// pop removes and returns the first envelope; the segments it empties go
// back to pool.
func (q *queue) pop(pool *segments) (envelope, bool) {
	h := q.head
	if h == nil {
		return envelope{}, false
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

// prepend puts front's envelopes before q's.
func (q *queue) prepend(front queue) {
	if front.n == 0 {
		return
	}
	if q.n == 0 {
		*q = front
		return
	}
	front.tail.next = q.head
	q.head = front.head
	q.n += front.n
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
