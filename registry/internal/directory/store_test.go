package directory

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomStore builds a store of a few names, registrations, generations
// and tombstones, from a small space so that stores overlap.
func randomStore(r *rand.Rand) *store {
	s := newStore()
	for range r.IntN(8) {
		reg := RegID{Inc: uint64(r.IntN(2) + 1), Seq: uint64(r.IntN(4) + 1)}
		name := fmt.Sprintf("n%d", (reg.Inc*7+reg.Seq)%3) // a registration has one name
		if r.IntN(4) == 0 {
			s.apply(&Op{Kind: OpDel, Tomb: Tomb{Name: name, Reg: reg}})
			continue
		}
		rec := Record{Name: name, Reg: reg, Gen: uint64(r.IntN(3)),
			Inst: Inst{Node: NodeID{Name: "a", Inc: 1}, ID: uint64(r.IntN(3) + 1)}}
		var groups []string
		for g := range 3 {
			if r.IntN(2) == 0 {
				groups = append(groups, fmt.Sprintf("g%d", g))
			}
		}
		rec.setGroups(groups, uint64(r.IntN(3)))
		if r.IntN(2) == 0 {
			rec.setFrom(Inst{Node: NodeID{Name: "b", Inc: 1}, ID: uint64(r.IntN(2) + 1)})
		}
		if _, dead := s.tombs[reg]; !dead {
			if cur := s.find(name, reg); cur == nil || rec.better(cur) {
				s.apply(&Op{Kind: OpPut, Rec: rec})
			}
		}
	}
	return s
}

func merged(stores ...*store) *store {
	out := newStore()
	for _, s := range stores {
		out.merge(s)
	}
	return out
}

// TestStoreMergeIsAJoin checks that merging copies is commutative,
// associative and idempotent, so that a primary ends with the same
// registrations whatever order the copies reach it in.
func TestStoreMergeIsAJoin(t *testing.T) {
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 1))
		a, b, c := randomStore(r), randomStore(r), randomStore(r)
		ab, ba := merged(a, b), merged(b, a)
		if ab.hash != ba.hash {
			t.Fatalf("seed %d: a+b and b+a differ", seed)
		}
		if x, y := merged(merged(a, b), c), merged(a, merged(b, c)); x.hash != y.hash {
			t.Fatalf("seed %d: (a+b)+c and a+(b+c) differ", seed)
		}
		if aa := merged(a, a); aa.hash != merged(a).hash {
			t.Fatalf("seed %d: a+a differs from a", seed)
		}
		// No tombstoned registration survives a merge.
		ab.each(func(rec *Record) {
			if _, dead := ab.tombs[rec.Reg]; dead {
				t.Fatalf("seed %d: %s %v is tombstoned but live", seed, rec.Name, rec.Reg)
			}
		})
	}
}

// TestStoreGroupsMergeByVersion checks that a copy that moved the
// process (a higher generation) but missed a join keeps the instance and
// takes the groups of the copy that saw the join, in either order.
func TestStoreGroupsMergeByVersion(t *testing.T) {
	reg := RegID{Inc: 1, Seq: 1}
	moved := Record{Name: "x", Reg: reg, Gen: 3, Inst: Inst{Node: NodeID{Name: "b", Inc: 1}, ID: 9}}
	joined := Record{Name: "x", Reg: reg, Gen: 2, Inst: Inst{Node: NodeID{Name: "a", Inc: 1}, ID: 4}}
	joined.setGroups([]string{"g"}, 1)
	for _, order := range [][]Record{{moved, joined}, {joined, moved}} {
		s := merged(storeOfRecord(order[0]), storeOfRecord(order[1]))
		v := s.visible("x")
		if v.Gen != 3 || v.Inst != moved.Inst || fmt.Sprint(v.Groups()) != "[g]" || v.GVer() != 1 {
			t.Fatalf("merged %v then %v: gen %d inst %v groups %v@%d; want gen 3 on %v in [g]@1",
				order[0].Inst, order[1].Inst, v.Gen, v.Inst, v.Groups(), v.GVer(), moved.Inst)
		}
		if _, ok := s.groups["g"]["x"]; !ok {
			t.Fatalf("the group index misses x: %v", s.groups)
		}
	}
}

// TestStoreVisibleIsBest checks that a name resolves to its best live
// registration and that a tombstone brings the next one to the fore.
func TestStoreVisibleIsBest(t *testing.T) {
	s := newStore()
	r1 := Record{Name: "x", Reg: RegID{Inc: 1, Seq: 1}, Gen: 1}
	r2 := Record{Name: "x", Reg: RegID{Inc: 2, Seq: 1}, Gen: 5}
	s.apply(&Op{Kind: OpPut, Rec: r2})
	s.apply(&Op{Kind: OpPut, Rec: r1})
	if v := s.visible("x"); v.Reg != r1.Reg {
		t.Fatalf("visible = %v, want the smaller registration %v", v.Reg, r1.Reg)
	}
	s.apply(&Op{Kind: OpDel, Tomb: Tomb{Name: "x", Reg: r1.Reg}})
	if v := s.visible("x"); v == nil || v.Reg != r2.Reg {
		t.Fatalf("after r1 ended, visible = %v, want the shadowed %v", v, r2.Reg)
	}
	if s.regs != 1 || len(s.tombs) != 1 {
		t.Fatalf("regs %d tombs %d, want 1 and 1", s.regs, len(s.tombs))
	}
}

// TestStoreGroupIndex checks that the group index lists exactly the names
// whose visible record is in each group, after any puts, deletes and
// merges.
func TestStoreGroupIndex(t *testing.T) {
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 2))
		s := merged(randomStore(r), randomStore(r), randomStore(r))
		want := map[string]map[string]struct{}{}
		for name := range s.names {
			for _, g := range s.visible(name).Groups() {
				if want[g] == nil {
					want[g] = map[string]struct{}{}
				}
				want[g][name] = struct{}{}
			}
		}
		if fmt.Sprint(want) != fmt.Sprint(s.groups) {
			t.Fatalf("seed %d: group index %v; want %v", seed, s.groups, want)
		}
	}
}
