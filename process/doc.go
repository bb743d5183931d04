// Package process is Shoal's process runtime: Go values with private state
// and a mailbox, whose messages are handled one at a time.
//
// A process is created from a Spec (a kind name plus serialised arguments)
// through a Kinds table that every node of a cluster holds, so any node can
// create, or later re-create, the same process. Four kinds of message reach
// it:
//
//   - call: synchronous, the caller waits for a reply or its context's end;
//   - cast: asynchronous, no reply;
//   - info: asynchronous, usually sent by the process to itself, including
//     timers set with Self.SendAfter;
//   - stop: the process runs its Terminate hook, if any, and exits.
//
// Messages from one sender to one process are handled in the order they were
// sent. A panic in a handler stops only that process: the panic is logged
// with its stack, the caller whose message caused it receives a *PanicError,
// and the node and every other process go on.
//
// # Why not a goroutine per process
//
// An idle process holds no goroutine: it is a small struct with an empty
// mailbox. Sending to an idle process starts one goroutine (an activation)
// that drains the mailbox and ends when it is empty. This keeps a million
// idle processes within a few hundred megabytes, where a parked goroutine
// alone would cost at least 2 KiB of stack each. The runtime is written here
// rather than taken from an actor library because it is the product: its
// memory per idle process, spawn rate and message paths are what Shoal is
// measured on (see BENCHMARKS.md).
//
// # State that outlives the process
//
// A process keeps its state when its name moves to another node (the
// Handoffer and HandoffReceiver hooks) and, if its kind checkpoints
// (KindOptions.Checkpoints, the Checkpointer hook), when its node
// crashes: after the messages it handles its state goes to a
// CheckpointSink (the registry keeps it on the replicas of the name's
// partition), synchronously (a call's reply waits for it) or at most once
// per interval. Reminders set with Self.Remind travel with the state;
// timers set with Self.SendAfter stay with the process. A state carries
// the version of its format (StateVersioner), so that a newer build can
// migrate an older one's.
//
// # References
//
// A Ref names a process by node and a 64-bit id; it is a plain comparable
// value that can be serialised, so later it can point at a process on
// another node. A *Process is the local handle behind a Ref.
package process
