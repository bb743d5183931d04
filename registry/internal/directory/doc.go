// Package directory holds the rules of Shoal's cluster-wide registry as a
// pure state machine: no goroutines, clocks, sockets or locks. A Node is
// driven by its host (the registry, or the simulator in package dirsim)
// with inputs — a membership view, a message from a peer, a client
// request, a tick of logical time, the outcome of an effect — and hands
// back, from Ready, the messages to send and the effects to carry out
// (start, stop, pause or forward a local process; reply to a client).
// Everything a Node decides is a function of its inputs, so a seeded
// simulator can replay any schedule of faults exactly.
//
// # Partitions and preference lists
//
// A name hashes to one of a fixed number of partitions (Config.Partitions,
// the same on every node). Each partition has a preference list computed
// by rendezvous hashing over the members a node sees (leaving ones left
// out): the first is the partition's primary, the next Config.Replicas
// hold copies.
//
//	name ──hash──▶ partition 517 ──rendezvous(members)──▶ [B, D, A, C]
//	                                                       │  └ replica (k = 1)
//	                                                       └ primary: authoritative records,
//	                                                         runs the processes
//
// # Records, registrations and instances
//
// A record maps a name to its registration (a RegID, fixed from Register
// to Unregister), its spec and groups, and the instance that runs it (a
// process on a node incarnation, NodeID + process id) with a generation
// that grows each time the primary points the record at another instance
// (moved, restarted). Unregistering, a process's own exit and losing a
// conflict turn the registration into a tombstone, kept for
// Config.TombstoneTicks, so that a stale copy never brings it back.
//
// # Replication
//
// The primary of a partition streams its changes to the partition's
// replicas, numbered, under a stream id (the primary's incarnation and an
// epoch that grows each time it takes the partition). A replica applies
// the next number only; a gap, a duplicate of the past or an unknown
// stream makes it ask for a snapshot. A digest sent every DigestTicks
// (stream, number, and an order-free hash of the records) finds what a
// lost last message hid. Snapshots and handovers travel in chunks bounded
// by bytes, each carrying its index and the total; a copy is applied only
// whole. A registration or unregistration is acknowledged once every
// replica in the primary's view has acknowledged it.
//
// # Taking a partition over, and merging
//
// When a node becomes a partition's primary it gathers: it asks every
// member it sees for what it holds of the partition, and serves once all
// have answered (or GatherTicks have passed). A node that holds a copy it
// is no longer primary or replica of pushes it to the primary it sees
// and drops it only when that primary acknowledged it. A primary merges
// whatever reaches it, at any time, with one rule that is commutative,
// associative and idempotent (a join): tombstones are a union; for each
// name the record kept is the best of those not tombstoned — the smaller
// registration id, then the higher generation, then the smaller instance
// — and the registrations that lost are tombstoned. A registration's
// groups merge on their own, by their version: the copy that moved or
// restarted the process (a higher generation) does not undo a join or
// leave the other copy saw. The node running a process keeps the
// record's groups too (the primary's answer to its report carries them
// when they changed), so they survive the loss of every copy. A netsplit therefore
// heals the same way whatever order the copies arrive in.
//
// # Processes follow their records
//
// The primary runs the processes of its partitions. It restarts a record
// whose instance is on a node incarnation it no longer sees (a crash, or
// a node that came back at the same address as a new incarnation), asks
// the node of an instance elsewhere to hand it over with its state (the
// instance may answer stay; the record points at the new process only
// once the old node has retired the old one and confirmed it, see
// move.go), and checks now and then that remote instances still run. Every node reports the instances it runs that its
// primaries may not know of; the primary answers keep, lose (to the
// record's instance: the loser's state goes to the winner's conflict hook
// once, sent by the loser's node to the first winner a primary approved;
// the loser stays paused, sending again, until the winner's node
// acknowledges it, then stops and forwards) or stop (its registration is
// dead). So any duplicate — both sides of a netsplit, a process that
// stayed, a failed handoff — is found and resolved to one.
//
// # Netsplits
//
// Each side of a split serves every partition (its own primaries take the
// other side's partitions over and restart their processes), unless
// Config.Quorum is set: then a node serves only while it sees at least
// that many members. On heal, the ex-primaries push their copies, the
// merge picks one record per name, and the reports resolve the extra
// processes.
//
// # Checkpoints
//
// A process of a kind that checkpoints (Spec.Checkpoints) sends its state
// to its name's primary after the messages it handles (Node.Checkpoint);
// the primary keeps the newest of the name's process in the record, where
// the stream copies it to the replicas, and answers once they have it. A
// name whose process is gone restarts from the record's checkpoint, and a
// move's state becomes the record's checkpoint. When two copies of a
// record meet, the checkpoints the winner's state does not hold are kept
// as orphans and merged into the name's process once the process they
// belong to is gone for good. See ckpt.go.
//
// # Wire form
//
// Records and the stream's MsgOps and MsgAck encode themselves
// (encoding.BinaryMarshaler, wire.go): they are most of the traffic, and
// a form written for them costs a fraction of a generic one. Every part
// is length-prefixed, so a later release may append fields that this one
// skips.
package directory

// The host's contract (what the registry, or the simulator, must do):
//
//   - Call every method from one goroutine (or under one lock); call
//     Ready after each and carry out what it returns, messages and
//     effects, in order.
//   - Call SetView with the live members (name and incarnation) once
//     membership has settled at start, and on every change; Tick every
//     100 ms or so (Config's timings are in ticks).
//   - Deliver each message with its sender's NodeID; drop messages from
//     or to incarnations that are gone. Messages may be lost, duplicated
//     or reordered (the rules resync); links that keep each sender's
//     order make it cheaper.
//   - Start: spawn the process (from State if Restore, through its
//     end-handoff hook) and report Started(token, id) or
//     StartFailed(token). Process ids must never repeat within an
//     incarnation.
//   - Pause: ask the process for its handoff (its begin-handoff hook, in
//     its own turn) and report Paused with the action and encoded state;
//     Resume and Forward end the pause. Forward retires the process:
//     what it holds and what is sent to it later goes to To.
//   - Resolve: give the state to the winner's conflict hook.
//   - Flush: have the process checkpoint now (its kind checkpoints).
//   - Checkpoint: after a checkpointing process handles a message, send
//     its state with the conflict losers it merged since its last
//     acknowledged checkpoint; one in flight at a time, sent again
//     (with the next state) after ErrTimeout, ErrNoPrimary or ErrBusy.
//   - Stop: stop the process; Exited must not be reported for it.
//   - Exited: report a process that ended by itself.
//   - Reply: answer the client request; a request not answered within
//     RequestTicks gets ErrTimeout (it may still have taken effect).
