package registry

import (
	"context"
	"sync"
	"time"

	"github.com/shoalhq/shoal/process"
)

// refCache remembers where names whose primary is another node were last
// found, so that calls by name go straight to the process instead of
// asking its primary every time. An entry may be stale: the process moved
// (its old incarnation forwards for process.ForwardFor, longer than an
// entry lives), lost a conflict (it forwards too) or ended. Callers drop
// the entry and ask the primary again when a send finds no process, and
// the whole cache is dropped on every membership change, when processes
// move. A node that drains says so first: the entries naming it go then,
// and none is made while it drains (it stops once its processes have
// moved, and membership may report it gone only after that).
type refCache struct {
	ttl time.Duration
	max int

	mu   sync.Mutex
	refs map[string]cachedRef
}

type cachedRef struct {
	ref process.Ref
	at  time.Time
}

// refCacheTTL is how long an entry is used; it must stay well below
// process.ForwardFor.
const refCacheTTL = 5 * time.Second

// refCacheMax bounds the entries; past it the cache starts over.
const refCacheMax = 1 << 17

func newRefCache(ttl time.Duration, max int) *refCache {
	return &refCache{ttl: ttl, max: max, refs: map[string]cachedRef{}}
}

// get returns the ref cached for name, if it is fresh.
func (c *refCache) get(name string, now time.Time) (process.Ref, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.refs[name]
	if !ok {
		return process.Ref{}, false
	}
	if now.Sub(e.at) >= c.ttl {
		delete(c.refs, name)
		return process.Ref{}, false
	}
	return e.ref, true
}

// put remembers ref for name.
func (c *refCache) put(name string, ref process.Ref, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.refs) >= c.max {
		c.refs = map[string]cachedRef{}
	}
	c.refs[name] = cachedRef{ref: ref, at: now}
}

// drop forgets name, if it still maps to ref.
func (c *refCache) drop(name string, ref process.Ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.refs[name]; ok && e.ref == ref {
		delete(c.refs, name)
	}
}

// dropNode forgets the refs to processes on node.
func (c *refCache) dropNode(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, e := range c.refs {
		if e.ref.Node == node {
			delete(c.refs, name)
		}
	}
}

// clear forgets everything.
func (c *refCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs = map[string]cachedRef{}
}

// listFlights lets concurrent listings of the same group share one
// gathering from every node (a party's people list the rooms all the
// time). A caller joins a listing under way only if no write of this
// node's clients was answered since it began, so a client sees its own
// registrations.
type listFlights struct {
	mu      sync.Mutex
	flights map[string]*listFlight
	closed  bool // the host closes: no new flight (its WaitGroup waits)
}

type listFlight struct {
	writes  uint64
	done    chan struct{}
	entries []dirEntry // shared: read only
	err     error
}

// list returns the records of the partitions every node serves (of one
// group, if group is set), gathered once for the callers that overlap.
func (h *dirHost) list(ctx context.Context, group string) ([]dirEntry, error) {
	writes := h.writes.Load()
	h.lists.mu.Lock()
	if h.lists.closed {
		h.lists.mu.Unlock()
		return nil, errRegistryClosed
	}
	f := h.lists.flights[group]
	if f == nil || f.writes != writes {
		f = &listFlight{writes: writes, done: make(chan struct{})}
		if h.lists.flights == nil {
			h.lists.flights = map[string]*listFlight{}
		}
		h.lists.flights[group] = f
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			fctx, cancel := context.WithTimeout(h.ctx, listWait+time.Second)
			defer cancel()
			f.entries, f.err = h.listFresh(fctx, group)
			h.lists.mu.Lock()
			if h.lists.flights[group] == f {
				delete(h.lists.flights, group)
			}
			h.lists.mu.Unlock()
			close(f.done)
		}()
	}
	h.lists.mu.Unlock()
	select {
	case <-f.done:
		return f.entries, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
