package dirsim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shoalhq/shoal/registry/internal/directory"
)

// Scripted scenarios: each replays, fault by fault, one of the ways the
// first registry lost or duplicated names (issue 10, problems 1-6), with
// no random fault besides. They end as the random schedules do (quiesce,
// then every invariant of check), and each adds the figure its problem
// was about: how long names took to come back, what a node lists, what a
// too big request got. A step is one tick of the state machine (100 ms
// in the registry by default); a message takes one.

// scenario is a scripted schedule.
type scenario struct {
	*Sim
	t *testing.T
}

func newScenario(t *testing.T, nodes, names, replicas int) *scenario {
	t.Helper()
	s := New(Options{Nodes: nodes, MaxNodes: nodes + 2, Names: names, Partitions: 16, Replicas: replicas,
		Settle: 3000, Trace: true, Strict: true, Seed: uint64(len(t.Name()))})
	s.replies = map[uint64]directory.Reply{}
	sc := &scenario{Sim: s, t: t}
	t.Cleanup(func() {
		if t.Failed() {
			tr := s.trace
			if len(tr) > 400 {
				tr = tr[len(tr)-400:]
			}
			t.Logf("last %d lines of the trace:\n%s", len(tr), strings.Join(tr, "\n"))
		}
	})
	return sc
}

// host returns the i-th node.
func (sc *scenario) host(i int) *host { return sc.hosts[sc.order[i]] }

// do makes a request at h and runs until it is answered.
func (sc *scenario) do(h *host, op directory.ReqOp, name string, spec directory.Spec) directory.Reply {
	sc.t.Helper()
	req := sc.request(h, op, name, spec)
	for range 2 * requestTicks {
		if r, ok := sc.replies[req]; ok {
			return r
		}
		sc.step(false)
	}
	sc.t.Fatalf("%v %s at %v: no answer", op, name, h.id)
	return directory.Reply{}
}

// registerAll registers every name of the pool, from each node in turn,
// each with a spec of size bytes at least.
func (sc *scenario) registerAll(size int) {
	sc.t.Helper()
	live := sc.live()
	for i, name := range sc.poolNames() {
		args := []byte(name + strings.Repeat(".", max(0, size-len(name))))
		if r := sc.do(live[i%len(live)], directory.ReqRegister, name, directory.Spec{Kind: "k", Args: args}); r.Err != nil {
			sc.t.Fatalf("register %s: %v", name, r.Err)
		}
	}
}

// settle runs until nothing has been under way for 30 steps.
func (sc *scenario) settle() {
	sc.t.Helper()
	calm := 0
	if _, ok := sc.until(func() bool {
		if !sc.quiet() {
			calm = 0
			return false
		}
		calm++
		return calm > 30
	}, sc.opt.Settle); !ok {
		sc.t.Fatalf("not quiet after %d steps", sc.opt.Settle)
	}
}

func (sc *scenario) quiet() bool { return !sc.busy() }

// until runs until cond holds, at most max steps; it returns the steps
// it took.
func (sc *scenario) until(cond func() bool, max int) (int, bool) {
	for i := range max {
		if cond() {
			return i, true
		}
		sc.step(false)
	}
	return max, cond()
}

// converged reports whether check would pass now: one process per name,
// the record's, every node agreeing, nothing lost or back from the dead.
func (sc *scenario) converged() bool {
	before := len(sc.failure)
	sc.check()
	ok := len(sc.failure) == before
	sc.failure = sc.failure[:before]
	return ok
}

// split cuts the nodes off from the rest.
func (sc *scenario) split(side ...*host) {
	for _, h := range side {
		h.group = 1
	}
	sc.logf("partition %v", groups(sc.live()))
	sc.membershipChanged()
}

// finish quiesces and fails the test on any broken invariant.
func (sc *scenario) finish() {
	sc.t.Helper()
	sc.quiesce()
	if len(sc.failure) > 0 {
		sc.t.Fatalf("invariants broken:\n  %s", strings.Join(sc.failure, "\n  "))
	}
}

// runs returns the names whose processes h runs.
func (h *host) runs() []string {
	var out []string
	for _, id := range sortedIDs(h.procs) {
		out = append(out, h.procs[id].name)
	}
	return out
}

// Problem 1: a node killed and started again at once, at the same name
// and address (a container restarted in place). Membership sees no
// down/up, only a new incarnation; what the old one ran must come back,
// everywhere, soon.
func TestScenarioRestartInPlace(t *testing.T) {
	sc := newScenario(t, 3, 60, 1)
	sc.registerAll(0)
	sc.settle()
	victim := sc.host(0)
	for _, h := range sc.live() {
		if len(h.procs) > len(victim.procs) {
			victim = h
		}
	}
	lost := victim.runs()
	if len(lost) == 0 {
		t.Fatal("the victim runs nothing")
	}
	sc.crashHost(victim, true)
	steps, ok := sc.until(sc.converged, 1000)
	if !ok {
		t.Fatalf("%d names run on %v before its restart; not all back after %d steps", len(lost), victim.id, steps)
	}
	t.Logf("%d names of the restarted node back on every node in %d steps", len(lost), steps)
	if steps > 100 { // 10 s at the default tick
		t.Errorf("names took %d steps to come back, want at most 100", steps)
	}
	sc.finish()
}

// Problem 2: links fail while membership stays up, and what a primary
// sends its replicas is lost (here: the unregistrations). Once the links
// are back, the replicas must not keep the dead names, and no node may
// answer with them.
func TestScenarioLostUpdate(t *testing.T) {
	sc := newScenario(t, 3, 40, 2)
	sc.registerAll(0)
	sc.settle()
	a := sc.host(0)
	sc.cut = func(from, to *host, _ any) bool { return from == a || to == a }
	var ended []string
	dead := map[string]directory.Inst{}
	for _, name := range sc.poolNames() {
		if p, _ := a.dn.PrimaryOf(name); p == a.id {
			// The primary answers once its replicas have the change: they
			// cannot, so the client is told it timed out (it may still
			// have taken effect; here it did, at the primary).
			if r := sc.do(a, directory.ReqUnregister, name, directory.Spec{}); !errors.Is(r.Err, directory.ErrTimeout) {
				t.Fatalf("unregister %s with the links down: %v, want ErrTimeout", name, r.Err)
			}
			if rec, ok := sc.host(1).dn.Lookup(name); ok {
				dead[name] = rec.Inst
			}
			ended = append(ended, name)
		}
	}
	if len(ended) == 0 {
		t.Fatal("the cut node is primary of no name")
	}
	sc.until(func() bool { return false }, 50) // links down a while
	stale := sc.holders(ended)
	if stale == 0 {
		t.Fatal("no replica kept a name unregistered behind the cut links")
	}
	sc.cut = nil
	steps, ok := sc.until(func() bool { return sc.holders(ended) == 0 && sc.converged() }, 1000)
	if !ok {
		t.Fatalf("%d names unregistered while the links were down: still listed somewhere after %d steps", len(ended), steps)
	}
	t.Logf("%d names unregistered behind cut links (%d stale copies elsewhere): repaired in %d steps", len(ended), stale, steps)
	b := sc.host(1)
	for name, old := range dead { // registered again elsewhere: a new process, not the dead one
		r := sc.do(b, directory.ReqRegister, name, directory.Spec{Kind: "k"})
		if r.Err != nil || r.Answer.Inst == old {
			t.Fatalf("register %s again at %v: %v %v (the dead one was %v)", name, b.id, r.Answer.Inst, r.Err, old)
		}
	}
	sc.finish()
}

// holders counts the copies of names that nodes hold, in any form.
func (sc *scenario) holders(names []string) int {
	n := 0
	for _, h := range sc.live() {
		for p := range sc.opt.Partitions {
			h.dn.Held(p, func(name string, _ directory.RegID, _ directory.Holding) {
				if contains(names, name) {
					n++
				}
			})
		}
	}
	return n
}

// Problem 3: processes that answered "stay" when the ring moved them
// (and so run on a node that is not their primary), then a netsplit that
// puts their node on the other side. After the heal one copy of each
// name runs, everywhere the same.
func TestScenarioStayAndSplit(t *testing.T) {
	sc := newScenario(t, 3, 40, 1)
	runners := sc.stayOffPrimary()
	away := sortedKeys(runners)
	var where *host
	for _, name := range away {
		where = runners[name]
	}
	if len(away) == 0 {
		t.Fatal("no process stayed off its primary")
	}
	sc.stays = nil
	sc.split(where)
	sc.until(func() bool { return false }, 300) // each side restarts what the other ran
	dup := 0
	for _, name := range away {
		n := 0
		for _, h := range sc.live() {
			if slices := h.runs(); contains(slices, name) {
				n++
			}
		}
		if n > 1 {
			dup++
		}
	}
	sc.heal()
	steps, ok := sc.until(sc.converged, 1000)
	if !ok {
		t.Fatalf("not one copy per name %d steps after the heal", steps)
	}
	t.Logf("%d names off their primary, %d running twice in the split: one copy each %d steps after the heal", len(away), dup, steps)
	sc.finish()
}

// stayOffPrimary registers every name, then adds a node: the ring moves
// a share of the names, and each of their processes answers stay. It
// returns the names run off their primary, with the node running each.
func (sc *scenario) stayOffPrimary() map[string]*host {
	sc.stays = func(string) bool { return true }
	sc.registerAll(0)
	sc.settle()
	sc.addNode()
	sc.membershipChanged()
	sc.settle()
	away := map[string]*host{}
	for _, h := range sc.live() {
		for _, name := range h.runs() {
			if p, _ := h.dn.PrimaryOf(name); p != h.id {
				away[name] = h
			}
		}
	}
	return away
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Problem 4: a heal after each side registered, moved and restarted
// names on its own. Every name answers, once, from every node, within
// 5 s of the heal (50 steps at the default tick).
func TestScenarioHealStall(t *testing.T) {
	sc := newScenario(t, 4, 60, 1)
	names := sc.poolNames()
	live := sc.live()
	for i, name := range names[:30] {
		sc.do(live[i%len(live)], directory.ReqRegister, name, directory.Spec{Kind: "k"})
	}
	sc.settle()
	sc.split(sc.host(2), sc.host(3))
	sc.until(func() bool { return false }, 100)
	for _, name := range names[30:] { // each side its own copy
		for _, h := range []*host{sc.host(0), sc.host(3)} {
			if r := sc.do(h, directory.ReqRegister, name, directory.Spec{Kind: "k"}); r.Err != nil {
				t.Fatalf("register %s at %v during the split: %v", name, h.id, r.Err)
			}
		}
	}
	sc.settle()
	copies := map[string]int{}
	for _, h := range sc.live() {
		for _, name := range h.runs() {
			copies[name]++
		}
	}
	twice := 0
	for _, n := range copies {
		if n > 1 {
			twice++
		}
	}
	if twice < 30 {
		t.Fatalf("%d names run on both sides, want at least 30", twice)
	}
	sc.heal()
	steps, ok := sc.until(sc.converged, 1000)
	if !ok {
		t.Fatalf("not converged %d steps after the heal", steps)
	}
	t.Logf("%d names, %d running on both sides: one copy each and every node agreeing %d steps after the heal", len(names), twice, steps)
	if steps > 50 {
		t.Errorf("the heal took %d steps, want at most 50", steps)
	}
	sc.finish()
}

// Problem 5: records bounded by bytes, not count. Specs of 1.5 KB with
// messages of at most 4 KB: a joining node still takes its share and its
// replicas (in many chunks); a spec too big for a message fails alone,
// with ErrTooLarge, and the requests around it go on.
func TestScenarioBigRecords(t *testing.T) {
	sc := newScenario(t, 3, 30, 1)
	big := strings.Repeat("x", 1500)
	live := sc.live()
	for i, name := range sc.poolNames() {
		spec := directory.Spec{Kind: "k", Args: []byte(big)}
		if i == 7 {
			spec.Args = []byte(strings.Repeat("y", 4096))
			if r := sc.do(live[i%len(live)], directory.ReqRegister, name, spec); !errors.Is(r.Err, directory.ErrTooLarge) {
				t.Fatalf("register %s with a 4 KB spec: %v, want ErrTooLarge", name, r.Err)
			}
			continue
		}
		if r := sc.do(live[i%len(live)], directory.ReqRegister, name, spec); r.Err != nil {
			t.Fatalf("register %s: %v", name, r.Err)
		}
	}
	sc.settle()
	joined := sc.addNode()
	sc.membershipChanged()
	steps, ok := sc.until(func() bool { return sc.quiet() && sc.converged() }, 1000)
	if !ok {
		t.Fatalf("the new node has not synced %d steps after it joined", steps)
	}
	t.Logf("%d records of 1.5 KB in 4 KB messages: %v joined and synced in %d steps, runs %d", len(sc.poolNames())-1, joined.id, steps, len(joined.procs))
	sc.finish()
}

// Problem 6: a chunk of a snapshot is lost on its way to a replica. What
// the replica held stays until the whole snapshot arrives: no valid
// record is deleted, and the replica ends exactly as its primary.
func TestScenarioLostChunk(t *testing.T) {
	sc := newScenario(t, 3, 60, 2)
	sc.registerAll(1000)
	sc.settle()
	dropped := map[string]bool{}
	sc.cut = func(from, to *host, msg any) bool {
		m, ok := msg.(directory.MsgSnap)
		if !ok || m.Total < 2 {
			return false
		}
		key := fmt.Sprintf("%v>%v/%d/%d", from.id, to.id, m.P, m.Seq)
		if m.Index == m.Total-1 || dropped[key] {
			return false
		}
		dropped[key] = true // one chunk of each snapshot, not the last
		return true
	}
	joined := sc.addNode() // new replicas take snapshots
	sc.membershipChanged()
	steps, ok := sc.until(func() bool { return len(dropped) > 0 && sc.quiet() && sc.converged() }, 1500)
	if len(dropped) == 0 {
		t.Fatal("no snapshot came in chunks")
	}
	if !ok {
		t.Fatalf("%d snapshots lost a chunk: not converged after %d steps", len(dropped), steps)
	}
	t.Logf("%d snapshots lost a chunk on their way (%v joined): every record kept, replicas equal, in %d steps", len(dropped), joined.id, steps)
	sc.cut = nil
	sc.finish()
}

// A name joins a group while its process runs off its primary (it
// stayed when the ring moved), with no replicas (k = 0); then the
// primary crashes, and with it the only copy of the record. The node
// running the process learned the groups from the primary's answer to
// its report, so the name comes back in its group.
func TestScenarioGroupsOutliveTheirCopy(t *testing.T) {
	sc := newScenario(t, 3, 40, 0)
	away := map[string]*host{} // names run off their primary, by primary
	for name, h := range sc.stayOffPrimary() {
		p, _ := h.dn.PrimaryOf(name)
		away[name] = sc.hosts[p.Name]
	}
	// The names of one primary whose processes all run elsewhere.
	var victim *host
	for _, name := range sortedKeys(away) {
		if p := away[name]; len(p.procs) == 0 {
			victim = p
			break
		}
	}
	if victim == nil {
		t.Fatal("no primary whose names all run elsewhere")
	}
	var names []string
	for _, name := range sortedKeys(away) {
		if away[name] == victim {
			names = append(names, name)
			if r := sc.do(sc.host(0), directory.ReqJoin, name, directory.Spec{}); r.Err != nil {
				t.Fatalf("join %s: %v", name, r.Err)
			}
		}
	}
	sc.until(func() bool { return false }, 30) // reports, and the answers that carry the groups
	sc.crashHost(victim, false)
	sc.settle()
	for _, name := range names {
		h := sc.live()[0]
		p, _ := h.dn.PrimaryOf(name)
		r, ok := sc.hosts[p.Name].dn.Lookup(name)
		if !ok || !slices.Contains(r.Groups(), "g") {
			t.Errorf("%s: after its primary's crash the record is %+v (found %v); want it in group g", name, r, ok)
		}
	}
	t.Logf("%d names joined g off their primary %v, which crashed: each still in g", len(names), victim.id)
	sc.stays = nil
	sc.finish()
}
