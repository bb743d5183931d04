package directory

import (
	"cmp"
	"fmt"
	"slices"
)

// commit applies a change at the primary and queues it for the replicas.
func (n *Node) commit(pt *part, op Op) {
	if n.cfg.Logf != nil {
		ck := ""
		if c := op.Rec.Ckpt(); c != nil {
			ck = fmt.Sprintf(" ck=%v@%d", c.Inst, c.Seq)
		}
		if o := op.Rec.Orphans(); len(o) > 0 {
			ck += fmt.Sprintf(" orphans=%d", len(o))
		}
		n.logf("%v p%d commit %d %s reg=%v inst=%v gen=%d tomb=%s/%v%s", n.self, pt.id, op.Kind, op.Rec.Name, op.Rec.Reg, op.Rec.Inst, op.Rec.Gen, op.Tomb.Name, op.Tomb.Reg, ck)
	}
	pt.data.apply(&op)
	n.touchOp(pt, &op)
	n.syncLocal(pt, &op)
	pt.seq++
	if len(pt.replicas) == 0 {
		return
	}
	if len(pt.pending) == 0 {
		n.flushList = append(n.flushList, pt.id)
	}
	op.Rec = *op.Rec.clone()
	pt.pending = append(pt.pending, op)
}

// flush sends every partition's pending changes (Ready calls it).
func (n *Node) flush() {
	for _, p := range n.flushList {
		n.flushOps(n.parts[p])
	}
	n.flushList = n.flushList[:0]
}

// flushOps sends a primary's pending changes to its replicas, in batches
// that fit a message.
func (n *Node) flushOps(pt *part) {
	ops := pt.pending
	pt.pending = nil
	if len(ops) == 0 || pt.role != rolePrimary {
		return
	}
	first := pt.seq - uint64(len(ops)) + 1
	for start := 0; start < len(ops); {
		end, size := start, 0
		for end < len(ops) && (end == start || size+ops[end].size() <= n.cfg.MaxMsgBytes-256) {
			size += ops[end].size()
			end++
		}
		m := MsgOps{P: pt.id, Stream: pt.stream, Seq: first + uint64(end) - 1, Ops: ops[start:end]}
		for _, r := range pt.replicas {
			n.send(r, m)
		}
		start = end
	}
}

// onOps applies the next changes of the stream this replica follows; a
// gap, or another stream, asks for a snapshot.
func (n *Node) onOps(pt *part, from NodeID, m MsgOps) {
	if pt.role != roleReplica || from != pt.primary || m.Stream.Node != from {
		return
	}
	first := m.Seq - uint64(len(m.Ops)) + 1
	switch {
	case pt.snap != nil && pt.snap.stream == m.Stream && m.Seq <= pt.snap.seq:
		return // the snapshot on its way has it
	case m.Stream != pt.from || first != pt.rseq+1:
		if m.Stream == pt.from && m.Seq <= pt.rseq {
			return // a duplicate
		}
		n.askSnapshot(pt)
		return
	}
	for i := range m.Ops {
		pt.data.apply(&m.Ops[i])
		n.syncLocal(pt, &m.Ops[i])
	}
	pt.rseq = m.Seq
	n.send(from, MsgAck{P: pt.id, Stream: pt.from, Seq: pt.rseq})
}

func (n *Node) onAck(pt *part, from NodeID, m MsgAck) {
	if pt.role != rolePrimary || m.Stream != pt.stream || !slices.Contains(pt.replicas, from) {
		return
	}
	if cur, ok := pt.acks[from]; (!ok || m.Seq > cur) && m.Seq <= pt.seq {
		pt.acks[from] = m.Seq // present once the replica has the stream at all
		n.releaseWaiters(pt)
	}
}

// replicated reports whether every replica has acknowledged all of the
// partition's stream.
func (n *Node) replicated(pt *part) bool {
	for _, r := range pt.replicas {
		if at, ok := pt.acks[r]; !ok || at < pt.seq {
			return false
		}
	}
	return true
}

// whole reports whether every replica holds a whole copy of the
// partition, bar the changes on their way to it: it has acknowledged the
// last snapshot it was sent (and the stream goes on from there, in
// order; a gap asks for a new one). Changes on their way are not yet
// acknowledged to any client: losing them with the primary breaks no
// promise. Under steady writes a partition is whole while it is seldom
// replicated to the last change.
func (n *Node) whole(pt *part) bool {
	for _, r := range pt.replicas {
		if at, ok := pt.acks[r]; !ok || at < pt.snapSeq[r] {
			return false
		}
	}
	return true
}

// acked is the stream position every replica has acknowledged.
func (n *Node) acked(pt *part) uint64 {
	seq := pt.seq
	for _, r := range pt.replicas {
		seq = min(seq, pt.acks[r])
	}
	return seq
}

// releaseWaiters answers the requests whose changes every replica has.
func (n *Node) releaseWaiters(pt *part) {
	if len(pt.waiters) == 0 {
		return
	}
	acked := n.acked(pt)
	keep := pt.waiters[:0]
	for _, w := range pt.waiters {
		if w.seq <= acked {
			n.replyTo(w.origin, w.req, w.ans, w.code)
		} else {
			keep = append(keep, w)
		}
	}
	clear(pt.waiters[len(keep):])
	pt.waiters = keep
}

// wait answers a request once every replica has what the partition holds
// now.
func (n *Node) wait(pt *part, origin NodeID, req uint64, ans Answer, code ErrCode) {
	pt.waiters = append(pt.waiters, waiter{seq: pt.seq, origin: origin, req: req, ans: ans, code: code})
	n.releaseWaiters(pt)
}

// sendDigests sends each replica a summary of the partition, after the
// changes it describes.
func (n *Node) sendDigests(pt *part) {
	n.flushOps(pt)
	for _, r := range pt.replicas {
		n.send(r, MsgDigest{P: pt.id, Stream: pt.stream, Seq: pt.seq, Hash: pt.data.hash})
	}
}

// onDigest compares the primary's summary with this replica's copy.
func (n *Node) onDigest(pt *part, from NodeID, m MsgDigest) {
	if pt.role != roleReplica || from != pt.primary || m.Stream.Node != from {
		return
	}
	if m.Stream == pt.from && m.Seq == pt.rseq && m.Hash == pt.data.hash {
		n.send(from, MsgAck{P: pt.id, Stream: pt.from, Seq: pt.rseq})
		return
	}
	n.askSnapshot(pt)
}

// askSnapshot asks the primary for a snapshot, at most once per
// ResendTicks.
func (n *Node) askSnapshot(pt *part) {
	if pt.primary.IsZero() || pt.primary == n.self {
		return
	}
	if pt.snapAskedAt != 0 && n.now-pt.snapAskedAt < n.cfg.ResendTicks {
		return
	}
	pt.snapAskedAt = n.now
	n.send(pt.primary, MsgSnapReq{P: pt.id})
}

func (n *Node) onSnapReq(pt *part, from NodeID) {
	n.logf("%v p%d snapreq from %v role=%d active=%v replicas=%v", n.self, pt.id, from, pt.role, pt.active, pt.replicas)
	if pt.role != rolePrimary || !pt.active || !slices.Contains(pt.replicas, from) {
		return
	}
	if at, ok := pt.snapAt[from]; ok && at == n.now {
		return // one went this tick (a request is answered even if one
		// went a moment ago: it may have reached the node before it saw
		// itself a replica, and been dropped)
	}
	n.sendSnapshot(pt, from)
}

// sendSnapshot sends a replica the whole partition, in chunks, after the
// changes already queued (so the stream goes on from the snapshot).
func (n *Node) sendSnapshot(pt *part, to NodeID) {
	if pt.role != rolePrimary || !pt.active {
		return
	}
	n.flushOps(pt)
	pt.snapAt[to] = n.now
	pt.snapSeq[to] = pt.seq
	chunks := n.chunk(pt.data)
	for i, c := range chunks {
		n.send(to, MsgSnap{P: pt.id, Stream: pt.stream, Seq: pt.seq, Index: i, Total: len(chunks), Records: c.recs, Tombs: c.tombs})
	}
}

// snapAcc is a snapshot being received.
type snapAcc struct {
	stream Stream
	seq    uint64
	total  int
	chunks map[int]MsgSnap
}

// onSnap takes a snapshot chunk; a whole snapshot replaces the replica's
// copy (what it held from elsewhere is given to the primary first).
func (n *Node) onSnap(pt *part, from NodeID, m MsgSnap) {
	n.logf("%v p%d snap from %v %d/%d recs=%d role=%d primary=%v", n.self, pt.id, from, m.Index, m.Total, len(m.Records), pt.role, pt.primary)
	if pt.role != roleReplica || from != pt.primary || m.Stream.Node != from || m.Total <= 0 || m.Index < 0 || m.Index >= m.Total {
		return
	}
	if m.Stream == pt.from && m.Seq <= pt.rseq {
		return // older than what we have
	}
	if pt.snap == nil || pt.snap.stream != m.Stream || pt.snap.seq != m.Seq || pt.snap.total != m.Total {
		pt.snap = &snapAcc{stream: m.Stream, seq: m.Seq, total: m.Total, chunks: map[int]MsgSnap{}}
	}
	pt.snap.chunks[m.Index] = m
	if len(pt.snap.chunks) < pt.snap.total {
		return
	}
	s := pt.snap
	pt.snap = nil
	if s.stream != pt.from && pt.hasData() {
		n.keep(pt, pt.data) // not from this stream: the primary may lack it
	}
	var recs [][]Record
	var tombs [][]Tomb
	for i := range s.total {
		recs, tombs = append(recs, s.chunks[i].Records), append(tombs, s.chunks[i].Tombs)
	}
	pt.data = fromChunks(recs, tombs)
	pt.from, pt.rseq = s.stream, s.seq
	n.send(from, MsgAck{P: pt.id, Stream: pt.from, Seq: pt.rseq})
}

// sortedKeys returns m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
