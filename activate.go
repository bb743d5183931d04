package shoal

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// Handle reaches a named process that is started on demand (virtual
// activation, as in Orleans and Proto.Actor's cluster): a call, cast or
// send through it to a name that is not registered registers it from the
// handle's Spec, once cluster-wide however many callers race to it, on
// the node that owns the name, then delivers the message. A Handle is a
// small value: make one per use or keep it, from any node.
type Handle struct {
	node *Node
	name string
	spec process.Spec
}

// Get returns a handle on the process registered under name, started
// from spec when a message finds the name free.
func (n *Node) Get(name string, spec process.Spec) Handle {
	return Handle{node: n, name: name, spec: spec}
}

// Name is the name the handle reaches.
func (h Handle) Name() string { return h.name }

// activations bounds how often one message activates its name: the name
// can be unregistered again (its process stopped) between the activation
// and the delivery.
const activations = 3

// deliver runs op, activating the name first if op finds it free.
func deliver[T any](ctx context.Context, h Handle, what string, op func(*registry.Registry) (T, error)) (T, error) {
	var zero T
	reg, err := h.node.registry(what)
	if err != nil {
		return zero, err
	}
	for try := 1; ; try++ {
		v, err := op(reg)
		if !errors.Is(err, registry.ErrNotFound) || try > activations {
			return v, err
		}
		if _, err := reg.Register(ctx, h.name, h.spec); err != nil {
			return zero, fmt.Errorf("%s %q: activate (kind %q) from node %s: %w", what, h.name, h.spec.Kind, h.node.cfg.Name, err)
		}
	}
}

// Call calls the process, activating it first if its name is free.
func (h Handle) Call(ctx context.Context, msg any) (any, error) {
	return deliver(ctx, h, "call", func(r *registry.Registry) (any, error) { return r.Call(ctx, h.name, msg) })
}

// Cast casts msg to the process, activating it first if its name is free.
func (h Handle) Cast(ctx context.Context, msg any) error {
	_, err := deliver(ctx, h, "cast", func(r *registry.Registry) (struct{}, error) { return struct{}{}, r.Cast(ctx, h.name, msg) })
	return err
}

// Send sends msg to the process's HandleInfo, activating it first if its
// name is free.
func (h Handle) Send(ctx context.Context, msg any) error {
	_, err := deliver(ctx, h, "send", func(r *registry.Registry) (struct{}, error) { return struct{}{}, r.Send(ctx, h.name, msg) })
	return err
}
