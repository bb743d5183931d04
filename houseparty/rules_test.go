package houseparty

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/process/processtest"
	"github.com/shoalhq/shoal/registry"
)

func TestDelaysStayInBounds(t *testing.T) {
	const seed = 42
	rnd := rand.New(rand.NewPCG(seed, seed))
	for _, d := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, 1234 * time.Millisecond} {
		minFirst, maxFirst := time.Duration(1<<62), time.Duration(0)
		minNext, maxNext := time.Duration(1<<62), time.Duration(0)
		for range 20000 {
			f := FirstDelay(d, rnd)
			if f < 10*d || f > 11*d {
				t.Fatalf("seed %d: first delay %v for %v outside [10x, 11x]", seed, f, d)
			}
			n := WanderDelay(d, rnd)
			if n < d-d/10 || n > d+d/10 {
				t.Fatalf("seed %d: wander delay %v for %v outside +/-10%%", seed, n, d)
			}
			minFirst, maxFirst = min(minFirst, f), max(maxFirst, f)
			minNext, maxNext = min(minNext, n), max(maxNext, n)
		}
		// The jitter really spreads over the range, both ways.
		if maxFirst-minFirst < d*9/10 || minNext > d-d/20 || maxNext < d+d/20 {
			t.Fatalf("seed %d: jitter too narrow for %v: first [%v, %v], next [%v, %v]", seed, d, minFirst, maxFirst, minNext, maxNext)
		}
	}
}

func TestPickRoomNeverCurrent(t *testing.T) {
	const seed = 7
	rnd := rand.New(rand.NewPCG(seed, seed))
	rooms := []string{"room_1", "room_2", "room_3", "room_4", "room_5"}
	seen := map[string]int{}
	for i := range 10000 {
		cur := rooms[i%len(rooms)]
		got := PickRoom(cur, rooms, rnd)
		if got == cur || got == "" {
			t.Fatalf("seed %d: picked %q from %q", seed, got, cur)
		}
		seen[got]++
	}
	if len(seen) != len(rooms) {
		t.Fatalf("seed %d: not every room picked: %v", seed, seen)
	}
	if got := PickRoom("room_1", []string{"room_1"}, rnd); got != "" {
		t.Fatalf("only room is current, picked %q", got)
	}
	if got := PickRoom("", []string{"room_1"}, rnd); got != "room_1" {
		t.Fatalf("waiting person, one room: picked %q", got)
	}
}

type ruleFixture struct {
	party *Party
	reg   *registry.Registry
	clock *processtest.FakeClock
}

func newRuleFixture(t *testing.T) *ruleFixture {
	t.Helper()
	clock := &processtest.FakeClock{}
	cfg := process.DefaultConfig()
	cfg.Clock = clock
	reg := clustertest.Alone(t, cfg, nil)
	pc := DefaultConfig()
	pc.Seed = 1
	party, err := New(pc, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &ruleFixture{party: party, reg: reg, clock: clock}
}

func (f *ruleFixture) addRoom(t *testing.T, name string, max int) {
	t.Helper()
	args, _ := json.Marshal(RoomArgs{Name: name, Max: max})
	if err := f.party.add(context.Background(), name, GroupRooms, process.Spec{Kind: KindRoom, Args: args}); err != nil {
		t.Fatal(err)
	}
}

func (f *ruleFixture) addPerson(t *testing.T, name string, max int, delay time.Duration) {
	t.Helper()
	args, _ := json.Marshal(PersonArgs{Name: name, Max: max, WanderDelayMS: int(delay.Milliseconds())})
	if err := f.party.add(context.Background(), name, GroupPeople, process.Spec{Kind: KindPerson, Args: args}); err != nil {
		t.Fatal(err)
	}
}

func (f *ruleFixture) room(t *testing.T, name string) RoomInfo {
	t.Helper()
	v, err := f.reg.Call(context.Background(), name, RoomTake{})
	if err != nil {
		t.Fatal(err)
	}
	return v.(RoomInfo)
}

// tick fires the person's pending timer; the following call is handled
// after the move, so the returned snapshot shows its result.
func (f *ruleFixture) tick(t *testing.T, person string) PersonInfo {
	t.Helper()
	last := f.clock.Last()
	if last == nil || !last.Fire() {
		t.Fatal("no pending timer to fire")
	}
	in, err := f.party.Person(context.Background(), person)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestFullRoomRefusesAndAttemptCounts(t *testing.T) {
	f := newRuleFixture(t)
	ctx := context.Background()
	f.addRoom(t, "room_1", 1)
	f.addRoom(t, "room_2", 1)
	// Someone already fills room_1.
	for _, m := range []any{ReserveMsg{"blocker"}, ConfirmMsg{"blocker"}} {
		if _, err := f.reg.Call(ctx, "room_1", m); err != nil {
			t.Fatal(err)
		}
	}
	const delay = 100 * time.Millisecond
	f.addPerson(t, "p", 4, delay)
	if _, err := f.reg.Call(ctx, "p", WanderlustMsg{}); err != nil {
		t.Fatal(err)
	}
	if d := f.clock.Last().Duration(); d < 10*delay || d > 11*delay {
		t.Fatalf("first entry scheduled after %v; want 10x delay plus up to 1x", d)
	}

	prevCount, prevRoom := 0, ""
	for step := 0; ; step++ {
		in := f.tick(t, "p")
		if in.Status == StatusLeft {
			if prevCount != 4 || in.Count != 4 {
				t.Fatalf("left after %d attempts (count %d); want 4", prevCount, in.Count)
			}
			if *in.Room != StatusLeft {
				t.Fatalf("room after leaving = %q", *in.Room)
			}
			break
		}
		if step > 20 {
			t.Fatal("person never left")
		}
		if in.Count != prevCount+1 {
			t.Fatalf("step %d: count %d after %d; every attempt counts", step, in.Count, prevCount)
		}
		last := in.Log[len(in.Log)-1]
		if last.Room == prevRoom {
			t.Fatalf("step %d: tried current room %q", step, prevRoom)
		}
		if last.Room == "room_1" {
			if last.Outcome != OutcomeWasFull || (in.Room != nil && *in.Room == "room_1") {
				t.Fatalf("step %d: full room_1 let the person in: %+v", step, in)
			}
		} else if last.Outcome != OutcomeEntered || *in.Room != "room_2" {
			t.Fatalf("step %d: free room_2 refused: %+v", step, in)
		}
		// Timing: waiting people retry after the first-entry delay; people
		// in a room move after the delay +/- 10%.
		d := f.clock.Last().Duration()
		if in.Status == StatusWaiting && (d < 10*delay || d > 11*delay) {
			t.Fatalf("step %d: waiting person rescheduled after %v", step, d)
		}
		if in.Status == StatusInRoom && (d < delay-delay/10 || d > delay+delay/10) {
			t.Fatalf("step %d: next move after %v; want %v +/- 10%%", step, d, delay)
		}
		prevCount = in.Count
		if in.Room != nil {
			prevRoom = *in.Room
		}
	}
	if f.clock.Last().Pending() {
		t.Fatal("a person who left still has a timer")
	}
	for _, name := range []string{"room_1", "room_2"} {
		for _, who := range f.room(t, name).People {
			if who == "p" {
				t.Fatalf("person who left is still in %s", name)
			}
		}
	}
	if r := f.room(t, "room_1"); r.Count != 1 || r.People[0] != "blocker" {
		t.Fatalf("room_1 = %+v", r)
	}
}

func TestNextRoomIsNeverCurrent(t *testing.T) {
	f := newRuleFixture(t)
	for _, r := range []string{"room_1", "room_2", "room_3"} {
		f.addRoom(t, r, 10)
	}
	f.addPerson(t, "p", 50, 100*time.Millisecond)
	if _, err := f.reg.Call(context.Background(), "p", WanderlustMsg{}); err != nil {
		t.Fatal(err)
	}
	var in PersonInfo
	for in.Status != StatusLeft {
		in = f.tick(t, "p")
	}
	entered := 0
	for i := 1; i < len(in.Log); i++ {
		if in.Log[i].Outcome == OutcomeEntered && in.Log[i].Room == in.Log[i-1].Room {
			t.Fatalf("move %d re-entered current room %s", i, in.Log[i].Room)
		}
		if in.Log[i].Outcome == OutcomeEntered {
			entered++
		}
	}
	if in.Count != 50 || entered != 49 { // the first entry is Log[0]
		t.Fatalf("count %d, entered %d", in.Count, entered)
	}
}

func TestPersonLeavesEvenIfItsRoomIsGone(t *testing.T) {
	f := newRuleFixture(t)
	ctx := context.Background()
	f.addRoom(t, "room_1", 5)
	f.addRoom(t, "room_2", 5)
	f.addPerson(t, "p", 1, 100*time.Millisecond)
	if _, err := f.reg.Call(ctx, "p", WanderlustMsg{}); err != nil {
		t.Fatal(err)
	}
	in := f.tick(t, "p")
	if in.Status != StatusInRoom {
		t.Fatalf("after first tick: %+v", in)
	}
	if err := f.reg.Unregister(ctx, *in.Room); err != nil {
		t.Fatal(err)
	}
	if in = f.tick(t, "p"); in.Status != StatusLeft {
		t.Fatalf("person whose room is gone did not leave: %+v", in)
	}
}

// TestPersonReconfirmsItsRoom: a person that stays in a room (it has
// nowhere else to go) confirms its place there every reconfirmEvery
// ticks, so a room that lost it (restarted from its spec) lists it again,
// or, if the room filled up meanwhile, the person knows it is out.
func TestPersonReconfirmsItsRoom(t *testing.T) {
	f := newRuleFixture(t)
	ctx := context.Background()
	f.addRoom(t, "room_1", 2)
	f.addPerson(t, "p", 1_000_000, 100*time.Millisecond)
	if _, err := f.reg.Call(ctx, "p", WanderlustMsg{}); err != nil {
		t.Fatal(err)
	}
	if in := f.tick(t, "p"); in.Status != StatusInRoom {
		t.Fatalf("after the first tick: %+v", in)
	}
	if _, err := f.reg.Call(ctx, "room_1", RemoveMsg{"p"}); err != nil { // the room loses p
		t.Fatal(err)
	}
	ticks := 0
	for ; ticks < reconfirmEvery && !slices.Contains(f.room(t, "room_1").People, "p"); ticks++ {
		f.tick(t, "p")
	}
	if !slices.Contains(f.room(t, "room_1").People, "p") {
		t.Fatalf("room_1 still does not list p after %d ticks", ticks)
	}
	// Now the room forgets p and fills up without it.
	for _, m := range []any{RemoveMsg{"p"}, ConfirmMsg{"a"}, ConfirmMsg{"b"}} {
		if _, err := f.reg.Call(ctx, "room_1", m); err != nil {
			t.Fatal(err)
		}
	}
	var in PersonInfo
	for ticks = 0; ticks <= reconfirmEvery; ticks++ {
		if in = f.tick(t, "p"); in.Status != StatusInRoom {
			break
		}
	}
	if in.Status != StatusWaiting || slices.Contains(f.room(t, "room_1").People, "p") {
		t.Fatalf("p %+v, room_1 %v: want p out of the full room, waiting", in, f.room(t, "room_1").People)
	}
}
