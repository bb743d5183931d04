package liveview

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/houseparty"
	"github.com/shoalhq/shoal/registry"
)

// keepEvents is how many recent events every update carries.
const keepEvents = 40

// goneMemory is how long a name that vanished (its node crashed) is
// remembered, so that its restart elsewhere reads as a restart.
const goneMemory = time.Minute

// Event is something that happened, as the page lists it.
type Event struct {
	ID   uint64 `json:"id"`
	At   string `json:"at"` // hh:mm:ss, the node's clock
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// Event kinds.
const (
	KindJoin     = "join"
	KindLeave    = "leave"
	KindCrash    = "crash"
	KindSuspect  = "suspect"
	KindRegister = "register"
	KindStop     = "stop"
	KindHandoff  = "handoff"
	KindRestart  = "restart"
	KindConflict = "conflict"
)

// Update is what the page receives.
type Update struct {
	Node      string   `json:"node"` // the node serving the page
	Members   []Member `json:"members"`
	Rooms     []Room   `json:"rooms"`
	People    People   `json:"people"`
	Events    []Event  `json:"events"`
	Problems  []string `json:"problems,omitempty"` // what could not be gathered
	Protected bool     `json:"scenario_protected"`
}

// Member is a node on the page.
type Member struct {
	Name      string `json:"name"`
	Status    string `json:"status"`
	Self      bool   `json:"self,omitempty"`
	Processes int    `json:"processes"`
	Rooms     int    `json:"rooms"`
	People    int    `json:"people"`
}

// Room is a room on the page.
type Room struct {
	Name   string   `json:"name"`
	Node   string   `json:"node"`
	Count  int      `json:"count"`
	Max    int      `json:"max"`
	People []string `json:"people"`
}

// People counts the party's people.
type People struct {
	Known   bool `json:"known"` // counted at least once
	Total   int  `json:"total"`
	Waiting int  `json:"waiting"`
	InRooms int  `json:"in_rooms"`
	Left    int  `json:"left"`
}

// tracker turns successive states into events. It is a plain state
// machine (no clock, no I/O), driven by the view's goroutine.
type tracker struct {
	self     string
	status   map[string]cluster.Status // each member's last status
	where    map[string]string         // name -> node, from the last placement
	byNode   map[string][]string       // the last placement
	gone     map[string]goneName       // names that vanished with a node not alive
	lastCnt  registry.Counts
	haveCnt  bool
	events   []Event
	nextID   uint64
	members_ []cluster.Member

	rooms      []houseparty.RoomInfo
	people     houseparty.Stats
	havePeople bool
}

type goneName struct {
	node string
	at   time.Time
}

func newTracker(self string) tracker {
	return tracker{self: self, status: map[string]cluster.Status{}, gone: map[string]goneName{}}
}

func (t *tracker) add(at time.Time, kind, text string) {
	t.nextID++
	t.events = append(t.events, Event{ID: t.nextID, At: at.Format("15:04:05"), Kind: kind, Text: text})
	if len(t.events) > keepEvents {
		t.events = slices.Delete(t.events, 0, len(t.events)-keepEvents)
	}
}

// members notes membership changes.
func (t *tracker) members(ms []cluster.Member, now time.Time) {
	t.members_ = ms
	first := len(t.status) == 0
	for _, m := range ms {
		old, known := t.status[m.Name]
		t.status[m.Name] = m.Status
		if first || (known && old == m.Status) {
			continue
		}
		switch m.Status {
		case cluster.StatusAlive:
			if known && old == cluster.StatusSuspect {
				t.add(now, KindJoin, m.Name+" answers again")
			} else {
				t.add(now, KindJoin, m.Name+" joined")
			}
		case cluster.StatusSuspect:
			t.add(now, KindSuspect, m.Name+" is not answering (suspect)")
		case cluster.StatusLeft:
			t.add(now, KindLeave, m.Name+" left the cluster")
		case cluster.StatusDead:
			t.add(now, KindCrash, m.Name+" stopped answering: declared dead")
		}
	}
	if first {
		t.add(now, KindJoin, fmt.Sprintf("watching from %s: %d members", t.self, len(ms)))
	}
}

// alive says whether node is a live member.
func (t *tracker) alive(node string) bool { return t.status[node] == cluster.StatusAlive }

// handsOff says whether a name that left node moved with its state: a
// live node hands a name over, and so does one that left gracefully (it
// drains before it leaves, and the page may learn of the leave before it
// sees where the names went); a node that died or is suspect did not.
func (t *tracker) handsOff(node string) bool {
	return t.alive(node) || t.status[node] == cluster.StatusLeft
}

// forgetPlacement drops the last placement (nobody watched: the next one
// is a new start, not a change).
func (t *tracker) forgetPlacement() {
	t.where, t.byNode = nil, nil
	clear(t.gone)
}

// placement notes where every name runs now, and what moved.
func (t *tracker) placement(byNode map[string][]string, now time.Time) {
	where := make(map[string]string, len(t.where))
	for node, names := range byNode {
		for _, n := range names {
			where[n] = node
		}
	}
	if t.where != nil {
		type pair struct{ from, to string }
		moved := map[pair]int{}
		restarted := map[pair]int{}
		added := map[string]int{}
		stopped := map[string]int{}
		for name, node := range where {
			old, ok := t.where[name]
			switch {
			case ok && old != node && t.handsOff(old):
				moved[pair{old, node}]++
			case ok && old != node:
				restarted[pair{old, node}]++
			case !ok:
				if g, was := t.gone[name]; was && g.node != node && t.handsOff(g.node) {
					moved[pair{g.node, node}]++
				} else if was && g.node != node {
					restarted[pair{g.node, node}]++
				} else {
					added[node]++
				}
				delete(t.gone, name)
			}
		}
		for name, old := range t.where {
			if _, still := where[name]; still {
				continue
			}
			if t.alive(old) {
				stopped[old]++
			} else {
				t.gone[name] = goneName{node: old, at: now}
			}
		}
		for _, p := range sortedPairs(moved) {
			t.add(now, KindHandoff, fmt.Sprintf("%s handed to %s", plural(moved[p], "process", "processes"), p.to)+" from "+p.from)
		}
		for _, p := range sortedPairs(restarted) {
			t.add(now, KindRestart, fmt.Sprintf("%s of %s restarted on %s", plural(restarted[p], "process", "processes"), p.from, p.to))
		}
		for _, node := range sortedKeys(added) {
			t.add(now, KindRegister, fmt.Sprintf("%s registered on %s", plural(added[node], "process", "processes"), node))
		}
		for _, node := range sortedKeys(stopped) {
			t.add(now, KindStop, fmt.Sprintf("%s stopped on %s", plural(stopped[node], "process", "processes"), node))
		}
	}
	for name, g := range t.gone {
		if now.Sub(g.at) > goneMemory {
			delete(t.gone, name)
		}
	}
	t.where, t.byNode = where, byNode
}

// counts notes conflicts resolved on this node.
func (t *tracker) counts(c registry.Counts, now time.Time) {
	if t.haveCnt {
		if d := c.ConflictsLost - t.lastCnt.ConflictsLost; d > 0 {
			t.add(now, KindConflict, fmt.Sprintf("%s here lost their name to a copy elsewhere (netsplit healed)", plural(int(d), "process", "processes")))
		}
		if d := c.ConflictsMerged - t.lastCnt.ConflictsMerged; d > 0 {
			t.add(now, KindConflict, fmt.Sprintf("%s merged into their winner here (netsplit healed)", plural(int(d), "conflict", "conflicts")))
		}
	}
	t.lastCnt, t.haveCnt = c, true
}

// update is the page's view of the last states.
func (t *tracker) update(protected bool, problems []string) Update {
	u := Update{Node: t.self, Protected: protected, Problems: problems, Members: []Member{}, Rooms: []Room{}, Events: slices.Clone(t.events)}
	roomsOn, peopleOn := map[string]int{}, map[string]int{}
	for node, names := range t.byNode {
		for _, n := range names {
			switch {
			case strings.HasPrefix(n, "room_"):
				roomsOn[node]++
			case strings.HasPrefix(n, "person_"):
				peopleOn[node]++
			}
		}
	}
	for _, m := range t.members_ {
		u.Members = append(u.Members, Member{
			Name: m.Name, Status: string(m.Status), Self: m.Self,
			Processes: len(t.byNode[m.Name]), Rooms: roomsOn[m.Name], People: peopleOn[m.Name],
		})
	}
	slices.SortFunc(u.Members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	for _, r := range t.rooms {
		people := r.People
		if people == nil {
			people = []string{}
		}
		u.Rooms = append(u.Rooms, Room{Name: r.Name, Node: r.Node, Count: r.Count, Max: r.Max, People: people})
	}
	if t.havePeople {
		s := t.people
		u.People = People{Known: true, Total: s.TotalPeople, Waiting: s.PeopleWaitingToEnterParty, InRooms: s.PeopleInRooms, Left: s.PeopleLeftParty}
	}
	return u
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedPairs[P interface{ comparable }](m map[P]int) []P {
	out := make([]P, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b P) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out
}
