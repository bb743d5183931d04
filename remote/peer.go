package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/transport"
)

// The outgoing side: one peer per node this node sends to, with its
// bounded queue and the goroutine that dials the node's link and writes
// the queue to it, in order, in batches, with a heartbeat when idle.

// enqueue hands a frame to the outgoing link to node, creating it (and its
// writer) on first use. A full queue makes it wait for room, within ctx
// (nil: SendTimeout).
func (r *Remote) enqueue(ctx context.Context, node string, frame []byte) error {
	if node == r.node {
		return fmt.Errorf("%w: %s is this node", ErrUnreachable, node)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	p := r.peers[node]
	if p == nil {
		p = &peer{r: r, node: node, wake: make(chan struct{}, 1), done: make(chan struct{}), n: r.countersLocked(node)}
		r.peers[node] = p
		r.wg.Add(1)
		go p.run()
	}
	r.mu.Unlock()
	return p.push(ctx, frame)
}

// peer is the outgoing link to one node, with its queue and writer.
type peer struct {
	r    *Remote
	node string
	n    *peerCounters
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	q      [][]byte
	qBytes int           // the memory q holds (frameCost)
	room   chan struct{} // closed when q has room again
	link   *transport.Link
	closed bool
}

// push queues frame, waiting for room while the queue holds MaxQueue
// bytes (a frame larger than that goes alone into an empty queue).
func (p *peer) push(ctx context.Context, frame []byte) error {
	p.mu.Lock()
	var timer *time.Timer
	cost := frameCost(frame)
	for !p.closed && len(p.q) > 0 && p.qBytes+cost > p.r.maxQueue {
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.mu.Unlock()
		var expired <-chan struct{}
		if ctx != nil {
			expired = ctx.Done()
		} else if timer == nil {
			timer = time.NewTimer(p.r.sendTimeout)
			defer timer.Stop()
		}
		var timeout <-chan time.Time
		if timer != nil {
			timeout = timer.C
		}
		select {
		case <-room:
		case <-expired:
			return fmt.Errorf("%w: %s: %d bytes waiting: %w", ErrQueueFull, p.node, p.r.maxQueue, ctx.Err())
		case <-timeout:
			return fmt.Errorf("%w: %s: %d bytes waiting for %v (the node or the network takes messages slower than they are sent)",
				ErrQueueFull, p.node, p.r.maxQueue, p.r.sendTimeout)
		}
		p.mu.Lock()
	}
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnreachable, p.node)
	}
	p.q = append(p.q, frame)
	p.qBytes += cost
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// frameCost is the memory a queued frame holds: its array and its place
// in the queue.
func frameCost(f []byte) int { return cap(f) + 24 }

// close stops the writer: it closes the link, so that a write to a node
// that does not read returns at once, and wakes the senders waiting for
// room.
func (p *peer) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
		if p.link != nil {
			p.link.Close()
		}
		p.roomLocked()
	}
	p.mu.Unlock()
}

// roomLocked wakes the senders waiting for room; p.mu is held.
func (p *peer) roomLocked() {
	if p.room != nil {
		close(p.room)
		p.room = nil
	}
}

// setLink records the writer's link (nil: none), for close; false if the
// peer is closed (the link is then closed).
func (p *peer) setLink(l *transport.Link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed && l != nil {
		l.Close()
		return false
	}
	p.link = l
	return true
}

// heartbeatFrame is what an idle link carries every Heartbeat: a cast to
// process 0, which no node has (a node of an older build drops it
// quietly).
var heartbeatFrame = appendCast(nil, kindCast, 0, nil)

// run dials on demand and writes queued frames in order, in batches, and
// a heartbeat on an idle link.
func (p *peer) run() {
	defer p.r.wg.Done()
	var link *transport.Link
	defer func() {
		if link != nil {
			link.Close()
		}
	}()
	tick := time.NewTicker(p.r.heartbeat)
	defer tick.Stop()
	wrote := false // since the last tick
	var spare [][]byte
	for {
		select {
		case <-p.wake:
		case <-tick.C:
			if link != nil && !wrote {
				if err := link.Send(heartbeatFrame); err != nil {
					p.linkFailed(link, 0, err)
					link = nil
				}
			}
			wrote = false
			continue
		case <-p.done:
			return
		}
		for {
			p.mu.Lock()
			if len(p.q) == 0 {
				p.mu.Unlock()
				break
			}
			batch := p.q
			p.q = spare[:0] // spare is never batch: the two alternate
			p.qBytes = 0
			p.roomLocked()
			spare = nil
			p.mu.Unlock()
			if link == nil {
				var err error
				link, err = p.dial()
				if err == nil && !p.setLink(link) {
					link, err = nil, ErrClosed
				}
				if err != nil {
					p.n.errors.Add(1)
					p.n.dropped.Add(uint64(len(batch)))
					p.r.log.Warn("cannot reach node; dropping messages", "peer", p.node, "messages", len(batch), "err", err)
					p.r.failPending(p.node, fmt.Errorf("%w: %s: %v", ErrUnreachable, p.node, err))
					clear(batch)
					spare = batch
					continue
				}
				link.SetWriteTimeout(p.r.writeTimeout)
			}
			wrote = true
			if err := link.SendBatch(batch); err != nil {
				p.linkFailed(link, len(batch), err)
				link = nil
			} else {
				p.r.framesOut.Add(uint64(len(batch)))
				p.n.framesOut.Add(uint64(len(batch)))
				size := 0
				for _, f := range batch {
					size += len(f)
				}
				p.n.bytesOut.Add(uint64(size))
			}
			clear(batch)
			spare = batch
		}
	}
}

// linkFailed closes a link whose write failed, with lost frames on it,
// and fails the calls waiting on the node.
func (p *peer) linkFailed(link *transport.Link, lost int, err error) {
	p.n.errors.Add(1)
	p.n.dropped.Add(uint64(lost))
	select {
	case <-p.done: // closing: the close failed it
	default:
		p.r.log.Warn("link to node failed", "peer", p.node, "err", err)
	}
	link.Close()
	p.setLink(nil)
	p.r.failPending(p.node, fmt.Errorf("%w: %s: %v", ErrUnreachable, p.node, err))
}

// unknownPatience is how long a peer that has a link open to this node,
// but that membership here does not list yet, is dialled again before
// what is queued for it is dropped: membership learns of a joining or
// healed node some hundreds of milliseconds after the node starts
// talking, and the replies to its first calls must not be lost.
const unknownPatience = 3 * time.Second

func (p *peer) dial() (*transport.Link, error) {
	box := p.r.dialer.Load()
	if box == nil {
		return nil, ErrNotAttached
	}
	giveUp := time.Now().Add(unknownPatience)
	wait := 20 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(p.r.ctx, p.r.timeout)
		link, err := box.d.DialLink(ctx, p.node)
		cancel()
		if err == nil || !errors.Is(err, cluster.ErrUnknownMember) || !p.r.talksToUs(p.node) || time.Now().After(giveUp) {
			return link, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
			return nil, err
		case <-p.r.ctx.Done():
			t.Stop()
			return nil, err
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}
