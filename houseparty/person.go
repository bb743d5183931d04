package houseparty

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/shoalhq/shoal/process"
)

// PersonArgs are a person's spawn arguments (JSON in its process.Spec).
type PersonArgs struct {
	Name string `json:"name"`
	// Max is how many rooms the person tries to enter before leaving.
	Max int `json:"max"`
	// WanderDelayMS is the time between moves, in milliseconds.
	WanderDelayMS int `json:"wander_delay_ms"`
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
	wanderlustMsg struct{} // start wandering (the seed's {:wanderlust})
	wanderMsg     struct{} // timer: time to move
	personTake    struct{ withLog bool }
)

type person struct {
	args   PersonArgs
	status string
	room   string
	count  int
	log    []Move
	timer  process.TimerID
	rnd    *rand.Rand
	party  *Party
	active bool // wandering has been started
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

func (p *person) HandleCall(_ context.Context, self process.Self, msg any) (any, error) {
	switch m := msg.(type) {
	case wanderlustMsg:
		if !p.active && p.status != StatusLeft {
			p.active = true
			p.scheduleNext(self)
		}
		return replyOK, nil
	case personTake:
		return p.info(self, m.withLog), nil
	}
	return nil, fmt.Errorf("person %s: %w: %T", p.args.Name, ErrUnknownMessage, msg)
}

func (p *person) HandleCast(context.Context, process.Self, any) {}

func (p *person) HandleInfo(ctx context.Context, self process.Self, msg any) {
	if _, ok := msg.(wanderMsg); !ok {
		return
	}
	p.wander(ctx)
	p.scheduleNext(self)
}

// wander makes one move: leave the party after max attempts, else try a
// random other room. A room that cannot be reached leaves the person as it
// was; the next tick tries again.
func (p *person) wander(ctx context.Context) {
	if p.status == StatusLeft {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.party.callTimeout)
	defer cancel()
	if p.count >= p.args.Max {
		if p.status == StatusInRoom {
			if err := p.party.roomCall(ctx, p.room, removeMsg{p.args.Name}); err != nil {
				p.party.log.Warn("person could not leave room", "person", p.args.Name, "room", p.room, "err", err)
				return
			}
		}
		p.status, p.room = StatusLeft, ""
		p.log = append(p.log, Move{At: time.Now(), Outcome: OutcomeLeft})
		return
	}
	rooms, err := p.party.roomNames(ctx)
	if err != nil {
		p.party.log.Warn("person could not list rooms", "person", p.args.Name, "err", err)
		return
	}
	next := PickRoom(p.room, rooms, p.rnd)
	if next == "" {
		return
	}
	reply, err := p.party.roomCallReply(ctx, next, reserveMsg{p.args.Name})
	if err != nil {
		p.party.log.Warn("person could not reach room", "person", p.args.Name, "room", next, "err", err)
		return
	}
	if reply == replyFull {
		p.count++
		p.log = append(p.log, Move{At: time.Now(), Room: next, Outcome: OutcomeWasFull})
		return
	}
	if p.status == StatusInRoom {
		if err := p.party.roomCall(ctx, p.room, removeMsg{p.args.Name}); err != nil {
			p.party.log.Warn("person could not leave room", "person", p.args.Name, "room", p.room, "err", err)
			_ = p.party.roomCall(ctx, next, cancelMsg{p.args.Name})
			return
		}
	}
	// The place is reserved, so confirming cannot find the room full.
	reply, err = p.party.roomCallReply(ctx, next, confirmMsg{p.args.Name})
	if err != nil || reply != replyOK {
		p.party.log.Warn("person lost a reserved place", "person", p.args.Name, "room", next, "reply", reply, "err", err)
		p.status, p.room = StatusWaiting, ""
		return
	}
	p.status, p.room = StatusInRoom, next
	p.count++
	p.log = append(p.log, Move{At: time.Now(), Room: next, Outcome: OutcomeEntered})
}
