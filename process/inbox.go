package process

// The inbox: how a message reaches a busy process without its lock.
//
// Under load many goroutines send to one process, and a mutex taken per
// message made them queue for it (eight senders to one process spent
// most of their time parking on it and waking each other). So a cast,
// send or call to a process whose mailbox is unbounded and which is
// idle or active is pushed onto the process's inbox, a lock-free stack,
// with one compare-and-swap. Whoever holds p.mu moves the inbox, in the
// order it was pushed, to the end of the mailbox (settleLocked) before
// looking at the mailbox: the process when it takes its next batch, and
// every path that reads or changes the mailbox. A sender takes the lock
// only to wake an idle process.
//
// The inbox's head also says what the process is doing: idleMark when
// it is idle and nothing was pushed since (the sender that replaces the
// mark is the one that wakes it), closedMark when every message must
// take the lock (the process is forwarding or gone; closeGateLocked puts
// it there and takes what was pushed before, in the same swap). Each
// push is one compare-and-swap on the head, which decides at once
// whether it lands, whether it wakes the process, or whether it must
// take the lock instead.
//
// Per-sender order holds: a sender's pushes are in the inbox in its
// order; what it sent before through the lock is already in the mailbox;
// and what it sends through the lock later comes after a settle.

// inNode is one message pushed to a process's inbox.
type inNode struct {
	next *inNode
	e    envelope
}

// The marks an inbox's head may hold instead of a message.
var (
	idleMark   = new(inNode)
	closedMark = new(inNode)
)

// pushFast pushes e to the inbox and wakes the process if it was idle;
// false if the inbox is closed (use the lock).
func (p *Process) pushFast(e envelope) bool {
	n := &inNode{e: e}
	for {
		h := p.in.Load()
		switch h {
		case closedMark:
			return false
		case idleMark:
			n.next = nil
		default:
			n.next = h
		}
		if p.in.CompareAndSwap(h, n) {
			if h == idleMark {
				p.wakeIdle()
			}
			return true
		}
	}
}

// wakeIdle starts an activation of an idle process that has messages.
func (p *Process) wakeIdle() {
	p.mu.Lock()
	if p.st != stIdle {
		p.mu.Unlock()
		return // a message through the lock woke it first
	}
	p.settleLocked()
	p.setActiveLocked()
	p.rt.active.Add(1)
	p.mu.Unlock()
	p.rt.activate(p)
}

// settleLocked moves the inbox to the end of the mailbox, in the order it
// was pushed; p.mu is held.
func (p *Process) settleLocked() {
	switch h := p.in.Load(); h {
	case nil, idleMark, closedMark:
		return
	}
	p.queueInbox(p.in.Swap(nil))
}

// queueInbox puts the messages of a taken inbox, newest first, at the end
// of the mailbox, oldest first, in their nodes.
func (p *Process) queueInbox(h *inNode) {
	var fifo, last *inNode
	n := 0
	for h != nil && h != idleMark && h != closedMark {
		next := h.next
		h.next = fifo
		fifo, h = h, next
		if last == nil {
			last = fifo
		}
		n++
	}
	if n > 0 {
		p.q.appendNodes(fifo, last, n)
	}
}

// closeGateLocked sends every later message through the lock and
// settles what was pushed before; p.mu is held.
func (p *Process) closeGateLocked() {
	p.queueInbox(p.in.Swap(closedMark))
}

// setIdleLocked makes an activation end if nothing waits: true if the
// process is now idle, false if messages wait (settled into the
// mailbox). p.mu is held.
func (p *Process) setIdleLocked() bool {
	for {
		p.settleLocked()
		if p.q.n > 0 {
			return false
		}
		if p.in.CompareAndSwap(nil, idleMark) {
			p.st = stIdle
			return true
		}
		// A push came since the settle (or the inbox is closed: then
		// the process is idle without the mark, and every message
		// takes the lock).
		if p.in.Load() == closedMark {
			p.st = stIdle
			return true
		}
	}
}

// setActiveLocked leaves stIdle (or the start) for stActive; p.mu is
// held.
func (p *Process) setActiveLocked() {
	p.st = stActive
	p.in.CompareAndSwap(idleMark, nil) // fails if a push took the mark: its sender finds the process active
}
