package liveview

import (
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/registry"
)

func members(statuses ...string) []cluster.Member {
	var out []cluster.Member
	for i := 0; i+1 < len(statuses); i += 2 {
		out = append(out, cluster.Member{Name: statuses[i], Status: cluster.Status(statuses[i+1])})
	}
	return out
}

// texts returns the events after the first n, as "kind: text".
func texts(tr *tracker, n int) []string {
	var out []string
	for _, e := range tr.events[n:] {
		out = append(out, e.Kind+": "+e.Text)
	}
	return out
}

func same(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMembershipEvents(t *testing.T) {
	tr := newTracker("a")
	now := time.Unix(0, 0)
	tr.members(members("a", "alive", "b", "alive"), now)
	same(t, texts(&tr, 0), "join: watching from a: 2 members")
	tr.members(members("a", "alive", "b", "alive", "c", "alive"), now)
	tr.members(members("a", "alive", "b", "suspect", "c", "alive"), now)
	tr.members(members("a", "alive", "b", "alive", "c", "alive"), now)
	tr.members(members("a", "alive", "b", "dead", "c", "left"), now)
	tr.members(members("a", "alive", "b", "dead", "c", "left"), now) // nothing new
	same(t, texts(&tr, 1),
		"join: c joined",
		"suspect: b is not answering (suspect)",
		"join: b answers again",
		"crash: b stopped answering: declared dead",
		"leave: c left the cluster",
	)
}

// Placement changes become one event per kind and pair of nodes, with
// their count: moves from a live node or one that left are handoffs,
// from a lost node restarts (also when the names vanished for a while in between).
func TestPlacementEvents(t *testing.T) {
	tr := newTracker("a")
	now := time.Unix(0, 0)
	tr.members(members("a", "alive", "b", "alive", "c", "alive"), now)
	tr.placement(map[string][]string{"a": {"x1", "x2"}, "b": {"y1", "y2", "y3"}, "c": {"z1"}}, now)
	same(t, texts(&tr, 1)) // the first placement is the baseline
	tr.placement(map[string][]string{"a": {"x1", "x2", "n1", "n2"}, "b": {"y1", "y2", "y3"}, "c": {"z1"}}, now)
	same(t, texts(&tr, 1), "register: 2 processes registered on a")
	// c leaves: its process is handed to a.
	tr.placement(map[string][]string{"a": {"x1", "x2", "n1", "n2", "z1"}, "b": {"y1", "y2", "y3"}}, now)
	same(t, texts(&tr, 2), "handoff: 1 process handed to a from c")
	// b crashes: its names vanish, then come back on a.
	tr.members(members("a", "alive", "b", "dead"), now)
	tr.placement(map[string][]string{"a": {"x1", "x2", "n1", "n2", "z1"}}, now)
	tr.placement(map[string][]string{"a": {"x1", "x2", "n1", "n2", "z1", "y1", "y2", "y3"}}, now)
	same(t, texts(&tr, 3), "crash: b stopped answering: declared dead", "restart: 3 processes of b restarted on a")
	// Unregistered on a live node.
	tr.placement(map[string][]string{"a": {"x1", "x2"}}, now)
	same(t, texts(&tr, 5), "stop: 6 processes stopped on a")
	// d joins, then leaves gracefully, and the page learns of the leave
	// before it sees where d's names went (seen in the browser test):
	// still a handoff, directly or after the names vanished a while.
	tr.members(members("a", "alive", "b", "dead", "d", "alive"), now)
	tr.placement(map[string][]string{"a": {"x1", "x2"}, "d": {"w1", "w2", "w3"}}, now)
	tr.members(members("a", "alive", "b", "dead", "d", "left"), now)
	tr.placement(map[string][]string{"a": {"x1", "x2", "w1"}}, now)
	tr.placement(map[string][]string{"a": {"x1", "x2", "w1", "w2", "w3"}}, now)
	same(t, texts(&tr, 6), "join: d joined", "register: 3 processes registered on d", "leave: d left the cluster",
		"handoff: 1 process handed to a from d", "handoff: 2 processes handed to a from d")
	// Nobody watched for a while: the next placement is a new baseline.
	tr.forgetPlacement()
	tr.placement(map[string][]string{"a": {"q"}}, now)
	same(t, texts(&tr, 11))
}

func TestConflictEvents(t *testing.T) {
	tr := newTracker("a")
	now := time.Unix(0, 0)
	tr.counts(registry.Counts{ConflictsLost: 4}, now) // what came before is not news
	tr.counts(registry.Counts{ConflictsLost: 6, ConflictsMerged: 1}, now)
	same(t, texts(&tr, 0),
		"conflict: 2 processes here lost their name to a copy elsewhere (netsplit healed)",
		"conflict: 1 conflict merged into their winner here (netsplit healed)")
}

// An update carries at most keepEvents events, the latest, with rising
// ids.
func TestEventsAreBounded(t *testing.T) {
	tr := newTracker("a")
	for i := range 3 * keepEvents {
		tr.add(time.Unix(int64(i), 0), KindJoin, "x")
	}
	u := tr.update(false, nil)
	if len(u.Events) != keepEvents || u.Events[len(u.Events)-1].ID != 3*keepEvents || u.Events[0].ID != 2*keepEvents+1 {
		t.Fatalf("%d events, ids %d..%d", len(u.Events), u.Events[0].ID, u.Events[len(u.Events)-1].ID)
	}
}
