package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/transport"
)

// The incoming side: the links other nodes open to this one, read frame
// by frame and dispatched to this node's processes (calls answered on
// this node's own link back), and the watch on links that send
// heartbeats.

// talksToUs reports whether node sent this one a frame lately.
func (r *Remote) talksToUs(node string) bool {
	r.mu.Lock()
	h := r.heard[node]
	r.mu.Unlock()
	return h != nil && time.Since(time.Unix(0, h.Load())) < unknownPatience
}

// heardFrom returns the time of the last frame from node, to update.
func (r *Remote) heardFrom(node string) *atomic.Int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.heard == nil {
		r.heard = map[string]*atomic.Int64{}
	}
	h := r.heard[node]
	if h == nil {
		h = new(atomic.Int64)
		r.heard[node] = h
	}
	return h
}

// clockEvery is how many frames of a steady stream pass between two
// readings of the clock for heardFrom.
const clockEvery = 256

// HandleLink reads frames from a link another node opened to this one,
// until it closes. Give it to the cluster as its OnLink.
func (r *Remote) HandleLink(l *transport.Link) {
	from := l.Peer()
	heard := r.heardFrom(from)
	r.mu.Lock()
	n := r.countersLocked(from)
	r.mu.Unlock()
	var watching chan struct{} // closed when this returns, once a heartbeat came
	unclocked := 0             // frames since heard was set
	defer func() {
		if watching != nil {
			close(watching)
		}
	}()
	for {
		// Each frame is read in place and decoded (copied) before the
		// next is read.
		b, err := l.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && r.ctx.Err() == nil {
				n.errors.Add(1)
				r.log.Debug("link from node ended", "peer", from, "err", err)
			}
			return
		}
		r.framesIn.Add(1)
		n.framesIn.Add(1)
		n.bytesIn.Add(uint64(len(b)))
		if unclocked++; unclocked >= clockEvery || !l.Buffered() {
			// The clock is read when the frames that came are all read,
			// or every clockEvery frames of a steady stream: not once a
			// frame.
			heard.Store(time.Now().UnixNano())
			unclocked = 0
		}
		f, err := decodeFrame(b)
		if err != nil {
			n.errors.Add(1)
			r.log.Warn("bad frame from node; closing link", "peer", from, "err", err)
			return
		}
		if f.kind == kindCast && f.target == 0 {
			// A heartbeat: from now on this link must not go silent.
			if watching == nil {
				r.mu.Lock()
				if r.closed { // Close waits for what it knows of
					r.mu.Unlock()
					return
				}
				r.wg.Add(1)
				r.mu.Unlock()
				watching = make(chan struct{})
				go r.watch(l, heard, watching)
			}
			continue
		}
		r.dispatch(from, f)
	}
}

// watch closes link l, whose node sends heartbeats, once nothing has come
// from its node for LinkTimeout (the network lost the link even if
// membership still sees the node), or returns when stop closes.
func (r *Remote) watch(l *transport.Link, heard *atomic.Int64, stop chan struct{}) {
	defer r.wg.Done()
	t := time.NewTicker(r.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-r.ctx.Done():
			return
		case <-t.C:
			if silent := time.Since(time.Unix(0, heard.Load())); silent > r.linkTimeout {
				r.log.Warn("link from node silent; closing it", "peer", l.Peer(), "silent", silent.Round(time.Millisecond))
				l.Close()
				return
			}
		}
	}
}

func (r *Remote) dispatch(from string, f frame) {
	if f.kind == kindReply {
		r.pendMu.Lock()
		pc := r.pending[f.callID]
		delete(r.pending, f.callID)
		r.pendMu.Unlock()
		if pc == nil || pc.node != from {
			return // the caller gave up, or a node answered for another
		}
		pc.deliver(r.decodeReply(from, f))
		return
	}
	rt := r.rt.Load()
	if rt == nil {
		return
	}
	ref := process.Ref{Node: r.node, ID: f.target}
	p, ok := rt.Lookup(ref)
	msg, derr := r.codec.Unmarshal(f.payload)
	switch f.kind {
	case kindCast, kindSend:
		if ok && derr != nil {
			// A type one node registered and this one did not: say so
			// (the sender cannot hear of it).
			r.log.Warn("dropped a message this node cannot decode; register its type on every node", "peer", from,
				"process", p.String(), "kind", p.Kind(), "err", derr)
			return
		}
		if !ok || derr != nil {
			r.log.Debug("dropped one-way message", "peer", from, "target", ref.String(), "found", ok, "err", derr)
			return
		}
		var err error
		if f.kind == kindCast {
			err = p.TryCast(msg)
		} else {
			err = p.TrySend(msg)
		}
		if errors.Is(err, process.ErrMailboxFull) {
			r.mailboxFull(from, p)
		}
	case kindCall:
		reply := func(status byte, payload []byte) { r.reply(from, f.callID, status, payload) }
		switch {
		case derr != nil && ok:
			reply(statusCodecError, fmt.Appendf(nil, "process %s (kind %q) on node %s: %v", ref, p.Kind(), r.node, derr))
			return
		case derr != nil:
			reply(statusCodecError, fmt.Appendf(nil, "node %s: %v", r.node, derr))
			return
		case !ok:
			reply(statusNoProcess, []byte(fmt.Sprintf("process %s: %v", ref, process.ErrNoProcess)))
			return
		}
		ctx, cancel := context.WithTimeout(r.ctx, f.timeout)
		err := p.TryCallAsync(ctx, msg, func(v any, err error) {
			cancel()
			r.sendReply(from, f.callID, v, err)
		})
		if err != nil {
			cancel()
			r.sendReply(from, f.callID, nil, err)
		}
	}
}

// mailboxFull counts a message from another node dropped because its
// process's bounded mailbox was full, and says so at most once a second
// per peer (a flood would otherwise flood the log too).
func (r *Remote) mailboxFull(from string, p *process.Process) {
	r.mu.Lock()
	n := r.countersLocked(from)
	r.mu.Unlock()
	n.refused.Add(1)
	now := time.Now().UnixNano()
	if last := n.refusedLog.Load(); now-last >= int64(time.Second) && n.refusedLog.CompareAndSwap(last, now) {
		r.log.Warn("dropped messages from another node: their process's mailbox is full", "peer", from,
			"process", p.String(), "kind", p.Kind(), "dropped_so_far", n.refused.Load())
	}
}

// sendReply encodes a call's outcome and queues it back to the caller.
func (r *Remote) sendReply(to string, callID uint64, v any, err error) {
	if err == nil {
		bp := r.startFrame()
		defer r.freeFrame(bp)
		b, merr := r.codec.Append(appendReply(*bp, callID, statusOK, nil), v)
		if merr == nil {
			*bp = b
			_ = r.enqueue(nil, to, endFrame(b), true)
			return
		}
		r.reply(to, callID, statusCodecError, []byte(merr.Error()))
		return
	}
	var status byte
	var perr *process.PanicError
	switch {
	case errors.As(err, &perr):
		status = statusPanic
	case errors.Is(err, process.ErrMailboxFull):
		status = statusFull
	case errors.Is(err, process.ErrNoProcess):
		status = statusNoProcess
	case errors.Is(err, process.ErrStopped):
		status = statusStopped
	case errors.Is(err, context.DeadlineExceeded):
		status = statusDeadline
	case errors.Is(err, context.Canceled):
		status = statusCanceled
	default:
		status = statusAppError
	}
	r.reply(to, callID, status, []byte(err.Error()))
}

// reply queues a reply that is not a value.
func (r *Remote) reply(to string, callID uint64, status byte, payload []byte) {
	bp := r.startFrame()
	defer r.freeFrame(bp)
	*bp = endFrame(appendReply(*bp, callID, status, payload))
	_ = r.enqueue(nil, to, *bp, true)
}

func (r *Remote) decodeReply(from string, f frame) callResult {
	if f.status == statusOK {
		v, err := r.codec.Unmarshal(f.payload)
		if err != nil {
			return callResult{err: fmt.Errorf("the reply from node %s does not decode on node %s (register its type on every node): %w", from, r.node, err)}
		}
		return callResult{val: v}
	}
	return callResult{err: &Error{Node: from, Code: f.status, Message: string(f.payload)}}
}
