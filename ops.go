package shoal

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// The registry's operations, from any node: names are cluster-wide, and a
// name's process runs on the node that owns its partition. Errors wrap the
// registry's (registry.ErrNotFound, registry.ErrUnavailable, ...).

// ErrNoRegistry is returned by the registry's operations on a node started
// WithoutRegistry.
var ErrNoRegistry = errors.New("shoal: this node has no registry (started WithoutRegistry)")

// registry returns the node's registry, or ErrNoRegistry naming op.
func (n *Node) registry(op string) (*registry.Registry, error) {
	if n.reg == nil {
		return nil, fmt.Errorf("%s on node %s: %w", op, n.cfg.Name, ErrNoRegistry)
	}
	return n.reg, nil
}

// Register starts a process from spec under name on the node that owns
// the name, unless name is registered already: then it returns the
// existing process's ref and does nothing else.
func (n *Node) Register(ctx context.Context, name string, spec process.Spec) (process.Ref, error) {
	reg, err := n.registry("register")
	if err != nil {
		return process.Ref{}, err
	}
	return reg.Register(ctx, name, spec)
}

// Unregister stops the process registered under name (its Terminate hook
// runs after the messages already sent to it) and waits until the name is
// free.
func (n *Node) Unregister(ctx context.Context, name string) error {
	reg, err := n.registry("unregister")
	if err != nil {
		return err
	}
	return reg.Unregister(ctx, name)
}

// Whereis returns the ref of the process registered under name.
func (n *Node) Whereis(ctx context.Context, name string) (process.Ref, error) {
	reg, err := n.registry("whereis")
	if err != nil {
		return process.Ref{}, err
	}
	return reg.Whereis(ctx, name)
}

// Call calls the process registered under name and waits for its reply,
// following it if it moves meanwhile.
func (n *Node) Call(ctx context.Context, name string, msg any) (any, error) {
	reg, err := n.registry("call")
	if err != nil {
		return nil, err
	}
	return reg.Call(ctx, name, msg)
}

// Cast sends msg to the HandleCast of the process registered under name,
// without waiting for it to be handled.
func (n *Node) Cast(ctx context.Context, name string, msg any) error {
	reg, err := n.registry("cast")
	if err != nil {
		return err
	}
	return reg.Cast(ctx, name, msg)
}

// Send sends msg to the HandleInfo of the process registered under name.
func (n *Node) Send(ctx context.Context, name string, msg any) error {
	reg, err := n.registry("send")
	if err != nil {
		return err
	}
	return reg.Send(ctx, name, msg)
}

// JoinGroup adds the registered name to group; the membership ends when
// the name is unregistered or its process exits.
func (n *Node) JoinGroup(ctx context.Context, group, name string) error {
	reg, err := n.registry("join")
	if err != nil {
		return err
	}
	return reg.Join(ctx, group, name)
}

// LeaveGroup removes name from group.
func (n *Node) LeaveGroup(ctx context.Context, group, name string) error {
	reg, err := n.registry("leave")
	if err != nil {
		return err
	}
	return reg.Leave(ctx, group, name)
}

// GroupMembers returns the members of group, sorted by name.
func (n *Node) GroupMembers(ctx context.Context, group string) ([]registry.Member, error) {
	reg, err := n.registry("members")
	if err != nil {
		return nil, err
	}
	return reg.Members(ctx, group)
}

// Publish casts msg to every member of group and returns how many it
// reached.
func (n *Node) Publish(ctx context.Context, group string, msg any) (int, error) {
	reg, err := n.registry("publish")
	if err != nil {
		return 0, err
	}
	return reg.Publish(ctx, group, msg)
}

// MultiCall calls every member of group with msg and returns one reply
// per member, in name order.
func (n *Node) MultiCall(ctx context.Context, group string, msg any) ([]registry.Reply, error) {
	reg, err := n.registry("multicall")
	if err != nil {
		return nil, err
	}
	return reg.MultiCall(ctx, group, msg)
}

// Inspect says where name's process runs and what it holds (shoal
// inspect).
func (n *Node) Inspect(ctx context.Context, name string) (registry.Inspection, error) {
	reg, err := n.registry("inspect")
	if err != nil {
		return registry.Inspection{}, err
	}
	return reg.Inspect(ctx, name)
}
