package registry

import (
	"github.com/shoalhq/shoal/registry/internal/directory"
)

// Owner returns the node that runs name in this registry's view: the
// primary of its partition ("" if none).
func (r *Registry) Owner(name string) string {
	r.dir.mu.Lock()
	defer r.dir.mu.Unlock()
	id, _ := r.dir.node.PrimaryOf(name)
	return id.Name
}

// Systems returns the number of system processes the registry runs.
func (r *Registry) Systems() int { return systemProcesses }

// PartitionOf returns name's partition.
func (r *Registry) PartitionOf(name string) int {
	return directory.PartitionOf(name, r.dir.node.Partitions())
}

// Holders returns the nodes holding name's partition in this registry's
// view: its primary, then its replicas.
func (r *Registry) Holders(name string) []string {
	r.dir.mu.Lock()
	defer r.dir.mu.Unlock()
	var out []string
	for _, id := range r.dir.node.Holders(name) {
		out = append(out, id.Name)
	}
	return out
}

// CheckpointSeq returns the number of the newest checkpoint this node
// holds of name's process as its primary (0: none, or not the primary).
func (r *Registry) CheckpointSeq(name string) uint64 {
	r.dir.mu.Lock()
	defer r.dir.mu.Unlock()
	rec, ok := r.dir.node.Lookup(name)
	if !ok || rec.Ckpt() == nil || rec.Ckpt().Inst != rec.Inst {
		return 0
	}
	return rec.Ckpt().Seq
}

// CheckpointSteps returns how many times the host has handed checkpoints
// to the machine (one step may carry many).
func (r *Registry) CheckpointSteps() uint64 { return r.dir.ckSteps.Load() }
