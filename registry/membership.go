package registry

import (
	"context"
	"errors"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

// endpointID is the system process id of every node's registry endpoint:
// the directory's messages between nodes go through it. Listings have an
// endpoint of their own, at endpointID+1, and operators' inspections and
// drains another, at endpointID+2.
const endpointID = 1

// systemProcesses is the number of system processes a cluster-wide
// registry runs on its node (the endpoint, the listing endpoint and the
// operator endpoint).
const systemProcesses = 3

// ErrConflict is the exit reason of a process that lost a name to a copy on
// another node (after a netsplit healed, or registrations raced across
// differing views).
var ErrConflict = errors.New("name registered on two nodes; this copy lost")

// ErrNotSynced is returned by Synced while this node's directory is not
// whole yet, and ErrDraining once it is handing its processes off.
var (
	ErrNotSynced = errors.New("registry not yet synced")
	ErrDraining  = errors.New("registry draining: this node is leaving")
)

// Membership is what the registry needs of the cluster; *cluster.Cluster
// implements it.
type Membership interface {
	// Name returns this node's name.
	Name() string
	// Nodes returns the other live members.
	Nodes() []string
	// Subscribe returns a subscription to node events.
	Subscribe() cluster.Subscription
	// Incarnation returns this start of the node's id (random, not 0).
	Incarnation() uint64
	// Members returns every member known, this node included, with its
	// status and incarnation.
	Members() []cluster.Member
}

var _ Membership = (*cluster.Cluster)(nil)

// RegisterTypes registers the registry's wire types in c. New does it for
// Config.Codec (unless they are there already): call it only for a codec
// that must decode the registry's messages without a registry, such as a
// tool reading captured traffic.
func RegisterTypes(c *codec.Codec) error {
	return registerDirTypes(c)
}

// registerTypesOnce registers the registry's types in c unless they are
// there already.
func registerTypesOnce(c *codec.Codec) error {
	if _, ok := c.Name(dirWire{}); ok {
		return nil
	}
	return RegisterTypes(c)
}

// Close stops the registry's cluster work (the endpoints stop with the
// runtime). A single-node registry has nothing to close.
func (r *Registry) Close() error {
	if r.dir != nil {
		r.dir.close()
	}
	return nil
}

// Synced reports whether this node's part of the directory is whole: it
// has applied the membership it sees, serves every partition it leads
// (having heard every live member's copy of it), every replica of those
// has acknowledged all of it, and it is not draining. A readiness probe
// uses it. A single-node registry is always synced. The error wraps
// ErrNotSynced (saying what it waits for) or ErrDraining.
func (r *Registry) Synced() error {
	if r.dir == nil {
		return nil
	}
	return r.dir.synced()
}

// Drain hands every process on this node off to the nodes that will
// serve their partitions once it is gone, and from then on places nothing
// here: call it before leaving the cluster (on SIGTERM). It returns when
// no process and no copy is left to hand over, or with an error when ctx
// ends first (what is left is restarted from its spec by its new primary
// once this node has gone). A single-node registry has nothing to drain.
func (r *Registry) Drain(ctx context.Context) error {
	if r.dir == nil {
		return nil
	}
	return r.dir.drain(ctx)
}

// endpointRef is the registry endpoint of node.
func endpointRef(node string) process.Ref { return process.Ref{Node: node, ID: endpointID} }
