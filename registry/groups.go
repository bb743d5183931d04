package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Groups: named sets of registered names, for publish and multi-call.

// Join adds the registered name to group. Joining twice is not an error.
// The membership ends when the name is unregistered or its process exits.
func (r *Registry) Join(ctx context.Context, group, name string) (err error) {
	if began := r.began(); !began.IsZero() {
		defer func() { r.observe(OpJoin, began, err) }()
	}
	return r.changeGroup(ctx, group, name, true)
}

// Leave removes name from group. Leaving a group one is not in is not an
// error.
func (r *Registry) Leave(ctx context.Context, group, name string) (err error) {
	if began := r.began(); !began.IsZero() {
		defer func() { r.observe(OpLeave, began, err) }()
	}
	return r.changeGroup(ctx, group, name, false)
}

func (r *Registry) changeGroup(ctx context.Context, group, name string, join bool) error {
	if r.dir != nil {
		return r.dirGroup(ctx, group, name, join)
	}
	op := "leave"
	if join {
		op = "join"
	}
	if group == "" {
		return fmt.Errorf("%s: %w: empty group", op, ErrInvalidName)
	}
	t, err := r.resolve(ctx, name)
	if err != nil {
		if !join && errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("%s %q: %w", op, group, err)
	}
	sh := r.shard(name)
	sh.mu.Lock()
	e, ok := sh.entries[name]
	if !ok || e.proc != t.proc {
		sh.mu.Unlock()
		if join {
			return fmt.Errorf("%s %q: %q: %w", op, group, name, ErrNotFound)
		}
		return nil
	}
	groups := slices.Clone(e.groups)
	if i := slices.Index(groups, group); join && i < 0 {
		groups = append(groups, group)
	} else if !join && i >= 0 {
		groups = slices.Delete(groups, i, i+1)
	} else {
		sh.mu.Unlock()
		return nil
	}
	r.setGroupsLocked(name, e, groups)
	sh.mu.Unlock()
	return nil
}

func (r *Registry) removeMemberLocked(group, name string) {
	members := r.groups[group]
	delete(members, name)
	if len(members) == 0 {
		delete(r.groups, group)
	}
}

// Members returns the members of group, sorted by name.
func (r *Registry) Members(ctx context.Context, group string) ([]Member, error) {
	if r.dir != nil {
		return r.dirMembers(ctx, group)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("members of %q: %w", group, err)
	}
	r.groupsMu.RLock()
	names := make([]string, 0, len(r.groups[group]))
	for name := range r.groups[group] {
		names = append(names, name)
	}
	r.groupsMu.RUnlock()
	slices.Sort(names)
	out := make([]Member, 0, len(names))
	for _, name := range names {
		sh := r.shard(name)
		sh.mu.RLock()
		if e, ok := sh.entries[name]; ok && e.started() {
			out = append(out, Member{Name: name, Ref: e.ref})
		}
		sh.mu.RUnlock()
	}
	return out, nil
}

// Groups returns the names of all non-empty groups, sorted.
//
// With the partitioned directory it asks every node, for at most 10 s,
// and returns nil if that fails.
func (r *Registry) Groups() []string {
	if r.dir != nil {
		ctx, cancel := context.WithTimeout(context.Background(), listWait)
		defer cancel()
		out, err := r.dirGroups(ctx)
		if err != nil {
			r.log.Debug("registry: groups", "err", err)
		}
		return out
	}
	r.groupsMu.RLock()
	defer r.groupsMu.RUnlock()
	return slices.Sorted(maps.Keys(r.groups))
}

// Publish casts msg to every member of group and returns how many members
// it reached. Members that exit meanwhile are skipped.
func (r *Registry) Publish(ctx context.Context, group string, msg any) (int, error) {
	members, err := r.Members(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	n := 0
	for _, m := range members {
		if err := r.Cast(ctx, m.Name, msg); err == nil {
			n++
		}
	}
	return n, nil
}

// MultiCall calls every member of group with msg, several at a time, and
// returns one Reply per member in name order. A member that fails or times
// out has its Err set; MultiCall itself fails only if ctx ends before it
// could list the members.
func (r *Registry) MultiCall(ctx context.Context, group string, msg any) ([]Reply, error) {
	members, err := r.Members(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("multi-call: %w", err)
	}
	replies := make([]Reply, len(members))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(r.concurrency, len(members)) {
		wg.Go(func() {
			for i := range next {
				v, err := r.Call(ctx, members[i].Name, msg)
				replies[i] = Reply{Name: members[i].Name, Value: v, Err: err}
			}
		})
	}
	for i := range members {
		next <- i
	}
	close(next)
	wg.Wait()
	return replies, nil
}
