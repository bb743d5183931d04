package houseparty_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/houseparty"
)

// watch checks the party's invariants at every room change, on every node.
type watch struct {
	mu         sync.Mutex
	where      map[string]string // person -> room
	violations []string
}

func (w *watch) onChange(ch houseparty.RoomChange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch.Count > ch.Max {
		w.violations = append(w.violations, fmt.Sprintf("%s holds %d of %d", ch.Room, ch.Count, ch.Max))
	}
	if ch.Entered {
		if r := w.where[ch.Person]; r != "" && r != ch.Room {
			w.violations = append(w.violations, fmt.Sprintf("%s entered %s while in %s", ch.Person, ch.Room, r))
		}
		w.where[ch.Person] = ch.Room
	} else if w.where[ch.Person] == ch.Room {
		delete(w.where, ch.Person)
	}
}

func (w *watch) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.violations = append(w.violations, fmt.Sprintf(format, args...))
}

// partyOptions are the options of a node with a registry and the
// party's types.
func partyOptions() clustertest.Options {
	return clustertest.Options{Codec: func(tb clustertest.T) *codec.Codec {
		c := codec.New()
		if err := houseparty.RegisterTypes(c); err != nil {
			tb.Fatal(err)
		}
		return c
	}}
}

type partyNode struct {
	node  *clustertest.Node
	party *houseparty.Party
}

// TestPartyAcrossClusterSurvivesRollingRestarts runs 50 rooms and 2,000
// people on 3 nodes for over a minute while each node in turn stops
// gracefully and a replacement joins: everyone leaves the party in the
// end, no attempt count ever goes backwards, no room is ever over its
// max, nobody is ever in two rooms.
func TestPartyAcrossClusterSurvivesRollingRestarts(t *testing.T) {
	s := houseparty.Scenario{Rooms: 50, RoomMax: 25, People: 2000, PersonMax: 20, WanderDelay: 2 * time.Second}
	if testing.Short() {
		s = houseparty.Scenario{Rooms: 10, RoomMax: 10, People: 200, PersonMax: 10, WanderDelay: time.Second}
	}
	w := &watch{where: map[string]string{}}
	opts := partyOptions()
	start := func(name, join string) partyNode {
		n := clustertest.Start(t, name, join, opts)
		p, err := houseparty.New(houseparty.Config{Seed: 7, OnRoomChange: w.onChange}, n.Registry)
		if err != nil {
			t.Fatal(err)
		}
		return partyNode{n, p}
	}
	var mu sync.Mutex
	live := []partyNode{start("n0@127.0.0.1", "")}
	for i := 1; i < 3; i++ {
		live = append(live, start(fmt.Sprintf("n%d@127.0.0.1", i), live[0].node.Cluster.Address()))
	}
	clustertest.Eventually(t, 20*time.Second, "3 nodes to see each other", func() bool {
		for _, pn := range live {
			if len(pn.node.Cluster.Nodes()) != 2 {
				return false
			}
		}
		return true
	})
	ctx := context.Background()
	began := time.Now()
	if err := live[1].party.Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Logf("party of %d rooms and %d people started from one node in %v", s.Rooms, s.People, time.Since(began).Round(time.Millisecond))
	someParty := func(i int) *houseparty.Party {
		mu.Lock()
		defer mu.Unlock()
		return live[i%len(live)].party
	}
	spread := map[string]int{}
	// Another node lists every room once the registrations have reached
	// it (the registry replicates them after Start returns).
	var rooms []houseparty.RoomInfo
	clustertest.Eventually(t, 10*time.Second, fmt.Sprintf("node 0 to list all %d rooms", s.Rooms), func() bool {
		var err error
		rooms, err = someParty(0).Rooms(ctx)
		return err == nil && len(rooms) == s.Rooms
	})
	for _, r := range rooms {
		spread[r.Node]++
	}
	if len(spread) != 3 {
		t.Fatalf("rooms run on %v; want all 3 nodes", spread)
	}

	// Sample everyone, and check that no count goes backwards, until all
	// have left.
	done := make(chan struct{})
	var samples int
	go func() {
		defer close(done)
		last := map[string]int{}
		deadline := time.Now().Add(4 * time.Minute)
		for i := 0; time.Now().Before(deadline); i++ {
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			people, err := someParty(i).People(sctx)
			cancel()
			if err != nil {
				continue // a node stopping under the sampler
			}
			samples++
			left := 0
			for _, p := range people {
				if p.Count < last[p.Name] {
					w.fail("%s's count went from %d back to %d", p.Name, last[p.Name], p.Count)
				}
				last[p.Name] = p.Count
				if p.Status == houseparty.StatusLeft {
					left++
				}
			}
			if len(people) == s.People && left == s.People {
				return
			}
			time.Sleep(300 * time.Millisecond) // sampling period, not synchronisation
		}
		w.fail("not everyone left the party within 4 minutes")
	}()

	// Roll the nodes: each in turn stops gracefully and a new one joins.
	for i := range 3 {
		time.Sleep(s.WanderDelay * 5) // let the party run between restarts
		mu.Lock()
		old := live[0]
		live = live[1:]
		mu.Unlock()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		stopped := time.Now()
		if err := old.node.Stop(sctx); err != nil {
			t.Errorf("graceful stop of %s: %v", old.node.Name, err)
		}
		cancel()
		took := time.Since(stopped)
		mu.Lock()
		join := live[0].node.Cluster.Address()
		mu.Unlock()
		fresh := start(fmt.Sprintf("r%d@127.0.0.1", i), join)
		mu.Lock()
		live = append(live, fresh)
		mu.Unlock()
		t.Logf("rolled %s (stopped in %v) -> %s", old.node.Name, took.Round(time.Millisecond), fresh.node.Name)
	}
	<-done
	stats, err := someParty(0).Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("party over after %v, %d samples: %+v", time.Since(began).Round(time.Second), samples, stats)
	if stats.PeopleLeftParty != s.People || stats.TotalPeople != s.People || stats.TotalRooms != s.Rooms {
		t.Errorf("end stats %+v; want all %d people left, %d rooms", stats, s.People, s.Rooms)
	}
	if time.Since(began) < time.Minute && !testing.Short() {
		t.Errorf("the party lasted %v; the scenario should run over a minute", time.Since(began))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		t.Fatalf("%d invariant violations, first: %v", len(w.violations), w.violations[:min(10, len(w.violations))])
	}
}

// TestPartySurvivesACrash kills one of 3 nodes during a party whose
// rooms and people checkpoint (sync, the default): no person's count
// ever goes backwards, not even across the crash; nobody is ever in two
// rooms, no room over its max; everyone leaves in the end and every room
// is empty then (no stale entry was left taking a place).
func TestPartySurvivesACrash(t *testing.T) {
	s := houseparty.Scenario{Rooms: 10, RoomMax: 8, People: 200, PersonMax: 12, WanderDelay: 300 * time.Millisecond}
	w := &watch{where: map[string]string{}}
	opts := partyOptions()
	var parties []*houseparty.Party
	first := clustertest.Start(t, "n0@127.0.0.1", "", opts)
	all := []*clustertest.Node{first,
		clustertest.Start(t, "n1@127.0.0.1", first.Cluster.Address(), opts),
		clustertest.Start(t, "n2@127.0.0.1", first.Cluster.Address(), opts)}
	for _, n := range all {
		cfg := houseparty.DefaultConfig()
		cfg.Seed, cfg.OnRoomChange = 7, w.onChange
		p, err := houseparty.New(cfg, n.Registry)
		if err != nil {
			t.Fatal(err)
		}
		parties = append(parties, p)
	}
	clustertest.Eventually(t, 20*time.Second, "3 nodes to see each other", func() bool {
		for _, n := range all {
			if len(n.Cluster.Nodes()) != 2 {
				return false
			}
		}
		return true
	})
	ctx := context.Background()
	if err := parties[0].Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	// Sample the people through the two nodes that stay: a count never
	// goes back; a sample that misses people (the crashed node's, until
	// they run again) is skipped.
	last := map[string]int{}
	samples, skipped := 0, 0
	sample := func(i int) (left int) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		people, err := parties[i%2].People(sctx)
		if err != nil || len(people) != s.People {
			skipped++
			return -1
		}
		samples++
		for _, p := range people {
			if p.Count < last[p.Name] {
				w.fail("%s's count went from %d back to %d", p.Name, last[p.Name], p.Count)
			}
			last[p.Name] = p.Count
			if p.Status == houseparty.StatusLeft {
				left++
			}
		}
		return left
	}
	clustertest.Eventually(t, 30*time.Second, "the party under way", func() bool {
		sample(0)
		moved := 0
		for _, c := range last {
			moved += c
		}
		return moved >= s.People*2
	})
	crashed := time.Now()
	all[2].Kill()
	var back time.Duration
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; ; i++ {
		left := sample(i)
		if left >= 0 && back == 0 {
			back = time.Since(crashed)
		}
		if left == s.People {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not everyone left within 3 minutes (last sample: %d left)", left)
		}
		time.Sleep(100 * time.Millisecond) // sampling period
	}
	rooms, err := parties[0].Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if len(r.People) != 0 {
			t.Errorf("room %s still lists %v after everyone left", r.Name, r.People)
		}
	}
	t.Logf("crash of %s: every person listed again %v after it; party over %v after it; %d samples (%d skipped while people were missing)",
		all[2].Name, back.Round(time.Millisecond), time.Since(crashed).Round(time.Millisecond), samples, skipped)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		t.Fatalf("%d invariant violations, first: %v", len(w.violations), w.violations[:min(10, len(w.violations))])
	}
}
