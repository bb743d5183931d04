package registry

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry/internal/directory"
)

// Carrying out what the directory asks of the processes on this node:
// start one (on a goroutine of its own: its Init may call the registry),
// pause it for a move and report its state, resume, forward to its new
// home, stop, or hand a conflict loser's state to the winner.

func refOf(i directory.Inst) process.Ref { return process.Ref{Node: i.Node.Name, ID: i.ID} }

// carryOut does one effect.
func (h *dirHost) carryOut(j dirJob) {
	switch e := j.eff.(type) {
	case directory.Start:
		h.wg.Add(1)
		go h.start(e)
	case directory.Stop:
		if j.p != nil {
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				if err := j.p.Stop(h.ctx, nil); err != nil {
					h.log.Debug("registry: stop", "name", e.Name, "err", err)
				}
			}()
		}
	case directory.Pause:
		if j.p == nil {
			return
		}
		id := e.Inst.ID
		err := h.sys.BeginHandoff(h.ctx, j.p, e.MayStay, func(ho process.Handoff, err error) {
			if err != nil {
				return // it exited (reported by its exit hook), or the registry closed
			}
			h.paused(e.Name, id, ho)
		})
		if err != nil {
			h.log.Debug("registry: pause", "name", e.Name, "err", err)
		}
	case directory.Resume:
		if j.p != nil {
			if err := h.sys.ResumeHandoff(j.p); err != nil {
				h.log.Debug("registry: resume", "name", e.Name, "err", err)
			}
		}
	case directory.Forward:
		if j.p == nil {
			return
		}
		var reason error
		if e.Conflict {
			reason = ErrConflict
			h.r.counts.conflictsLost.Add(1)
		} else {
			h.r.counts.movedOut.Add(1)
		}
		if err := h.sys.Forward(j.p, refOf(e.To), reason); err != nil {
			h.log.Warn("registry: could not retire a moved process", "name", e.Name, "to", refOf(e.To), "err", err)
		}
	case directory.Flush:
		if j.p != nil {
			if err := h.sys.Flush(j.p); err != nil {
				h.log.Debug("registry: flush", "name", e.Name, "err", err)
			}
		}
	case directory.Resolve:
		if j.p == nil {
			return
		}
		saved, err := h.decodeState(e.State)
		if err != nil {
			// The machine asked Decodable first: not expected.
			h.log.Error("registry: cannot decode a conflict loser's state; it is not merged", "name", e.Name, "loser", refOf(e.Loser), "err", err)
			return
		}
		c := process.Conflict{
			Name:             e.Name,
			Winner:           process.Copy{Node: e.Winner.Node.Name, Incarnation: e.Winner.Node.Inc, ID: e.Winner.ID, Version: e.WinnerGen},
			Loser:            process.Copy{Node: e.Loser.Node.Name, Incarnation: e.Loser.Node.Inc, ID: e.Loser.ID, Version: e.LoserGen},
			SameRegistration: e.WinnerReg == e.LoserReg,
		}
		if e.Late {
			h.log.Warn("registry: a conflict loser's state merged into the name's process because the winner first chosen is gone or was out of reach for too long; if a copy of that winner lives on, it holds the state too",
				"name", e.Name, "loser", refOf(e.Loser), "winner", refOf(e.Winner))
		}
		if err := h.sys.ResolveConflict(j.p, c, saved.state, saved.version); err != nil {
			h.log.Debug("registry: resolve conflict", "name", e.Name, "err", err)
		} else {
			h.r.counts.conflictsMerged.Add(1)
		}
	}
}

// paused reports a process's handoff answer, its state encoded.
func (h *dirHost) paused(name string, id uint64, ho process.Handoff) {
	action := directory.ActionRestart
	var state []byte
	switch ho.Action {
	case process.HandoffStay:
		action = directory.ActionStay
	case process.HandoffMove:
		b, err := h.encodeState(ho.State, ho.Version, ho.Reminders)
		if err != nil {
			// The state cannot travel: the process keeps running here
			// rather than lose it (if it may stay).
			kind := ""
			if p, ok := h.r.rt.Lookup(process.Ref{Node: h.r.rt.Node(), ID: id}); ok {
				kind = p.Kind()
			}
			h.log.Error("registry: a handed-off state cannot cross to another node; the process stays here (declare the state type with its kind, KindOptions.State, or register it in the codec on every node)",
				"name", name, "kind", kind, "node", h.r.rt.Node(), "type", fmt.Sprintf("%T", ho.State), "err", err)
			action = directory.ActionStay
		} else {
			action, state = directory.ActionMove, b
		}
	}
	h.step(func(n *directory.Node) { n.Paused(id, action, state) })
}

// startRec follows one start: the process may exit before its start is
// reported.
type startRec struct {
	started bool // reported to the machine
	exited  bool // exited before that
}

// start spawns a process for the machine and reports the outcome.
func (h *dirHost) start(e directory.Start) {
	defer h.wg.Done()
	spec := process.Spec{Kind: e.Spec.Kind, Args: e.Spec.Args}
	opts := process.SpawnOptions{Name: e.Name}
	ko := h.checkpointMode(e.Spec.Kind)
	if ko.Checkpoints != process.CheckpointOff {
		opts.Checkpoints = process.CheckpointOptions{Mode: ko.Checkpoints, Every: ko.CheckpointEvery, Sink: ckptSink{h}}
	}
	if e.Restore {
		saved, err := h.decodeState(e.State)
		if err != nil {
			// Not dropped: a move's old process carries on, a checkpoint
			// stays in the name's record (tried again at the next sweep,
			// perhaps on a node that can read it).
			what := "a handed-off state"
			if e.Checkpoint {
				what = "a checkpoint"
			}
			h.log.Error("registry: cannot decode "+what+"; left where it is, not started here", "name", e.Name, "kind", e.Spec.Kind, "err", err)
			h.step(func(n *directory.Node) { n.StartFailed(e.Token) })
			return
		}
		opts.HandedOff = &process.Handoff{Action: process.HandoffMove, State: saved.state, Version: saved.version, Reminders: saved.reminders}
	}
	if restoresInPlace(ko) {
		opts.Restore = h.restoreFor(e.Name)
	}
	sr := &startRec{}
	opts.OnExit = func(p *process.Process, _ error) { h.exited(sr, p) }
	p, err := h.r.rt.Spawn(h.ctx, spec, opts)
	if err != nil {
		h.log.Warn("registry: could not start a process", "name", e.Name, "kind", e.Spec.Kind, "err", err)
		h.step(func(n *directory.Node) { n.StartFailed(e.Token) })
		return
	}
	switch {
	case e.Move:
		h.r.counts.movedIn.Add(1)
	case e.Restart:
		h.r.counts.restarted.Add(1)
	default:
		h.r.counts.registered.Add(1)
	}
	id := p.Ref().ID
	if opts.Restore != nil && e.Restore {
		h.mu.Lock()
		if _, ok := h.ckLast[id]; !ok { // no checkpoint since: the state it started from
			h.ckLast[id] = e.State
		}
		h.mu.Unlock()
	}
	h.step(func(n *directory.Node) {
		sr.started = true
		n.Started(e.Token, id)
		if sr.exited {
			n.Exited(id)
		}
	})
}

// proc returns the local process id, if the runtime lists it. The
// directory names only processes it started and has not let go of (a
// table of its own here would cost every name a map entry more).
func (h *dirHost) proc(id uint64) *process.Process {
	p, _ := h.r.rt.Lookup(process.Ref{Node: h.r.rt.Node(), ID: id})
	return p
}

// exited reports a process that ended by itself.
func (h *dirHost) exited(sr *startRec, p *process.Process) {
	id := p.Ref().ID
	h.step(func(n *directory.Node) {
		delete(h.ckStored, id)
		delete(h.ckLast, id)
		if !sr.started {
			sr.exited = true
			return
		}
		n.Exited(id) // one it stopped or retired is not news: it ignores it
	})
}

// A state (a move's, a checkpoint's, a conflict loser's) travels as
//
//	uvarint version | uvarint n | n x (varint due, unix ns | uvarint len | reminder) | state
//
// the state's format version, the process's pending reminders (each
// message encoded by the codec), then the state's encoding.

// maxReminders bounds the reminders a state may carry.
const maxReminders = 1 << 16

// savedState is a decoded state.
type savedState struct {
	state     any
	version   uint32
	reminders []process.Reminder
}

// encodeState encodes a state, its version and reminders.
func (h *dirHost) encodeState(state any, version uint32, rems []process.Reminder) ([]byte, error) {
	if len(rems) > maxReminders {
		return nil, fmt.Errorf("encode state: %d reminders, at most %d", len(rems), maxReminders)
	}
	b := binary.AppendUvarint(nil, uint64(version))
	b = binary.AppendUvarint(b, uint64(len(rems)))
	for _, r := range rems {
		b = binary.AppendVarint(b, r.At.UnixNano())
		m, err := h.codec.Marshal(r.Msg)
		if err != nil {
			return nil, fmt.Errorf("encode reminder: %w", err)
		}
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return h.codec.Append(b, state)
}

// decodeState decodes what encodeState made.
func (h *dirHost) decodeState(b []byte) (savedState, error) {
	var out savedState
	v, n := binary.Uvarint(b)
	if n <= 0 || v > math.MaxUint32 {
		return out, fmt.Errorf("decode state: bad version")
	}
	b = b[n:]
	out.version = uint32(v)
	count, n := binary.Uvarint(b)
	if n <= 0 || count > maxReminders || count > uint64(len(b)) {
		return out, fmt.Errorf("decode state: bad reminder count")
	}
	b = b[n:]
	for range count {
		at, n := binary.Varint(b)
		if n <= 0 {
			return out, fmt.Errorf("decode state: bad reminder time")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return out, fmt.Errorf("decode state: bad reminder length")
		}
		b = b[n:]
		msg, err := h.codec.Unmarshal(b[:l])
		if err != nil {
			return out, fmt.Errorf("decode state: reminder: %w", err)
		}
		b = b[l:]
		out.reminders = append(out.reminders, process.Reminder{At: time.Unix(0, at), Msg: msg})
	}
	state, err := h.codec.Unmarshal(b)
	if err != nil {
		return out, fmt.Errorf("decode state of version %d: %w", v, err)
	}
	out.state = state
	return out, nil
}
