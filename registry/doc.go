// Package registry maps names to processes and processes to groups: the
// registry of Shoal (swarm's job in the Elixir original).
//
// A name is registered with a process.Spec; the registry creates the
// process from the Spec and owns it from then on: when the process exits,
// its name and group memberships are removed. Registering a name that is
// already registered returns the process that holds it, so registration
// is idempotent and safe to race. Groups are sets of registered names;
// membership follows the name, not one incarnation of its process.
// Publish casts to every member; MultiCall calls every member.
//
// # Across a cluster: the partitioned directory
//
// With Config.Cluster the registry is cluster-wide. The rules live in the pure
// state machine of package registry/internal/directory, tested by the
// seeded fault simulator of package registry/internal/dirsim; this
// package hosts it on a node (dirhost.go): one lock around the machine,
// its messages batched per peer through the registry's endpoint process,
// its effects (start, pause, resume, forward, stop a process) carried out
// in order.
//
//	name ──hash──▶ partition p (of Config.Partitions, 1,024)
//	                   │
//	    rendezvous(p, live members, leaving ones left out)
//	                   ▼
//	   [ primary ,  replica 1 … replica k ,  others ]
//	       │            ▲
//	       │ ops, seq'd │ digest every 2 s (seq, hash of the records):
//	       └────────────┘ a gap or a mismatch asks for a snapshot
//	       │
//	       └─ holds the partition's records, answers requests for its
//	          names, runs their processes
//
// Partitions. A name hashes to a partition; each partition's preference
// list (rendezvous hashing over the live members) names its primary and
// Config.Replicas replicas (k, 1 by default). A node holds about
// (1 + k) / N of the names. Every node must use the same partition and
// replica counts: each message carries them, and a node that hears a
// peer with others leaves it out (each places names among its own kind),
// logs an error and is not Synced (not ready) while that peer is there.
// Whereis answers locally for partitions a node serves and asks the
// primary otherwise; calls by name go straight to the
// process, where a name was found being cached a few seconds (a stale
// entry finds no process, or a retired one that forwards, and is asked
// again). Registered, Members and MultiCall gather from the node serving
// each partition; one that has not heard every member out is skipped and
// asked again, so a listing is whole or an error. Groups are stored in the
// name's record (so they move, replicate and merge with it) and indexed
// per partition, so listing a group costs its size.
//
// Replication. The primary streams each change to the replicas, numbered
// under a stream id (its incarnation and an epoch); a replica applies the
// next number only and asks for a snapshot on a gap or an unknown stream.
// Transfers are cut by bytes, each chunk carrying its index and the total;
// a registration too large for one message fails alone with ErrTooLarge.
//
// Incarnations. Every start of a node has a fresh incarnation (a random
// boot id in its membership metadata, in every record and message). A
// node restarted at the same name and address is a new incarnation: the
// processes of the old one are restarted from their specs, as after a
// crash, and messages for the old one are dropped.
//
// Topology changes. A join or a drain moves only the partitions whose
// preference list changed: the new primary gathers every member's copy
// (merged by the rule below; a member counts as heard out only by its
// answer to this gather, which holds its processes too; a copy given to a
// node that turns out not to be the primary is kept there and by the
// giver, until the primary acknowledges it), then asks the node running
// each process to
// hand it over (pause, state, start at the primary, forward from the old
// one: calls meanwhile wait and follow, in order). A death promotes a
// replica, which restarts the dead node's processes from their specs.
//
// Order across a move: what waited in the old process's mailbox, and what
// reaches it later, goes on to the new one in the order it arrived. The
// record points at the new process only once the old node has retired
// the old one and confirmed it, after that backlog, on the same link: a
// sender whose lookup finds the new home finds it behind everything the
// old one had received. (A cast still in flight to the old node when the
// sender looks again can still be overtaken; a sender that only calls is
// not affected: it waits for each reply.) The confirmation also means a
// moved state never runs twice: a new process the old node did not
// retire into is stopped before it serves.
//
// Netsplits. Each side serves every partition (unless Config.Quorum is
// set: then a node serves only while it sees that many members). On heal
// the primaries hear out the members they did not see, and merge copies
// with one commutative, associative, idempotent rule: tombstones are a
// union; per name the record kept is the one with the smaller
// registration id, then the higher generation, then the smaller instance,
// then the later group change. Requests for names a partition lacks wait
// until every member's copy is in (a "not found" could otherwise hide a
// copy on its way). Every node reports the processes it runs to their
// primaries, which answer keep, lose (the loser's state goes once to the
// winner's ResolveConflict, with a process.Conflict saying where each copy
// ran: node, incarnation, process id, version, and whether both descend
// from one registration) or stop: so
// every duplicate, from a split, a process that stayed or a failed
// handoff, is resolved to one. A loser's state is merged once: the
// primary records the merge in the name's record, then the loser's node
// sends the state to the winner that the first approval named and to no
// other (two primaries whose views differ for a moment may each approve
// it); a state that came inside another loser's is never sent again; a
// loser told to lose to a process on a node now out of reach waits
// (paused) until that node is back or surely gone (the merge may have
// happened on the other side of the split), at most 64 resends, then
// merges into the name's process with a warning in the log (if that
// winner, or a process it moved to, lives on, the state is now held
// twice: availability over exactness, and the one case the simulator
// allows); a process restarted from its spec holds no loser's state; and
// a process whose state went to another copy is never made the winner
// again.
//
// Checkpoints. A process of a kind that checkpoints (process.KindOptions)
// hands its state to the host after the messages it handles (the host is
// its process.CheckpointSink, dirckpt.go); the host encodes it (with its
// state version) and asks the name's primary to keep it in the record,
// answered once every live replica has it (sync mode waits for that
// answer before the call's reply). An async checkpoint waits up to a
// tenth of its interval (at most 20 ms) for others, so that those of many
// processes go to the primaries, and on to the replicas, together. The
// primary keeps a checkpoint only
// from the name's current process and only if its number is higher. A
// name whose process is gone (its node died, or came back as a new
// incarnation) restarts from the record's checkpoint through EndHandoff,
// holding the conflict losers that checkpoint holds; a move's state
// becomes the record's checkpoint. When copies of a record meet after a
// split, the winner keeps its lineage's checkpoint and each other copy's
// that it does not hold as an orphan, merged into the name's process (its
// ResolveConflict) once the orphan's process is gone for good. A state
// this node cannot decode is left where it is (StartFailed): the old
// process carries on, or the checkpoint waits in the record; a conflict
// loser's state that it cannot decode is not taken (the machine asks the
// host first, Config.Decodable): the loser keeps it and sends it again.
// A registry without a cluster has nowhere to checkpoint to: its
// processes run without.
package registry
