package houseparty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// PersonArgs are a person's spawn arguments (JSON in its process.Spec).
type PersonArgs struct {
	Name string `json:"name"`
	// Max is how many rooms the person tries to enter before leaving.
	Max int `json:"max"`
	// WanderDelayMS is the time between moves, in milliseconds.
	WanderDelayMS int `json:"wander_delay_ms"`
	// Wander makes the person start wandering as soon as it starts,
	// without waiting for a WanderlustMsg: a person restarted from its
	// spec after its node crashed (its state lost) then joins the party
	// again instead of waiting forever.
	Wander bool `json:"wander,omitempty"`
}

// Where a person is.
const (
	StatusWaiting = "waiting" // not yet entered the party
	StatusInRoom  = "in_room"
	StatusLeft    = "left_party"
)

// Move outcomes in a person's log.
const (
	OutcomeEntered = "entered"
	OutcomeWasFull = "was_full"
	OutcomeLeft    = "left_party"
)

// Move is one entry in a person's log.
type Move struct {
	At      time.Time `json:"at"`
	Room    string    `json:"room,omitempty"`
	Outcome string    `json:"outcome"`
}

// PersonInfo is a snapshot of a person.
type PersonInfo struct {
	Name string `json:"name"`
	// Node runs the person's process.
	Node string `json:"node"`
	// Room is the current room; nil before the first entry, "left_party"
	// after leaving.
	Room   *string `json:"room"`
	Status string  `json:"status"`
	// Count is how many rooms the person has tried to enter (a full room
	// counts).
	Count int `json:"count"`
	Max   int `json:"max"`
	// Log lists the person's moves, oldest first. Only filled by
	// Party.Person.
	Log []Move `json:"log,omitempty"`
}

// Person messages.
type (
	// WanderlustMsg starts the person wandering (the seed's {:wanderlust}).
	WanderlustMsg struct{}
	// PersonTake asks for a PersonInfo, with the log of moves if WithLog.
	PersonTake struct{ WithLog bool }
	wanderMsg  struct{} // timer: time to move (never leaves the node)
)

// PersonState is what a person carries to its next node.
type PersonState struct {
	Status string
	Room   string
	Count  int
	Log    []Move
	Active bool
	// MoveTo and MoveStage describe a move under way (Moving true).
	Moving    bool
	MoveTo    string
	MoveStage uint8
	// Extra is what later builds add (see stateExtra).
	Extra stateExtra
}

// person implements the handoff hooks: a missing method would silently
// drop a person's state on a move or a heal.
var (
	_ process.Handoffer        = (*person)(nil)
	_ process.HandoffReceiver  = (*person)(nil)
	_ process.ConflictResolver = (*person)(nil)
	_ process.Checkpointer     = (*person)(nil)
)

type person struct {
	args   PersonArgs
	status string
	room   string
	count  int
	log    []Move
	timer  process.TimerID
	fresh  bool // started from the spec, no state: may be listed in a room it lost
	rnd    *rand.Rand
	party  *Party
	active bool  // wandering has been started
	move   *move // a move under way, if any
	// recheck asks for the person's room to be confirmed before its next
	// move (the room may have lost it: a handoff, a merge); ticks counts
	// moves since the last confirmation.
	recheck bool
	ticks   int
}

func newPerson(args []byte, party *Party) (process.Behavior, error) {
	var a PersonArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, fmt.Errorf("person args: %w", err)
	}
	if a.Name == "" || a.Max < 1 || a.WanderDelayMS < 1 {
		return nil, fmt.Errorf("person args: need a name, max >= 1 and wander_delay_ms >= 1, got %+v", a)
	}
	h := fnv.New64a()
	h.Write([]byte(a.Name))
	return &person{
		args:   a,
		status: StatusWaiting,
		rnd:    rand.New(rand.NewPCG(party.seed, h.Sum64())),
		party:  party,
	}, nil
}

// FirstDelay is the wait before a person's first entry: ten times the
// wander delay plus up to one more delay, at random.
func FirstDelay(delay time.Duration, rnd *rand.Rand) time.Duration {
	return 10*delay + time.Duration(rnd.Int64N(int64(delay)+1))
}

// WanderDelay is the wait between moves: the delay plus or minus up to
// 10%, at random.
func WanderDelay(delay time.Duration, rnd *rand.Rand) time.Duration {
	spread := int64(delay) / 10
	return delay - time.Duration(spread) + time.Duration(rnd.Int64N(2*spread+1))
}

// PickRoom returns a random room other than current, or "" if there is
// none.
func PickRoom(current string, rooms []string, rnd *rand.Rand) string {
	candidates := len(rooms)
	for _, r := range rooms {
		if r == current {
			candidates--
		}
	}
	if candidates <= 0 {
		return ""
	}
	k := rnd.IntN(candidates)
	for _, r := range rooms {
		if r == current {
			continue
		}
		if k == 0 {
			return r
		}
		k--
	}
	return ""
}

func (p *person) delay() time.Duration {
	return time.Duration(p.args.WanderDelayMS) * time.Millisecond
}

func (p *person) scheduleNext(self process.Self) {
	switch p.status {
	case StatusLeft:
		return
	case StatusWaiting:
		if p.move != nil { // mid-move: resume soon
			p.timer = self.SendAfter(WanderDelay(p.delay(), p.rnd), wanderMsg{})
			return
		}
		p.timer = self.SendAfter(FirstDelay(p.delay(), p.rnd), wanderMsg{})
	default:
		p.timer = self.SendAfter(WanderDelay(p.delay(), p.rnd), wanderMsg{})
	}
}

func (p *person) info(self process.Self, withLog bool) PersonInfo {
	in := PersonInfo{Name: p.args.Name, Node: self.Ref().Node, Status: p.status, Count: p.count, Max: p.args.Max}
	switch p.status {
	case StatusInRoom:
		r := p.room
		in.Room = &r
	case StatusLeft:
		r := StatusLeft
		in.Room = &r
	}
	if withLog {
		in.Log = append([]Move(nil), p.log...)
	}
	return in
}

// Init starts wandering at once if the args say so. Until its first move
// the person counts as fresh (see wander); a handed-off state ends that.
func (p *person) Init(_ context.Context, self process.Self) error {
	p.fresh = true
	if p.args.Wander {
		p.active = true
		p.scheduleNext(self)
	}
	return nil
}

func (p *person) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case WanderlustMsg:
		if !p.active && p.status != StatusLeft {
			p.active = true
			p.scheduleNext(self)
		}
		return replyOK, nil
	case PersonTake:
		return p.info(self, m.WithLog), nil
	}
	return nil, fmt.Errorf("person %s: %w: %T", p.args.Name, ErrUnknownMessage, msg)
}

// HandleCast answers a room's check: a person that is not in the room,
// and not on its way into it, tells the room to forget it.
func (p *person) HandleCast(ctx context.Context, _ process.Self, msg any) {
	m, ok := msg.(RoomCheck)
	if !ok {
		return
	}
	in := p.status == StatusInRoom && p.room == m.Room
	coming := p.move != nil && p.move.to == m.Room
	if in || coming {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.party.callTimeout)
	defer cancel()
	if err := p.party.reg.Cast(ctx, m.Room, RemoveMsg{p.args.Name}); err != nil && !gone(err) {
		p.party.log.Debug("person could not answer a room's check", "person", p.args.Name, "room", m.Room, "err", err)
	}
}

// BeginHandoff carries where the person is, its count, log and any move
// under way; its timer does not move (EndHandoff sets a new one).
func (p *person) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: p.state()}
}

// CheckpointState saves what BeginHandoff carries.
func (p *person) CheckpointState(context.Context, process.Self) any { return p.state() }

func (p *person) state() PersonState {
	st := PersonState{Status: p.status, Room: p.room, Count: p.count, Log: p.log, Active: p.active, Extra: stateExtra{}.stamp()}
	if p.move != nil {
		st.Moving, st.MoveTo, st.MoveStage = true, p.move.to, uint8(p.move.stage)
	}
	return st
}

// EndHandoff takes over the previous incarnation's state (handed off, or
// its last checkpoint after a crash) and goes on wandering; it confirms
// its room before its next move (after a crash the room may have
// restarted from an older checkpoint, or from its spec).
func (p *person) EndHandoff(_ context.Context, self process.Self, state any) error {
	st, ok := state.(PersonState)
	if !ok {
		return fmt.Errorf("person %s: handed-off state is %T", p.args.Name, state)
	}
	self.CancelTimer(p.timer) // Init's, if it set one: the state says what comes next
	p.adopt(st)
	p.recheck = true
	if p.active && p.status != StatusLeft {
		p.timer = self.SendAfter(WanderDelay(p.delay(), p.rnd), wanderMsg{})
	}
	return nil
}

func (p *person) adopt(st PersonState) {
	p.status, p.room, p.count, p.log, p.active = st.Status, st.Room, st.Count, st.Log, st.Active
	p.fresh = false
	p.move = nil
	if st.Moving {
		p.move = &move{to: st.MoveTo, stage: moveStage(st.MoveStage)}
	}
}

// ResolveConflict keeps whichever copy made more attempts, so that a
// person's count never goes backwards across a netsplit.
func (p *person) ResolveConflict(_ context.Context, self process.Self, _ process.Conflict, state any) {
	st, ok := state.(PersonState)
	if !ok || st.Count <= p.count {
		return
	}
	wasActive := p.active
	p.adopt(st)
	p.recheck = true
	if p.active && !wasActive && p.status != StatusLeft {
		p.scheduleNext(self)
	}
}

func (p *person) HandleInfo(ctx context.Context, self process.Self, msg any) {
	if _, ok := msg.(wanderMsg); !ok {
		return
	}
	p.wander(ctx)
	p.scheduleNext(self)
}

// A move goes through stages, and a stage whose call failed is retried on
// the next tick. Every room call is idempotent, so a call that timed out
// after the room acted does no harm when repeated: the person is never
// listed in two rooms, never loses its place, and never leaks a
// reservation.
type moveStage uint8

const (
	stageReserve moveStage = iota // reserve a place in the new room
	stageLeave                    // leave the current room
	stageConfirm                  // take the reserved place
)

// move is a move under way. to is "" when the person is leaving the party.
type move struct {
	to    string
	stage moveStage
}

// wander makes (or resumes) one move: leave the party after max attempts,
// else try a random other room.
func (p *person) wander(ctx context.Context) {
	if p.status == StatusLeft {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.party.callTimeout)
	defer cancel()
	if p.fresh {
		// A person restarted after its node crashed has lost where it
		// was: every room forgets it first (these casts reach each room
		// before this person's next call to it).
		p.fresh = false
		if _, err := p.party.reg.Publish(ctx, GroupRooms, RemoveMsg{p.args.Name}); err != nil {
			p.party.log.Warn("person could not clear itself from the rooms", "person", p.args.Name, "err", err)
		}
	}
	if p.move == nil && p.status == StatusInRoom {
		if p.ticks++; p.recheck || p.ticks >= reconfirmEvery {
			if !p.reconfirm(ctx) {
				return // try again next tick
			}
		}
	}
	if p.move == nil {
		if p.count >= p.args.Max {
			p.move = &move{stage: stageLeave}
		} else {
			rooms, err := p.party.roomNames(ctx)
			if err != nil {
				p.party.log.Warn("person could not list rooms", "person", p.args.Name, "err", err)
				return
			}
			next := PickRoom(p.room, rooms, p.rnd)
			if next == "" {
				return
			}
			p.move = &move{to: next}
		}
	}
	p.advance(ctx)
}

// reconfirmEvery is how many ticks a person stays in a room (its moves
// failing: rooms full) before it confirms its place there again.
const reconfirmEvery = 20

// reconfirm makes sure the person's room lists it (ConfirmMsg is
// idempotent: it re-adds a person the room lost, if there is room). A
// room that is full without it, or gone, means the person is not in a
// room any more. It reports false if the room could not be reached.
func (p *person) reconfirm(ctx context.Context) bool {
	reply, err := p.party.roomCallReply(ctx, p.room, ConfirmMsg{p.args.Name})
	switch {
	case err != nil && !gone(err):
		p.party.log.Warn("person could not confirm its room; will retry", "person", p.args.Name, "room", p.room, "err", err)
		return false
	case err != nil || reply != replyOK:
		p.status, p.room = StatusWaiting, ""
	}
	p.recheck, p.ticks = false, 0
	return true
}

// gone reports whether err says the room does not exist (as opposed to a
// failure that leaves the outcome unknown).
func gone(err error) bool { return errors.Is(err, registry.ErrNotFound) }

func (p *person) advance(ctx context.Context) {
	m := p.move
	name := p.args.Name
	if m.stage == stageReserve {
		reply, err := p.party.roomCallReply(ctx, m.to, ReserveMsg{name})
		switch {
		case gone(err):
			p.move = nil // the room was removed; pick another next time
			return
		case err != nil:
			p.party.log.Warn("person could not reach room; will retry", "person", name, "room", m.to, "err", err)
			return
		case reply == replyFull:
			p.count++
			p.log = append(p.log, Move{At: time.Now(), Room: m.to, Outcome: OutcomeWasFull})
			p.move = nil
			return
		}
		m.stage = stageLeave
	}
	if m.stage == stageLeave {
		if p.status == StatusInRoom {
			if err := p.party.roomCall(ctx, p.room, RemoveMsg{name}); err != nil && !gone(err) {
				p.party.log.Warn("person could not leave room; will retry", "person", name, "room", p.room, "err", err)
				return
			}
			p.status, p.room = StatusWaiting, ""
		}
		if m.to == "" {
			p.status = StatusLeft
			p.log = append(p.log, Move{At: time.Now(), Outcome: OutcomeLeft})
			p.move = nil
			return
		}
		m.stage = stageConfirm
	}
	reply, err := p.party.roomCallReply(ctx, m.to, ConfirmMsg{name})
	switch {
	case gone(err):
		p.move = nil // the room vanished with the reservation
		return
	case err != nil:
		p.party.log.Warn("person could not take a reserved place; will retry", "person", name, "room", m.to, "err", err)
		return
	case reply != replyOK:
		// The room lost the reservation (it was re-created) and is full.
		p.count++
		p.log = append(p.log, Move{At: time.Now(), Room: m.to, Outcome: OutcomeWasFull})
		p.move = nil
		return
	}
	p.status, p.room = StatusInRoom, m.to
	p.ticks = 0 // just confirmed
	p.count++
	p.log = append(p.log, Move{At: time.Now(), Room: m.to, Outcome: OutcomeEntered})
	p.move = nil
}

// Describe sums the person up for an operator (shoal inspect): where they
// are and how far through their rooms.
func (p *person) Describe() string {
	where := "waiting to enter"
	switch {
	case p.status == StatusLeft:
		where = "left the party"
	case p.room != "":
		where = "in " + p.room
	}
	return fmt.Sprintf("%s: %s, tried %d of %d rooms", p.args.Name, where, p.count, p.args.Max)
}
