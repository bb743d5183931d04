package registry

import (
	"sync/atomic"
	"time"
)

// Counts are what a node's registry has done since it started: the
// numbers behind the handoff, restart and conflict metrics and the live
// view's events.
type Counts struct {
	// Registered counts the processes started here for a new
	// registration.
	Registered uint64
	// Restarted counts the processes started here again because the
	// name's process was lost with its node (from the name's checkpoint
	// if it had one, else from its spec).
	Restarted uint64
	// MovedIn and MovedOut count the processes handed to this node, and
	// from it, with their state (a join, a drain, a rebalance).
	MovedIn, MovedOut uint64
	// ConflictsLost counts the processes here that lost their name to a
	// copy on another node (a netsplit healed); ConflictsMerged the
	// losers' states merged into a winner here.
	ConflictsLost, ConflictsMerged uint64
}

// counts are a registry's Counts, as they happen.
type counts struct {
	registered, restarted, movedIn, movedOut, conflictsLost, conflictsMerged atomic.Uint64
}

// Counts returns what this node's registry has done since it started.
func (r *Registry) Counts() Counts {
	c := &r.counts
	return Counts{
		Registered: c.registered.Load(), Restarted: c.restarted.Load(),
		MovedIn: c.movedIn.Load(), MovedOut: c.movedOut.Load(),
		ConflictsLost: c.conflictsLost.Load(), ConflictsMerged: c.conflictsMerged.Load(),
	}
}

// The operations Config.ObserveOp is told of.
const (
	OpRegister   = "register"
	OpUnregister = "unregister"
	OpWhereis    = "whereis"
	OpJoin       = "join"
	OpLeave      = "leave"
)

// observe tells Config.ObserveOp of an operation that began at began
// (zero: not observed).
func (r *Registry) observe(op string, began time.Time, err error) {
	if !began.IsZero() {
		r.observeOp(op, time.Since(began), err)
	}
}

// began returns the time an observed operation begins (zero when none is
// observed: the clock is not read).
func (r *Registry) began() time.Time {
	if r.observeOp == nil {
		return time.Time{}
	}
	return time.Now()
}

// PartitionStats are the registry partitions a node holds.
type PartitionStats struct {
	// Primary and Replica count the partitions this node serves and
	// copies; Gathering those it is to serve but does not answer for
	// yet (hearing out the other members' copies).
	Primary, Replica, Gathering int
	// Names counts the names in the partitions it serves.
	Names int
}

// Partitions returns the partitions this node holds; false for a
// single-node registry, which has none.
func (r *Registry) Partitions() (PartitionStats, bool) {
	if r.dir == nil {
		return PartitionStats{}, false
	}
	r.dir.mu.Lock()
	st := r.dir.node.Stats()
	r.dir.mu.Unlock()
	return PartitionStats{Primary: st.Primary, Replica: st.Replica, Gathering: st.Gathering, Names: st.Records}, true
}
