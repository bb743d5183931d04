package houseparty_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/houseparty"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// ledger checks the party's invariants at every room change: no room over
// capacity, no person in two rooms.
type ledger struct {
	mu         sync.Mutex
	whereIs    map[string]string
	violations []string
}

func newLedger() *ledger { return &ledger{whereIs: map[string]string{}} }

func (l *ledger) observe(c houseparty.RoomChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.Count > c.Max {
		l.violations = append(l.violations, fmt.Sprintf("%s holds %d of max %d", c.Room, c.Count, c.Max))
	}
	if c.Entered {
		if other, in := l.whereIs[c.Person]; in {
			l.violations = append(l.violations, fmt.Sprintf("%s entered %s while in %s", c.Person, c.Room, other))
		}
		l.whereIs[c.Person] = c.Room
		return
	}
	if l.whereIs[c.Person] != c.Room {
		l.violations = append(l.violations, fmt.Sprintf("%s left %s but was in %q", c.Person, c.Room, l.whereIs[c.Person]))
	}
	delete(l.whereIs, c.Person)
}

func (l *ledger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) > 0 {
		t.Fatalf("%d invariant violations, first: %v", len(l.violations), l.violations[:min(5, len(l.violations))])
	}
}

func newParty(t *testing.T, onChange func(houseparty.RoomChange)) *houseparty.Party {
	t.Helper()
	cfg := houseparty.DefaultConfig()
	cfg.OnRoomChange = onChange
	return newPartyWith(t, cfg)
}

func newPartyWith(t *testing.T, cfg houseparty.Config) *houseparty.Party {
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
	cfg.Seed = uint64(time.Now().UnixNano())
	t.Logf("party seed %d", cfg.Seed)
	p, err := houseparty.New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runScenario starts s, samples rooms until everyone has left (or the
// deadline), and checks the invariants on every sample.
func runScenario(t *testing.T, s houseparty.Scenario, within time.Duration) {
	l := newLedger()
	cfg := houseparty.DefaultConfig()
	cfg.OnRoomChange = l.observe
	runScenarioWith(t, cfg, l, s, within)
}

func runScenarioWith(t *testing.T, cfg houseparty.Config, l *ledger, s houseparty.Scenario, within time.Duration) {
	p := newPartyWith(t, cfg)
	ctx := context.Background()
	began := time.Now()
	if err := p.Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	deadline := began.Add(within)
	samples := 0
	for {
		rooms, err := p.Rooms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		samples++
		for _, r := range rooms {
			if r.Count > r.Max || len(r.People) != r.Count {
				t.Fatalf("sample %d: room %s holds %d (listed %d) of max %d", samples, r.Name, r.Count, len(r.People), r.Max)
			}
		}
		l.check(t)
		st, err := p.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalPeople != s.People || st.TotalRooms != s.Rooms {
			t.Fatalf("stats count %d people, %d rooms; want %d, %d", st.TotalPeople, st.TotalRooms, s.People, s.Rooms)
		}
		if st.PeopleWaitingToEnterParty+st.PeopleInRooms+st.PeopleLeftParty != s.People {
			t.Fatalf("people counters do not add up: %+v", st)
		}
		if st.PeopleLeftParty == s.People {
			if st.AvgWanderlustCompletion != 100.0 || st.AvgFullness != 0.0 {
				t.Fatalf("final stats %+v; want completion 100.0, fullness 0.0", st)
			}
			t.Logf("%d people left the party after %v (%d samples)", s.People, time.Since(began).Round(time.Millisecond), samples)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v only %d of %d people left: %+v", within, st.PeopleLeftParty, s.People, st)
		}
		time.Sleep(20 * time.Millisecond) // sampling period, not synchronisation
	}
}

func TestSmallScenario(t *testing.T) {
	runScenario(t, houseparty.Small, 30*time.Second)
}

func TestBigScenario(t *testing.T) {
	runScenario(t, houseparty.Big, 30*time.Second)
}

func TestScenarioResetsFirst(t *testing.T) {
	p := newParty(t, nil)
	ctx := context.Background()
	slow := houseparty.Scenario{Rooms: 3, RoomMax: 5, People: 10, PersonMax: 5, WanderDelay: time.Hour}
	if err := p.Start(ctx, slow); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx, houseparty.Scenario{Rooms: 2, RoomMax: 5, People: 4, PersonMax: 5, WanderDelay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	st, err := p.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalPeople != 4 || st.TotalRooms != 2 || st.PeopleWaitingToEnterParty != 4 {
		t.Fatalf("after second scenario: %+v", st)
	}
	if err := p.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.Stats(ctx); st.TotalPeople != 0 || st.TotalRooms != 0 || st.AvgFullness != 0 || st.AvgWanderlustCompletion != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}

func TestScenarioValidation(t *testing.T) {
	ok := houseparty.Small
	for name, mut := range map[string]func(*houseparty.Scenario){
		"rooms":      func(s *houseparty.Scenario) { s.Rooms = 1 },
		"room_max":   func(s *houseparty.Scenario) { s.RoomMax = 0 },
		"people":     func(s *houseparty.Scenario) { s.People = -1 },
		"person_max": func(s *houseparty.Scenario) { s.PersonMax = 10_001 },
		"delay_ms":   func(s *houseparty.Scenario) { s.WanderDelay = time.Millisecond },
	} {
		s := ok
		mut(&s)
		err := s.Validate()
		if !errors.Is(err, houseparty.ErrInvalidScenario) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s out of range: %v", name, err)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSummarizeFormulas(t *testing.T) {
	room := "room_1"
	left := houseparty.StatusLeft
	people := []houseparty.PersonInfo{
		{Status: houseparty.StatusWaiting, Count: 0, Max: 20},
		{Status: houseparty.StatusInRoom, Room: &room, Count: 7, Max: 20},
		{Status: houseparty.StatusLeft, Room: &left, Count: 20, Max: 20},
	}
	rooms := []houseparty.RoomInfo{{Count: 1, Max: 10}, {Count: 0, Max: 10}, {Count: 0, Max: 10}}
	st := houseparty.Summarize(people, rooms)
	want := houseparty.Stats{
		TotalPeople: 3, TotalRooms: 3,
		PeopleWaitingToEnterParty: 1, PeopleInRooms: 1, PeopleLeftParty: 1,
		AvgWanderlustCompletion: 45.0, // 27/60
		AvgFullness:             3.3,  // 1/30
		PersonCount:             27, PersonMax: 60, RoomCount: 1, RoomMax: 30,
	}
	if st != want {
		t.Fatalf("summarize = %+v\nwant %+v", st, want)
	}
	if empty := houseparty.Summarize(nil, nil); empty.AvgFullness != 0 || empty.AvgWanderlustCompletion != 0 {
		t.Fatalf("empty party stats %+v", empty)
	}
}

// TestLateRoomRepliesKeepInvariants makes every room change slower than a
// person's call timeout, so that replies arrive after the caller gave up:
// people must retry, never end up in two rooms, and still all leave.
func TestLateRoomRepliesKeepInvariants(t *testing.T) {
	l := newLedger()
	cfg := houseparty.DefaultConfig()
	cfg.CallTimeout = 2 * time.Millisecond
	cfg.OnRoomChange = func(c houseparty.RoomChange) {
		l.observe(c)
		time.Sleep(3 * time.Millisecond) // a slow room, longer than the call timeout
	}
	runScenarioWith(t, cfg, l, houseparty.Scenario{Rooms: 3, RoomMax: 4, People: 20, PersonMax: 5, WanderDelay: 10 * time.Millisecond}, 60*time.Second)
}
