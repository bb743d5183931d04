// Package houseparty is the demo domain of Shoal: a party of rooms and
// people, each a registered process. People wander into random other rooms
// until they have tried max rooms, then leave the party. A full room
// refuses a person, and the attempt still counts.
//
// The rules are those of the original Elixir House Party, with two changes
// that make its invariants hold at every instant: a move reserves a place
// in the new room before leaving the old one and confirms it afterwards, so
// a person is never listed in two rooms and a room never holds more than
// its max; and rooms are found by an O(1) registry lookup instead of a scan
// of every name.
//
// Party is the application API: start a scenario, reset, and read the
// stats, people and rooms. It uses only the registry's public API, so it
// works the same on one node and, later, across a cluster.
package houseparty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// Process kinds and groups of the party.
const (
	KindRoom    = "houseparty.room"
	KindPerson  = "houseparty.person"
	GroupRooms  = "house_party_rooms"
	GroupPeople = "house_party_people"
)

var (
	// ErrUnknownMessage means a room or person got a message it does not
	// handle.
	ErrUnknownMessage = errors.New("unknown message")
	// ErrInvalidScenario means a scenario's parameters are out of range.
	ErrInvalidScenario = errors.New("invalid scenario")
)

// Config configures a Party.
type Config struct {
	// Logger receives party events; nil discards them.
	Logger *slog.Logger
	// Seed seeds every person's random choices; 0 picks a random seed.
	Seed uint64
	// CallTimeout bounds each call a person makes to a room; 0 means 5s.
	CallTimeout time.Duration
	// OnRoomChange, if set, is called from inside a room's handler at the
	// moment a person enters or leaves it. Tests use it to check
	// invariants at every change; it must be fast and safe for concurrent
	// use.
	OnRoomChange func(RoomChange)
	// Checkpoints is how rooms and people save their state to the
	// registry's replicas, so that a crash of their node loses nothing
	// (with a cluster-wide registry; a single node has nowhere to save
	// it). DefaultConfig's is sync: a count a caller saw never goes back,
	// and every move costs a round trip to the replicas per call. The
	// zero value is off: a crash restarts them from their spec.
	Checkpoints process.CheckpointMode
	// CheckpointEvery is the async interval (0: the runtime's default).
	CheckpointEvery time.Duration
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{CallTimeout: 5 * time.Second, Checkpoints: process.CheckpointSync}
}

// Scenario describes a party to start.
type Scenario struct {
	Rooms       int           `json:"rooms"`
	RoomMax     int           `json:"room_max"`
	People      int           `json:"people"`
	PersonMax   int           `json:"person_max"`
	WanderDelay time.Duration `json:"-"`
}

// The seed's scenarios.
var (
	// Small is 5 rooms of 10 and 100 people who try 20 rooms, moving every
	// 100 ms.
	Small = Scenario{Rooms: 5, RoomMax: 10, People: 100, PersonMax: 20, WanderDelay: 100 * time.Millisecond}
	// Big is 50 rooms of 25 and 2,000 people who try 10 rooms, moving every
	// 100 ms.
	Big = Scenario{Rooms: 50, RoomMax: 25, People: 2000, PersonMax: 10, WanderDelay: 100 * time.Millisecond}
)

// Limits of a Scenario, checked by Validate.
const (
	MinRooms, MaxRooms             = 2, 10_000
	MinRoomMax, MaxRoomMax         = 1, 100_000
	MinPeople, MaxPeople           = 0, 100_000
	MinPersonMax, MaxPersonMax     = 1, 10_000
	MinWanderDelay, MaxWanderDelay = 10 * time.Millisecond, time.Hour
)

// Validate reports the first parameter out of range, naming it.
func (s Scenario) Validate() error {
	check := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%w: %s must be between %d and %d, got %d", ErrInvalidScenario, name, lo, hi, v)
		}
		return nil
	}
	if err := check("rooms", s.Rooms, MinRooms, MaxRooms); err != nil {
		return err
	}
	if err := check("room_max", s.RoomMax, MinRoomMax, MaxRoomMax); err != nil {
		return err
	}
	if err := check("people", s.People, MinPeople, MaxPeople); err != nil {
		return err
	}
	if err := check("person_max", s.PersonMax, MinPersonMax, MaxPersonMax); err != nil {
		return err
	}
	if s.WanderDelay < MinWanderDelay || s.WanderDelay > MaxWanderDelay || s.WanderDelay%time.Millisecond != 0 {
		return fmt.Errorf("%w: delay_ms must be a whole number between %d and %d, got %v", ErrInvalidScenario,
			MinWanderDelay.Milliseconds(), MaxWanderDelay.Milliseconds(), s.WanderDelay)
	}
	return nil
}

// RoomName and PersonName are the registered names of the i-th room and
// person (from 1).
func RoomName(i int) string { return "room_" + strconv.Itoa(i) }

// PersonName: see RoomName.
func PersonName(i int) string { return "person_" + strconv.Itoa(i) }

// Party runs House Party on a registry. Its methods are safe for concurrent
// use; Start and Reset are serialised.
type Party struct {
	reg          *registry.Registry
	log          *slog.Logger
	seed         uint64
	callTimeout  time.Duration
	onRoomChange func(RoomChange)

	setupMu sync.Mutex
}

// New returns a Party on reg and registers the room and person kinds in
// reg's runtime. Create one Party per runtime.
func New(cfg Config, reg *registry.Registry) (*Party, error) {
	if reg == nil {
		return nil, errors.New("new party: nil registry")
	}
	p := &Party{
		reg:          reg,
		log:          cfg.Logger,
		seed:         cfg.Seed,
		callTimeout:  cfg.CallTimeout,
		onRoomChange: cfg.OnRoomChange,
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.seed == 0 {
		p.seed = rand.Uint64()
	}
	if p.callTimeout <= 0 {
		p.callTimeout = 5 * time.Second
	}
	kinds := reg.Runtime().Kinds()
	ko := process.KindOptions{Checkpoints: cfg.Checkpoints, CheckpointEvery: cfg.CheckpointEvery}
	if err := kinds.RegisterWith(KindRoom, func(args []byte) (process.Behavior, error) {
		return newRoom(args, p, p.onRoomChange)
	}, ko); err != nil {
		return nil, fmt.Errorf("new party: %w", err)
	}
	if err := kinds.RegisterWith(KindPerson, func(args []byte) (process.Behavior, error) {
		return newPerson(args, p)
	}, ko); err != nil {
		return nil, fmt.Errorf("new party: %w", err)
	}
	return p, nil
}

func (p *Party) roomCallReply(ctx context.Context, room string, msg any) (string, error) {
	v, err := p.reg.Call(ctx, room, msg)
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

func (p *Party) roomCall(ctx context.Context, room string, msg any) error {
	_, err := p.reg.Call(ctx, room, msg)
	return err
}

func (p *Party) roomNames(ctx context.Context) ([]string, error) {
	members, err := p.reg.Members(ctx, GroupRooms)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Name
	}
	return names, nil
}

// Start resets the party, registers the scenario's rooms and people, and
// sets every person wandering. It returns once all are registered.
func (p *Party) Start(ctx context.Context, s Scenario) error {
	if err := s.Validate(); err != nil {
		return err
	}
	p.setupMu.Lock()
	defer p.setupMu.Unlock()
	if err := p.build(ctx, s); err != nil {
		// Leave no half-built party behind (people who never wander).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := p.reset(cctx); rerr != nil {
			p.log.Error("could not clean up a failed start", "err", rerr)
		}
		return err
	}
	p.log.Info("party started", "rooms", s.Rooms, "people", s.People)
	return nil
}

func (p *Party) build(ctx context.Context, s Scenario) error {
	if err := p.reset(ctx); err != nil {
		return fmt.Errorf("start party: %w", err)
	}
	for i := 1; i <= s.Rooms; i++ {
		args, _ := json.Marshal(RoomArgs{Name: RoomName(i), Max: s.RoomMax, CheckEveryMS: roomCheckEvery(s.WanderDelay)})
		if err := p.add(ctx, RoomName(i), GroupRooms, process.Spec{Kind: KindRoom, Args: args}); err != nil {
			return fmt.Errorf("start party: %w", err)
		}
	}
	for i := 1; i <= s.People; i++ {
		args, _ := json.Marshal(PersonArgs{Name: PersonName(i), Max: s.PersonMax, WanderDelayMS: int(s.WanderDelay.Milliseconds()), Wander: true})
		if err := p.add(ctx, PersonName(i), GroupPeople, process.Spec{Kind: KindPerson, Args: args}); err != nil {
			return fmt.Errorf("start party: %w", err)
		}
	}
	replies, err := p.reg.MultiCall(ctx, GroupPeople, WanderlustMsg{})
	if err != nil {
		return fmt.Errorf("start party: %w", err)
	}
	for _, r := range replies {
		if r.Err != nil {
			return fmt.Errorf("start party: start %s wandering: %w", r.Name, r.Err)
		}
	}
	return nil
}

// roomCheckEvery is how often rooms check their lists with their people:
// 20 wander delays (2 s at the scenarios' 100 ms).
func roomCheckEvery(delay time.Duration) int { return int(20 * delay.Milliseconds()) }

func (p *Party) add(ctx context.Context, name, group string, spec process.Spec) error {
	if _, err := p.reg.Register(ctx, name, spec); err != nil {
		return err
	}
	return p.reg.Join(ctx, group, name)
}

// Reset stops every room and person and waits until they are gone.
func (p *Party) Reset(ctx context.Context) error {
	p.setupMu.Lock()
	defer p.setupMu.Unlock()
	return p.reset(ctx)
}

func (p *Party) reset(ctx context.Context) error {
	entries, err := p.reg.Registered(ctx)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	// People first: they call rooms.
	for _, kind := range []string{KindPerson, KindRoom} {
		var names []string
		for _, e := range entries {
			if e.Kind == kind {
				names = append(names, e.Name)
			}
		}
		if err := p.unregisterAll(ctx, names); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	return nil
}

func (p *Party) unregisterAll(ctx context.Context, names []string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	next := make(chan int)
	for range min(64, len(names)) {
		wg.Go(func() {
			for i := range next {
				if err := p.reg.Unregister(ctx, names[i]); err != nil && !errors.Is(err, registry.ErrNotFound) {
					errs[i] = err
				}
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// Stats are the party's numbers, with the seed's formulas.
type Stats struct {
	TotalPeople               int     `json:"total_people"`
	TotalRooms                int     `json:"total_rooms"`
	PeopleWaitingToEnterParty int     `json:"people_waiting_to_enter_party"`
	PeopleInRooms             int     `json:"people_in_rooms"`
	PeopleLeftParty           int     `json:"people_left_party"`
	AvgWanderlustCompletion   float64 `json:"avg_wanderlust_completion"`
	AvgFullness               float64 `json:"avg_fullness"`
	PersonCount               int     `json:"person_count"`
	PersonMax                 int     `json:"person_max"`
	RoomCount                 int     `json:"room_count"`
	RoomMax                   int     `json:"room_max"`
}

// round1 rounds to one decimal, as the seed's Float.round(x, 1).
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// Stats gathers the party's stats from every room and person.
func (p *Party) Stats(ctx context.Context) (Stats, error) {
	people, err := p.People(ctx)
	if err != nil {
		return Stats{}, err
	}
	rooms, err := p.Rooms(ctx)
	if err != nil {
		return Stats{}, err
	}
	return Summarize(people, rooms), nil
}

// Summarize computes Stats from snapshots of people and rooms:
// avg_wanderlust_completion is the sum of attempts over the sum of maxes,
// avg_fullness the sum of people in rooms over the sum of room maxes, both
// in percent with one decimal (0 when there is nothing to count).
func Summarize(people []PersonInfo, rooms []RoomInfo) Stats {
	s := Stats{TotalPeople: len(people), TotalRooms: len(rooms)}
	for _, pi := range people {
		switch pi.Status {
		case StatusWaiting:
			s.PeopleWaitingToEnterParty++
		case StatusLeft:
			s.PeopleLeftParty++
		default:
			s.PeopleInRooms++
		}
		s.PersonCount += pi.Count
		s.PersonMax += pi.Max
	}
	for _, r := range rooms {
		s.RoomCount += r.Count
		s.RoomMax += r.Max
	}
	s.AvgWanderlustCompletion = round1(float64(s.PersonCount) / float64(max(s.PersonMax, 1)) * 100)
	s.AvgFullness = round1(float64(s.RoomCount) / float64(max(s.RoomMax, 1)) * 100)
	return s
}

// People returns a snapshot of every person, sorted by number.
func (p *Party) People(ctx context.Context) ([]PersonInfo, error) {
	replies, err := p.reg.MultiCall(ctx, GroupPeople, PersonTake{})
	if err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	out := make([]PersonInfo, 0, len(replies))
	for _, r := range replies {
		if in, ok := r.Value.(PersonInfo); ok && r.Err == nil {
			out = append(out, in)
		}
	}
	if err := incomplete("people", replies, len(out)); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b PersonInfo) int { return compareNumbered(a.Name, b.Name) })
	return out, nil
}

// Person returns one person's snapshot with its log of moves.
func (p *Party) Person(ctx context.Context, name string) (PersonInfo, error) {
	v, err := p.reg.Call(ctx, name, PersonTake{WithLog: true})
	if err != nil {
		return PersonInfo{}, err
	}
	in, ok := v.(PersonInfo)
	if !ok {
		return PersonInfo{}, fmt.Errorf("person %q: %w: reply %T", name, ErrUnknownMessage, v)
	}
	return in, nil
}

// incomplete reports a snapshot some of whose processes did not answer
// (moving, or their node is stopping): a partial list is not passed off
// as the whole party.
func incomplete(what string, replies []registry.Reply, answered int) error {
	if answered == len(replies) {
		return nil
	}
	for _, r := range replies {
		if r.Err != nil {
			return fmt.Errorf("%s: %d of %d did not answer, %s first: %w", what, len(replies)-answered, len(replies), r.Name, r.Err)
		}
	}
	return fmt.Errorf("%s: %d of %d answered something else", what, len(replies)-answered, len(replies))
}

// Rooms returns a snapshot of every room, sorted by number.
func (p *Party) Rooms(ctx context.Context) ([]RoomInfo, error) {
	replies, err := p.reg.MultiCall(ctx, GroupRooms, RoomTake{})
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	out := make([]RoomInfo, 0, len(replies))
	for _, r := range replies {
		if in, ok := r.Value.(RoomInfo); ok && r.Err == nil {
			out = append(out, in)
		}
	}
	if err := incomplete("rooms", replies, len(out)); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b RoomInfo) int { return compareNumbered(a.Name, b.Name) })
	return out, nil
}

// Placement returns the registered names (rooms, people and any other)
// by the node that runs them, each list in name order.
func (p *Party) Placement(ctx context.Context) (map[string][]string, error) {
	entries, err := p.reg.Registered(ctx)
	if err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		out[e.Ref.Node] = append(out[e.Ref.Node], e.Name)
	}
	for _, names := range out {
		slices.SortFunc(names, compareNumbered)
	}
	return out, nil
}

// compareNumbered orders "room_2" before "room_10".
func compareNumbered(a, b string) int {
	ai, aok := trailingNumber(a)
	bi, bok := trailingNumber(b)
	if aok && bok && a[:strings.LastIndexByte(a, '_')] == b[:strings.LastIndexByte(b, '_')] {
		return ai - bi
	}
	return strings.Compare(a, b)
}

func trailingNumber(s string) (int, bool) {
	i := strings.LastIndexByte(s, '_')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	return n, err == nil
}
