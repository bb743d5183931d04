package houseparty

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/shoalhq/shoal/process"
)

// RoomArgs are a room's spawn arguments (JSON in its process.Spec).
type RoomArgs struct {
	Name string `json:"name"`
	Max  int    `json:"max"`
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
	reserveMsg struct{ person string }
	confirmMsg struct{ person string }
	cancelMsg  struct{ person string }
	removeMsg  struct{ person string }
	roomTake   struct{}
)

// Replies to reserveMsg and confirmMsg.
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

type room struct {
	args     RoomArgs
	present  map[string]struct{}
	reserved map[string]struct{}
	onChange func(RoomChange)
}

func newRoom(args []byte, onChange func(RoomChange)) (process.Behavior, error) {
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
	}, nil
}

func (r *room) taken() int { return len(r.present) + len(r.reserved) }

func (r *room) changed(person string, entered bool) {
	if r.onChange != nil {
		r.onChange(RoomChange{Room: r.args.Name, Person: person, Entered: entered, Count: len(r.present), Max: r.args.Max})
	}
}

func (r *room) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case reserveMsg:
		if _, in := r.present[m.person]; in {
			return replyOK, nil
		}
		if _, in := r.reserved[m.person]; in {
			return replyOK, nil
		}
		if r.taken() >= r.args.Max {
			return replyFull, nil
		}
		r.reserved[m.person] = struct{}{}
		return replyOK, nil
	case confirmMsg:
		if _, in := r.present[m.person]; in {
			return replyOK, nil
		}
		if _, in := r.reserved[m.person]; in {
			delete(r.reserved, m.person)
		} else if r.taken() >= r.args.Max {
			return replyFull, nil
		}
		r.present[m.person] = struct{}{}
		r.changed(m.person, true)
		return replyOK, nil
	case cancelMsg:
		delete(r.reserved, m.person)
		return replyOK, nil
	case removeMsg:
		delete(r.reserved, m.person)
		if _, in := r.present[m.person]; in {
			delete(r.present, m.person)
			r.changed(m.person, false)
		}
		return replyOK, nil
	case roomTake:
		people := make([]string, 0, len(r.present))
		for p := range r.present {
			people = append(people, p)
		}
		slices.Sort(people)
		return RoomInfo{Name: r.args.Name, Node: self.Ref().Node, Count: len(r.present), Max: r.args.Max, People: people}, nil
	}
	return nil, fmt.Errorf("room %s: %w: %T", r.args.Name, ErrUnknownMessage, msg)
}

func (r *room) HandleCast(context.Context, process.Self, any) {}
func (r *room) HandleInfo(context.Context, process.Self, any) {}
