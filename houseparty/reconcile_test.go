package houseparty_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shoalhq/shoal/houseparty"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// partyOn starts a party on a single-node registry it returns too, so a
// test can reach rooms and people directly.
func partyOn(t *testing.T) (*houseparty.Party, *registry.Registry) {
	t.Helper()
	rt, err := process.NewRuntime(process.DefaultConfig(), process.NewKinds())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	reg, err := registry.New(registry.DefaultConfig(), rt)
	if err != nil {
		t.Fatal(err)
	}
	cfg := houseparty.DefaultConfig()
	cfg.Seed = uint64(time.Now().UnixNano())
	t.Logf("party seed %d", cfg.Seed)
	p, err := houseparty.New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

// agree reports whether rooms and people tell the same story: every
// person in a room is listed there and nowhere else, and every room lists
// only people who say they are in it.
func agree(ctx context.Context, p *houseparty.Party) (bool, string) {
	people, err := p.People(ctx)
	if err != nil {
		return false, err.Error()
	}
	rooms, err := p.Rooms(ctx)
	if err != nil {
		return false, err.Error()
	}
	where := map[string]string{}
	for _, in := range people {
		if in.Status == houseparty.StatusInRoom && in.Room != nil {
			where[in.Name] = *in.Room
		}
	}
	listed := map[string]string{}
	for _, r := range rooms {
		for _, who := range r.People {
			if other, ok := listed[who]; ok {
				return false, fmt.Sprintf("%s listed in %s and %s", who, other, r.Name)
			}
			listed[who] = r.Name
			if where[who] != r.Name {
				return false, fmt.Sprintf("%s lists %s, who says it is in %q", r.Name, who, where[who])
			}
		}
	}
	for who, room := range where {
		if listed[who] != room {
			return false, fmt.Sprintf("%s says it is in %s, which does not list it", who, room)
		}
	}
	return true, ""
}

func waitAgree(t *testing.T, ctx context.Context, p *houseparty.Party, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := agree(ctx, p)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rooms and people still disagree after %v: %s", within, why)
		}
		time.Sleep(20 * time.Millisecond) // polling period
	}
}

// TestRoomsAndPeopleReconcile is issue 10's problem 10 in one process:
// whatever lost a removal or an entry (a room restarted from its spec, a
// netsplit's merge, a message lost with a node), rooms check their lists
// with their people and people confirm their rooms, so the two agree
// again within a few checks.
func TestRoomsAndPeopleReconcile(t *testing.T) {
	ctx := context.Background()
	t.Run("a room lists someone who left", func(t *testing.T) {
		p, reg := partyOn(t)
		s := houseparty.Scenario{Rooms: 3, RoomMax: 5, People: 6, PersonMax: 1, WanderDelay: 10 * time.Millisecond}
		if err := p.Start(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "everyone to leave", func() bool {
			st, err := p.Stats(ctx)
			return err == nil && st.PeopleLeftParty == s.People
		})
		// A stale entry, as a merge or a lost removal leaves one.
		if v, err := reg.Call(ctx, houseparty.RoomName(2), houseparty.ConfirmMsg{Person: houseparty.PersonName(4)}); err != nil || v != "ok" {
			t.Fatalf("inject a stale entry: %v %v", v, err)
		}
		if ok, _ := agree(ctx, p); ok {
			t.Fatal("the stale entry did not take")
		}
		waitAgree(t, ctx, p, 5*time.Second)
	})
	t.Run("a room lost someone who is in it", func(t *testing.T) {
		p, reg := partyOn(t)
		// Two full rooms, four people: every move fails, everyone stays.
		s := houseparty.Scenario{Rooms: 2, RoomMax: 2, People: 4, PersonMax: 10_000, WanderDelay: 10 * time.Millisecond}
		if err := p.Start(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "both rooms full", func() bool {
			rooms, err := p.Rooms(ctx)
			return err == nil && len(rooms) == 2 && rooms[0].Count == 2 && rooms[1].Count == 2
		})
		waitAgree(t, ctx, p, 5*time.Second)
		rooms, err := p.Rooms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lost := rooms[0].People[0]
		// The room forgets a person who still says it is there, as a room
		// restarted from its spec does.
		if _, err := reg.Call(ctx, rooms[0].Name, houseparty.RemoveMsg{Person: lost}); err != nil {
			t.Fatal(err)
		}
		// The room has a free place now, so someone else may take it
		// before the lost person confirms: it then finds its room full,
		// waits, and enters the place the other left. Either way everyone
		// ends up in a room, and rooms and people agree.
		waitFor(t, 5*time.Second, "all 4 in rooms, rooms and people agreeing", func() bool {
			st, err := p.Stats(ctx)
			ok, _ := agree(ctx, p)
			return err == nil && st.PeopleInRooms == 4 && ok
		})
		people, _ := p.People(ctx)
		if !slices.ContainsFunc(people, func(in houseparty.PersonInfo) bool { return in.Name == lost && in.Status == houseparty.StatusInRoom }) {
			t.Fatalf("%s is not in a room any more", lost)
		}
	})
}

// waitFor polls cond every 10 ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling period
	}
}
