package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveOwner is the reference: compute every member's weight for name the
// slow, obvious way and take the largest (ties to the smallest name).
func naiveOwner(name string, members []string) string {
	best, bestW := "", uint64(0)
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	for i, m := range sorted {
		w := mix(hashString(name) ^ mix(hashString(m)^0x9e3779b97f4a7c15))
		if i == 0 || w > bestW {
			best, bestW = m, w
		}
	}
	return best
}

func nodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("houseparty@10.0.0.%d", i+1)
	}
	return out
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("person_%d", i)
	}
	return out
}

func TestMatchesNaiveReference(t *testing.T) {
	const seed = 11
	rnd := rand.New(rand.NewPCG(seed, seed))
	for round := range 50 {
		ms := nodes(1 + rnd.IntN(12))
		rnd.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		tab, err := Rendezvous{}.Table(ms)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			name := fmt.Sprintf("n-%d-%d", round, rnd.Uint64())
			if got, want := tab.Owner(name), naiveOwner(name, ms); got != want {
				t.Fatalf("seed %d round %d name %d: owner %s, reference %s", seed, round, i, got, want)
			}
		}
	}
}

func TestOrderAndDuplicatesDoNotMatter(t *testing.T) {
	ms := nodes(5)
	a, _ := Rendezvous{}.Table(ms)
	rev := slices.Clone(ms)
	slices.Reverse(rev)
	b, _ := Rendezvous{}.Table(append(rev, ms[0], ms[3]))
	for _, n := range names(2000) {
		if a.Owner(n) != b.Owner(n) {
			t.Fatalf("%s: owners differ with member order", n)
		}
	}
	if !slices.Equal(b.Members(), ms) {
		t.Fatalf("members = %v", b.Members())
	}
}

func TestBalance(t *testing.T) {
	for _, n := range []int{2, 3, 5, 10} {
		tab, _ := Rendezvous{}.Table(nodes(n))
		count := map[string]int{}
		const total = 100_000
		for _, name := range names(total) {
			count[tab.Owner(name)]++
		}
		fair := total / n
		for m, c := range count {
			if c < fair*90/100 || c > fair*110/100 {
				t.Fatalf("%d nodes: %s owns %d of %d (fair %d)", n, m, c, total, fair)
			}
		}
	}
}

func TestMinimalMovement(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 8} {
		before, _ := Rendezvous{}.Table(nodes(n))
		grown := append(nodes(n), "houseparty@10.0.1.99")
		after, _ := Rendezvous{}.Table(grown)
		moved := 0
		all := names(50_000)
		for _, name := range all {
			o1, o2 := before.Owner(name), after.Owner(name)
			if o1 != o2 {
				moved++
				if o2 != "houseparty@10.0.1.99" {
					t.Fatalf("join of a node moved %s from %s to %s", name, o1, o2)
				}
			}
		}
		want := len(all) / (n + 1)
		if moved < want*85/100 || moved > want*115/100 {
			t.Fatalf("%d->%d nodes moved %d names; expected about %d", n, n+1, moved, want)
		}
		// Removing it again moves exactly those names back.
		for _, name := range all {
			if after.Owner(name) != "houseparty@10.0.1.99" && after.Owner(name) != before.Owner(name) {
				t.Fatalf("leave moved %s, which the leaving node did not own", name)
			}
		}
	}
}

func TestQuorum(t *testing.T) {
	q := Quorum{Min: 3}
	if _, err := q.Table(nodes(2)); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("2 of 3 = %v", err)
	}
	if _, err := q.Table(append(nodes(2), nodes(2)...)); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("duplicates counted toward quorum: %v", err)
	}
	tab, err := q.Table(nodes(3))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := Rendezvous{}.Table(nodes(3))
	for _, n := range names(1000) {
		if tab.Owner(n) != ref.Owner(n) {
			t.Fatal("quorum table differs from its inner strategy")
		}
	}
	if _, err := (Rendezvous{}).Table(nil); !errors.Is(err, ErrNoMembers) {
		t.Fatalf("no members = %v", err)
	}
}

// TestStableAcrossVersions pins a few owners so a change of hash function
// (which would make mixed-version clusters disagree) cannot go unnoticed.
func TestStableAcrossVersions(t *testing.T) {
	tab, _ := Rendezvous{}.Table(nodes(3))
	got := []string{tab.Owner("room_1"), tab.Owner("person_1"), tab.Owner("person_2000")}
	want := pinned
	if want == nil {
		t.Fatalf("pin these owners: %q", got)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("owners changed: %q, pinned %q", got, want)
	}
}

var pinned = []string{"houseparty@10.0.0.3", "houseparty@10.0.0.1", "houseparty@10.0.0.2"}

func BenchmarkOwner(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tab, _ := Rendezvous{}.Table(nodes(n))
			ns := names(1024)
			for i := 0; b.Loop(); i++ {
				_ = tab.Owner(ns[i&1023])
			}
		})
	}
}
