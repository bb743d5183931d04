package registry

import (
	"time"

	"github.com/shoalhq/shoal/registry/internal/directory"
)

// SetSyncChunk makes full lists go in chunks of n records, and returns a
// function that restores the default. Call it before starting nodes.
func SetSyncChunk(n int) (restore func()) {
	old := syncChunk
	syncChunk = n
	return func() { syncChunk = old }
}

// SetResyncEvery sets how often a registry checks for peers it has no full
// list from, and returns a function that restores the default. Call it
// before starting nodes.
func SetResyncEvery(d time.Duration) (restore func()) {
	old := resyncEvery
	resyncEvery = d
	return func() { resyncEvery = old }
}

// Owner returns the node that runs name in this registry's view: the
// primary of its partition (partitioned directory), or its placement
// owner ("" if none).
func (r *Registry) Owner(name string) string {
	if r.dir != nil {
		r.dir.mu.Lock()
		defer r.dir.mu.Unlock()
		id, _ := r.dir.node.PrimaryOf(name)
		return id.Name
	}
	owner, _ := r.cl.owner(name)
	return owner
}

// Partitioned reports whether the registry runs the partitioned directory.
func (r *Registry) Partitioned() bool { return r.dir != nil }

// Systems returns the number of system processes the registry runs.
func (r *Registry) Systems() int {
	if r.dir != nil {
		return 2
	}
	return SystemProcesses
}

// PartitionOf returns name's partition under the partitioned directory.
func (r *Registry) PartitionOf(name string) int {
	return directory.PartitionOf(name, r.dir.node.Partitions())
}
