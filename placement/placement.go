// Package placement decides which node owns a registered name.
//
// The default Strategy is rendezvous (highest-random-weight) hashing: each
// (name, node) pair gets a pseudo-random weight and the node with the
// highest weight owns the name. Every node computes the same owner from the
// same member list, with no coordination; adding a node moves only the
// names the new node now wins (about 1/n of them), and removing one moves
// only the names it owned. It is as balanced as a consistent-hash ring with
// many virtual nodes, and simpler: there is no ring to rebuild, and the cost
// per lookup is one string hash plus one multiply-mix per member, which for
// the cluster sizes Shoal targets (tens of nodes) is a few tens of
// nanoseconds.
//
// Quorum wraps a strategy and refuses to place while fewer than a minimum
// number of nodes are visible (swarm's StaticQuorumRing): the minority side
// of a netsplit then stops creating processes rather than duplicating
// them.
//
// Hashes are fixed functions (FNV-1a and a SplitMix64 finaliser), not
// seeded per process, so every node of every version agrees.
package placement

import (
	"errors"
	"fmt"
	"slices"
)

var (
	// ErrNoMembers means there is no node to place on.
	ErrNoMembers = errors.New("no members to place on")
	// ErrNoQuorum means fewer nodes are visible than the quorum needs.
	ErrNoQuorum = errors.New("no quorum")
)

// Strategy picks the owner of a name among members. Implementations are
// pure functions of their inputs and safe for concurrent use.
type Strategy interface {
	// Table returns a lookup table for this member list (node names, any
	// order). Building it may cost O(members); lookups are then cheap.
	Table(members []string) (Table, error)
}

// Table answers owner lookups for one member list.
type Table interface {
	// Owner returns the member that owns name.
	Owner(name string) string
	// Members returns the member list, sorted.
	Members() []string
}

// Rendezvous is highest-random-weight hashing.
type Rendezvous struct{}

var _ Strategy = Rendezvous{}

// Table builds a rendezvous table.
func (Rendezvous) Table(members []string) (Table, error) {
	if len(members) == 0 {
		return nil, ErrNoMembers
	}
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	t := &rendezvousTable{members: ms, seeds: make([]uint64, len(ms))}
	for i, m := range ms {
		t.seeds[i] = mix(hashString(m) ^ 0x9e3779b97f4a7c15)
	}
	return t, nil
}

type rendezvousTable struct {
	members []string
	seeds   []uint64
}

func (t *rendezvousTable) Owner(name string) string {
	h := hashString(name)
	best, bestW := 0, uint64(0)
	for i, s := range t.seeds {
		if w := mix(h ^ s); w > bestW || i == 0 {
			best, bestW = i, w
		}
	}
	return t.members[best]
}

func (t *rendezvousTable) Members() []string { return slices.Clone(t.members) }

// Quorum refuses to place while fewer than Min members are visible, and
// otherwise delegates to Inner (Rendezvous if nil).
type Quorum struct {
	Min   int
	Inner Strategy
}

var _ Strategy = Quorum{}

// Table builds the inner strategy's table if there are enough members.
func (q Quorum) Table(members []string) (Table, error) {
	distinct := slices.Clone(members)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	if len(distinct) < q.Min {
		return nil, fmt.Errorf("%w: %d of %d nodes visible", ErrNoQuorum, len(distinct), q.Min)
	}
	inner := q.Inner
	if inner == nil {
		inner = Rendezvous{}
	}
	return inner.Table(distinct)
}

// hashString is 64-bit FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is the SplitMix64 finaliser: a bijection that spreads every input
// bit over the output.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
