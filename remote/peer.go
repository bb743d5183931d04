package remote

import (
	"context"
	"encoding/binary"
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

// enqueue hands a frame (built by startFrame and endFrame: its length
// first) to the outgoing link to node, creating the link's peer (and its
// writer) on first use. A full queue makes it wait for room, within ctx
// (nil: SendTimeout). With direct, a frame that finds the link open and
// nothing waiting is written at once by the calling goroutine (calls and
// replies: a hand-off to the writer would add to their round trip);
// otherwise frames wait for the writer, which writes what has gathered
// in one write. frame is not kept.
func (r *Remote) enqueue(ctx context.Context, node string, frame []byte, direct bool) error {
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
	return p.push(ctx, frame, direct)
}

// startFrame returns a buffer from the pool with room for a frame's
// length; append the frame, then endFrame, enqueue and freeFrame.
func (r *Remote) startFrame() *[]byte {
	bp := r.frames.Get().(*[]byte)
	*bp = append((*bp)[:0], 0, 0, 0, 0)
	return bp
}

// endFrame writes the length of the frame b holds after its first 4
// bytes.
func endFrame(b []byte) []byte {
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// freeFrame gives a buffer back to the pool, unless a large message made
// it large.
func (r *Remote) freeFrame(bp *[]byte) {
	if cap(*bp) <= maxPooledFrame {
		r.frames.Put(bp)
	}
}

const maxPooledFrame = 4 << 10

// peer is the outgoing link to one node, with its queue and writer.
type peer struct {
	r    *Remote
	node string
	n    *peerCounters
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	q      []byte        // frames waiting, each after its length, in order
	qn     int           // how many frames q holds
	room   chan struct{} // closed when q has room again
	link   *transport.Link
	busy   bool // a goroutine is writing to link (or dialling it): frames wait in q
	wrote  bool // since the last heartbeat tick
	closed bool
}

// push queues frame (or writes it, see enqueue), waiting for room while
// the queue holds MaxQueue bytes (a frame larger than that goes alone
// into an empty queue).
func (p *peer) push(ctx context.Context, frame []byte, direct bool) error {
	p.mu.Lock()
	var timer *time.Timer
	for !p.closed && len(p.q) > 0 && len(p.q)+len(frame) > p.r.maxQueue {
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
	if direct && !p.busy && len(p.q) == 0 && p.link != nil {
		link := p.link
		p.busy, p.wrote = true, true
		p.mu.Unlock()
		err := link.WriteFramed(frame)
		if err != nil {
			p.linkFailed(link, 1, err)
		} else {
			p.sent(1, len(frame))
		}
		p.mu.Lock()
		p.busy = false
		more := len(p.q) > 0
		p.mu.Unlock()
		if more {
			p.poke()
		}
		return nil // as a queued frame: a failed link fails the calls waiting on it
	}
	p.q = append(p.q, frame...)
	p.qn++
	busy := p.busy
	p.mu.Unlock()
	if !busy { // a busy writer pokes when it is done
		p.poke()
	}
	return nil
}

// poke wakes the writer.
func (p *peer) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// sent counts frames written: bytes is their size with their lengths.
func (p *peer) sent(frames, bytes int) {
	p.r.framesOut.Add(uint64(frames))
	p.n.framesOut.Add(uint64(frames))
	p.n.bytesOut.Add(uint64(bytes - 4*frames))
}

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

// setLink records the writer's new link, for close and for direct
// writes; false if the peer is closed (the link is then closed).
func (p *peer) setLink(l *transport.Link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
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

// maxSpare is the largest write buffer the writer keeps for its next
// batch; a larger one (a burst) goes back to the collector.
const maxSpare = 1 << 20

// run dials on demand and writes queued frames in order, in batches, and
// a heartbeat on an idle link.
func (p *peer) run() {
	defer p.r.wg.Done()
	defer func() {
		p.mu.Lock()
		if p.link != nil {
			p.link.Close()
		}
		p.mu.Unlock()
	}()
	tick := time.NewTicker(p.r.heartbeat)
	defer tick.Stop()
	var spare []byte
	for {
		select {
		case <-p.wake:
		case <-tick.C:
			p.mu.Lock()
			link, idle := p.link, !p.wrote
			p.wrote = false
			p.mu.Unlock()
			if link != nil && idle {
				if err := link.Send(heartbeatFrame); err != nil {
					p.linkFailed(link, 0, err)
				}
			}
			continue
		case <-p.done:
			return
		}
		for {
			p.mu.Lock()
			if len(p.q) == 0 || p.busy {
				p.mu.Unlock()
				break
			}
			batch, frames := p.q, p.qn
			p.q, p.qn = spare[:0], 0 // spare is never batch: the two alternate
			spare = nil
			p.roomLocked()
			p.busy, p.wrote = true, true
			link := p.link
			p.mu.Unlock()
			if link == nil {
				var err error
				link, err = p.dial()
				if err == nil && !p.setLink(link) {
					link, err = nil, ErrClosed
				}
				if err != nil {
					p.n.errors.Add(1)
					p.n.dropped.Add(uint64(frames))
					p.r.log.Warn("cannot reach node; dropping messages", "peer", p.node, "messages", frames, "err", err)
					p.r.failPending(p.node, fmt.Errorf("%w: %s: %v", ErrUnreachable, p.node, err))
				} else {
					link.SetWriteTimeout(p.r.writeTimeout)
				}
			}
			if link != nil {
				if err := link.WriteFramed(batch); err != nil {
					p.linkFailed(link, frames, err)
				} else {
					p.sent(frames, len(batch))
				}
			}
			p.mu.Lock()
			p.busy = false
			p.mu.Unlock()
			if cap(batch) <= maxSpare {
				spare = batch[:0]
			}
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
	p.mu.Lock()
	if p.link == link {
		p.link = nil
	}
	p.mu.Unlock()
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
