package houseparty

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoalhq/shoal/process"
)

// RoomArgs are a room's spawn arguments (JSON in its process.Spec).
type RoomArgs struct {
	Name string `json:"name"`
	Max  int    `json:"max"`
	// CheckEveryMS, if above 0, is how often the room checks its list
	// with the people on it (see RoomCheck), in milliseconds.
	CheckEveryMS int `json:"check_every_ms,omitempty"`
}

// RoomInfo is a snapshot of a room.
type RoomInfo struct {
	Name string `json:"name"`
	// Node runs the room's process.
	Node string `json:"node"`
	// Count is the number of people in the room.
	Count  int      `json:"count"`
	Max    int      `json:"max"`
	People []string `json:"people"`
}

// Room messages. A move is three calls, so that a person is never listed
// in two rooms and a room never holds more than its max: reserve a place in
// the new room (counts against its capacity), leave the old room, then
// confirm the place in the new room.
type (
	// ReserveMsg asks for a place in the room (counted against its max).
	ReserveMsg struct{ Person string }
	// ConfirmMsg takes the reserved place.
	ConfirmMsg struct{ Person string }
	// CancelMsg gives a reserved place back.
	CancelMsg struct{ Person string }
	// RemoveMsg takes the person out of the room (and any reservation).
	RemoveMsg struct{ Person string }
	// RoomTake asks for a RoomInfo.
	RoomTake struct{}
	// RoomCheck is cast by a room to each person it lists (present or
	// with a place reserved): a person that is not in the room, and not on
	// its way into it, casts RemoveMsg back. Rooms and people so converge
	// after anything that lost a removal (a room restarted from its spec,
	// a netsplit's merge, a message lost with a node).
	RoomCheck    struct{ Room string }
	roomCheckMsg struct{} // timer: time to check (never leaves the node)
)

// RoomState is what a room carries to its next node.
type RoomState struct {
	Present  []string
	Reserved []string
}

// Replies to ReserveMsg and ConfirmMsg.
const (
	replyOK   = "ok"
	replyFull = "full"
)

// RoomChange is reported to Config.OnRoomChange at the moment a room's
// membership changes, from inside the room's handler.
type RoomChange struct {
	Room    string
	Person  string
	Entered bool // false: left
	Count   int  // people in the room after the change
	Max     int
}

// room implements the handoff hooks: a missing method would silently
// drop a room's state on a move or a heal.
var (
	_ process.Handoffer        = (*room)(nil)
	_ process.HandoffReceiver  = (*room)(nil)
	_ process.ConflictResolver = (*room)(nil)
	_ process.Checkpointer     = (*room)(nil)
)

type room struct {
	args     RoomArgs
	present  map[string]struct{}
	reserved map[string]struct{}
	onChange func(RoomChange)
	party    *Party
	timer    process.TimerID
}

func newRoom(args []byte, party *Party, onChange func(RoomChange)) (process.Behavior, error) {
	var a RoomArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, fmt.Errorf("room args: %w", err)
	}
	if a.Name == "" || a.Max < 1 {
		return nil, fmt.Errorf("room args: need a name and max >= 1, got %+v", a)
	}
	return &room{
		args:     a,
		present:  make(map[string]struct{}),
		reserved: make(map[string]struct{}),
		onChange: onChange,
		party:    party,
	}, nil
}

func (r *room) checkEvery() time.Duration {
	return time.Duration(r.args.CheckEveryMS) * time.Millisecond
}

// Init starts the room's checks: a room started from its spec after a
// crash checks soon (people may list themselves elsewhere), then every
// CheckEveryMS.
func (r *room) Init(_ context.Context, self process.Self) error {
	if r.args.CheckEveryMS > 0 {
		r.timer = self.SendAfter(r.checkEvery(), roomCheckMsg{})
	}
	return nil
}

// checkSoon moves the next check closer (after a handoff or a merge).
func (r *room) checkSoon(self process.Self) {
	if r.args.CheckEveryMS > 0 {
		self.CancelTimer(r.timer)
		r.timer = self.SendAfter(r.checkEvery()/4, roomCheckMsg{})
	}
}

// HandleInfo runs the room's check: a RoomCheck cast to every person it
// lists (casts: a room never waits on a person, who may be calling it).
func (r *room) HandleInfo(ctx context.Context, self process.Self, msg any) {
	if _, ok := msg.(roomCheckMsg); !ok {
		return
	}
	r.timer = self.SendAfter(r.checkEvery(), roomCheckMsg{})
	if r.party == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.party.callTimeout)
	defer cancel()
	for _, p := range append(sortedKeys(r.present), sortedKeys(r.reserved)...) {
		if err := r.party.reg.Cast(ctx, p, RoomCheck{Room: r.args.Name}); err != nil && !gone(err) {
			r.party.log.Debug("room could not check a person", "room", r.args.Name, "person", p, "err", err)
		}
	}
}

func (r *room) taken() int { return len(r.present) + len(r.reserved) }

func (r *room) changed(person string, entered bool) {
	if r.onChange != nil {
		r.onChange(RoomChange{Room: r.args.Name, Person: person, Entered: entered, Count: len(r.present), Max: r.args.Max})
	}
}

func (r *room) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case ReserveMsg:
		if _, in := r.present[m.Person]; in {
			return replyOK, nil
		}
		if _, in := r.reserved[m.Person]; in {
			return replyOK, nil
		}
		if r.taken() >= r.args.Max {
			return replyFull, nil
		}
		r.reserved[m.Person] = struct{}{}
		return replyOK, nil
	case ConfirmMsg:
		if _, in := r.present[m.Person]; in {
			return replyOK, nil
		}
		if _, in := r.reserved[m.Person]; in {
			delete(r.reserved, m.Person)
		} else if r.taken() >= r.args.Max {
			return replyFull, nil
		}
		r.present[m.Person] = struct{}{}
		r.changed(m.Person, true)
		return replyOK, nil
	case CancelMsg:
		delete(r.reserved, m.Person)
		return replyOK, nil
	case RemoveMsg:
		delete(r.reserved, m.Person)
		if _, in := r.present[m.Person]; in {
			delete(r.present, m.Person)
			r.changed(m.Person, false)
		}
		return replyOK, nil
	case RoomTake:
		people := make([]string, 0, len(r.present))
		for p := range r.present {
			people = append(people, p)
		}
		slices.Sort(people)
		return RoomInfo{Name: r.args.Name, Node: self.Ref().Node, Count: len(r.present), Max: r.args.Max, People: people}, nil
	}
	return nil, fmt.Errorf("room %s: %w: %T", r.args.Name, ErrUnknownMessage, msg)
}

// HandleCast takes RemoveMsg as a cast too: a person restarted from its
// spec sends it to every room, not knowing where its lost state had it.
func (r *room) HandleCast(_ context.Context, _ process.Self, msg any) {
	if m, ok := msg.(RemoveMsg); ok {
		delete(r.reserved, m.Person)
		if _, in := r.present[m.Person]; in {
			delete(r.present, m.Person)
			r.changed(m.Person, false)
		}
	}
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// BeginHandoff carries who is in the room, and who has a place reserved.
func (r *room) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: r.state()}
}

// CheckpointState saves what BeginHandoff carries.
func (r *room) CheckpointState(context.Context, process.Self) any { return r.state() }

func (r *room) state() RoomState {
	return RoomState{Present: sortedKeys(r.present), Reserved: sortedKeys(r.reserved)}
}

// EndHandoff takes over the previous incarnation's people (handed off, or
// its last checkpoint after a crash) and checks them soon: after a crash
// some may have moved on since.
func (r *room) EndHandoff(_ context.Context, self process.Self, state any) error {
	st, ok := state.(RoomState)
	if !ok {
		return fmt.Errorf("room %s: handed-off state is %T", r.args.Name, state)
	}
	for _, p := range st.Present {
		r.present[p] = struct{}{}
	}
	for _, p := range st.Reserved {
		r.reserved[p] = struct{}{}
	}
	r.checkSoon(self)
	return nil
}

// ResolveConflict merges the people of a copy of the room that ran on the
// other side of a netsplit, as far as the room's max allows.
func (r *room) ResolveConflict(_ context.Context, self process.Self, _ process.Conflict, state any) {
	st, ok := state.(RoomState)
	if !ok {
		return
	}
	defer r.checkSoon(self) // the merged lists may hold people who moved on
	for _, p := range st.Present {
		if _, in := r.present[p]; !in && r.taken() < r.args.Max {
			delete(r.reserved, p)
			r.present[p] = struct{}{}
			r.changed(p, true)
		}
	}
	for _, p := range st.Reserved {
		_, in := r.present[p]
		if _, res := r.reserved[p]; !in && !res && r.taken() < r.args.Max {
			r.reserved[p] = struct{}{}
		}
	}
}

// Describe sums the room up for an operator (shoal inspect): how full it
// is and who is in it (the first few, by number).
func (r *room) Describe() string {
	names := slices.SortedFunc(maps.Keys(r.present), compareNumbered)
	s := fmt.Sprintf("%s: %d of %d inside", r.args.Name, len(names), r.args.Max)
	if n := len(r.reserved); n > 0 {
		s += fmt.Sprintf(", %d on their way", n)
	}
	if len(names) > 5 {
		names = append(names[:5], "…")
	}
	if len(names) > 0 {
		s += " (" + strings.Join(names, ", ") + ")"
	}
	return s
}
