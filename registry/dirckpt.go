package registry

import (
	"errors"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry/internal/directory"
)

// Checkpoints of the processes this node runs for the registry: the
// runtime hands each one to the host (a process.CheckpointSink), which
// encodes it and asks the name's primary to keep it (the directory's
// ReqCheckpoint: answered once every live replica has it). One that the
// primary could not take in time (no primary yet, busy, timed out) is
// asked again, with the same state and number, for up to
// ckptRetryFor; a process that is not the name's any more hears
// ErrStale. A state equal to the last one stored is not sent again.

// An async checkpoint may wait a little (a tenth of its process's
// interval, at most ckptBatchMax) for others, so that the checkpoints of
// many processes reach their primaries, and the replicas, in one message
// each way instead of one each: under load most of what a checkpoint costs
// is the messages, not the state.

// ckptBatchMax bounds how long an async checkpoint waits for others.
const ckptBatchMax = 20 * time.Millisecond

// ckptBatchFor is how long an async checkpoint of a process that
// checkpoints every `every` may wait for others.
func ckptBatchFor(every time.Duration) time.Duration {
	if every <= 0 {
		every = process.DefaultCheckpointEvery
	}
	return min(every/10, ckptBatchMax)
}

// ckptRetryFor bounds how long a checkpoint is asked again after
// transient failures before the process hears of it.
const ckptRetryFor = 10 * time.Second

// ckptRetryEvery is the pause between asks.
const ckptRetryEvery = 100 * time.Millisecond

// ckptWait is a checkpoint request in flight.
type ckptWait struct {
	name   string
	id     uint64
	seq    uint64
	state  []byte
	merged []directory.Inst
	sum    uint64 // of state
	keep   bool   // kept once stored, for a restart in place (ckLast)
	first  time.Time
	done   func(error)
}

// ckptSink is the host's process.CheckpointSink.
type ckptSink struct{ h *dirHost }

// SaveCheckpoint implements process.CheckpointSink.
func (s ckptSink) SaveCheckpoint(ck process.Checkpoint, done func(error)) {
	h := s.h
	p := ck.Process
	state, err := h.encodeState(ck.State, ck.Version, ck.Reminders)
	if err != nil {
		h.log.Error("registry: cannot encode a checkpoint", "name", p.Name(), "type", fmt.Sprintf("%T", ck.State), "err", err)
		done(fmt.Errorf("encode checkpoint of %s: %w", p.Name(), err))
		return
	}
	w := &ckptWait{name: p.Name(), id: p.Ref().ID, seq: ck.Seq, state: state, sum: maphash.Bytes(h.ckSeed, state), first: time.Now(), done: done, keep: restoresInPlace(h.checkpointMode(p.Kind()))}
	for _, c := range ck.Merged {
		w.merged = append(w.merged, directory.Inst{Node: directory.NodeID{Name: c.Node, Inc: c.Incarnation}, ID: c.ID})
	}
	h.mu.Lock()
	if len(w.merged) == 0 {
		if sum, ok := h.ckStored[w.id]; ok && sum == w.sum {
			h.mu.Unlock()
			done(nil) // stored already
			return
		}
	}
	if ck.Mode == process.CheckpointAsync {
		if wait := ckptBatchFor(ck.Every); wait > 0 {
			h.ckBatch = append(h.ckBatch, w)
			if len(h.ckBatch) == 1 {
				h.ckTimer = time.AfterFunc(wait, h.flushCkBatch)
			}
			h.mu.Unlock()
			return
		}
	}
	ok := h.askLocked(w)
	h.mu.Unlock()
	if !ok {
		done(errRegistryClosed)
	}
}

// flushCkBatch asks for the async checkpoints that waited for others, in
// one step.
func (h *dirHost) flushCkBatch() {
	h.mu.Lock()
	batch := h.ckBatch
	h.ckBatch, h.ckTimer = nil, nil
	ok := h.askLocked(batch...)
	h.mu.Unlock()
	if !ok {
		for _, w := range batch {
			w.done(errRegistryClosed)
		}
	}
}

// retryCheckpoint asks for a checkpoint again (after a transient
// failure), unless close has taken it meanwhile.
func (h *dirHost) retryCheckpoint(w *ckptWait) {
	h.mu.Lock()
	if _, waiting := h.ckRetrying[w]; !waiting {
		h.mu.Unlock()
		return // close failed it
	}
	delete(h.ckRetrying, w)
	ok := h.askLocked(w)
	h.mu.Unlock()
	if !ok {
		w.done(errRegistryClosed)
	}
}

// askLocked hands checkpoint requests to the machine, in one step; mu is
// held. Once the registry is closing it asks nothing and reports false:
// the caller fails them (close fails those it finds waiting).
func (h *dirHost) askLocked(ws ...*ckptWait) bool {
	if h.ctx.Err() != nil {
		return false
	}
	if len(ws) == 0 {
		return true
	}
	h.ckSteps.Add(1)
	for _, w := range ws {
		h.reqSeq++
		h.ckWaiting[h.reqSeq] = w
		h.node.Checkpoint(h.reqSeq, w.name, w.id, w.seq, w.state, w.merged)
	}
	h.takeLocked()
	return true
}

// errRegistryClosed is what waiting requests hear when the registry
// closes.
var errRegistryClosed = errors.New("registry closed")

// checkpointedLocked takes the machine's answer to a checkpoint request; mu is
// held. The process hears it from the host's run goroutine.
func (h *dirHost) checkpointedLocked(w *ckptWait, err error) {
	switch {
	case err == nil:
		h.ckStored[w.id] = w.sum
		if w.keep {
			h.ckLast[w.id] = w.state
		}
	case (errors.Is(err, directory.ErrTimeout) || errors.Is(err, directory.ErrNoPrimary) || errors.Is(err, directory.ErrBusy)) &&
		time.Since(w.first) < ckptRetryFor && h.ctx.Err() == nil:
		h.ckRetrying[w] = time.AfterFunc(ckptRetryEvery, func() { h.retryCheckpoint(w) })
		return
	}
	if err != nil {
		err = fmt.Errorf("checkpoint %s seq %d: %w", w.name, w.seq, err)
	}
	h.queue = append(h.queue, dirJob{fn: func() { w.done(err) }})
}

// restoreFor returns the process.SpawnOptions.Restore of a process its
// kind restarts or wakes in place: the last checkpoint stored for it, or
// the state it started from.
func (h *dirHost) restoreFor(name string) func(*process.Process) (process.Handoff, bool) {
	return func(p *process.Process) (process.Handoff, bool) {
		h.mu.Lock()
		b := h.ckLast[p.Ref().ID]
		h.mu.Unlock()
		if b == nil {
			return process.Handoff{}, false
		}
		saved, err := h.decodeState(b)
		if err != nil {
			h.log.Error("registry: cannot decode the checkpoint a process restarts from; it restarts from its spec", "name", name, "kind", p.Kind(), "err", err)
			return process.Handoff{}, false
		}
		return process.Handoff{Action: process.HandoffMove, State: saved.state, Version: saved.version, Reminders: saved.reminders}, true
	}
}

// restoresInPlace reports whether a kind's processes take back their
// last checkpoint in place (restarted by their policy, or woken after
// passivation), so the host keeps it for them (ckLast).
func restoresInPlace(o process.KindOptions) bool {
	return o.Checkpoints != process.CheckpointOff && (o.Restart.Mode != process.RestartTemporary || o.PassivateAfter > 0)
}

// checkpointMode returns how a kind's processes checkpoint.
func (h *dirHost) checkpointMode(kind string) process.KindOptions {
	o, _ := h.r.rt.Kinds().Options(kind)
	return o
}
