package directory

import "slices"

// store is a partition's registrations: every live one of each name, the
// best first (the one the name resolves to; the others are shadowed: they
// lost a conflict and their processes give their state to the best's),
// and the dead ones.
//
// A store is a join-semilattice: merging two is a union of registrations
// and of tombstones, minus the tombstoned; the order copies are merged in
// does not matter. A shadowed registration comes back to the fore if the
// one that shadowed it ends on a node that never knew of it (the other
// side of a netsplit unregistering its own copy); an unregistration at a
// primary ends every registration of the name that primary knows.
type store struct {
	// names holds each name's best registration; shadowed the others,
	// best first (rare: only names that met a conflict). Two maps rather
	// than one of slices: a name costs a pointer, not a slice and its
	// array.
	names    map[string]*Record
	shadowed map[string][]*Record
	tombs    map[RegID]Tomb
	hash     uint64 // xor of every record's and tombstone's hash
	regs     int    // live registrations
	// groups indexes the names whose visible record is in each group, so
	// that listing a group costs its size, not the partition's.
	groups map[string]map[string]struct{}
	// nextExpiry is at most the earliest expiry of a tombstone (0: none
	// expires); expireTombs scans the tombstones only once it is due.
	nextExpiry uint64
}

func newStore() *store {
	return &store{names: map[string]*Record{}, shadowed: map[string][]*Record{}, tombs: map[RegID]Tomb{}, groups: map[string]map[string]struct{}{}}
}

// regroup updates the group index for name after its records changed;
// before is the groups of its visible record until then.
func (s *store) regroup(name string, before []string) {
	var after []string
	if r := s.visible(name); r != nil {
		after = r.Groups()
	}
	for _, g := range before {
		if !slices.Contains(after, g) {
			if set := s.groups[g]; set != nil {
				delete(set, name)
				if len(set) == 0 {
					delete(s.groups, g)
				}
			}
		}
	}
	for _, g := range after {
		set := s.groups[g]
		if set == nil {
			set = map[string]struct{}{}
			s.groups[g] = set
		}
		set[name] = struct{}{}
	}
}

// groupsOf returns the groups of name's visible record.
func (s *store) groupsOf(name string) []string {
	if r := s.visible(name); r != nil {
		return r.Groups()
	}
	return nil
}

func (s *store) empty() bool { return s.regs == 0 && len(s.tombs) == 0 }

// visible returns the registration name resolves to, or nil.
func (s *store) visible(name string) *Record { return s.names[name] }

// all returns every live registration of name, best first.
func (s *store) all(name string) []*Record {
	r := s.names[name]
	if r == nil {
		return nil
	}
	return append([]*Record{r}, s.shadowed[name]...)
}

// find returns name's live registration reg, or nil.
func (s *store) find(name string, reg RegID) *Record {
	if r := s.names[name]; r == nil || r.Reg == reg {
		return r
	}
	for _, r := range s.shadowed[name] {
		if r.Reg == reg {
			return r
		}
	}
	return nil
}

// set stores name's registrations, best first (none: the name is gone).
func (s *store) set(name string, rs []*Record) {
	switch len(rs) {
	case 0:
		delete(s.names, name)
		delete(s.shadowed, name)
	case 1:
		s.names[name] = rs[0]
		delete(s.shadowed, name)
	default:
		s.names[name] = rs[0]
		s.shadowed[name] = slices.Clone(rs[1:])
	}
}

// apply makes one change.
func (s *store) apply(op *Op) {
	switch op.Kind {
	case OpPut:
		r := op.Rec.clone()
		before := s.groupsOf(r.Name)
		defer s.regroup(r.Name, before)
		if cur := s.names[r.Name]; cur == nil || cur.Reg == r.Reg && len(s.shadowed[r.Name]) == 0 {
			if cur == nil { // the common cases, without a slice
				s.regs++
			} else {
				s.hash ^= cur.hash()
			}
			s.hash ^= r.hash()
			s.names[r.Name] = r
			return
		}
		rs := s.all(r.Name)
		if i := slices.IndexFunc(rs, func(o *Record) bool { return o.Reg == r.Reg }); i >= 0 {
			s.hash ^= rs[i].hash()
			rs[i] = r
		} else {
			rs = append(rs, r)
			s.regs++
		}
		s.hash ^= r.hash()
		slices.SortFunc(rs, byLess((*Record).better))
		s.set(r.Name, rs)
	case OpDel:
		t := op.Tomb
		if _, ok := s.tombs[t.Reg]; !ok {
			s.tombs[t.Reg] = t
			s.hash ^= t.hash()
			if t.Expires != 0 && (s.nextExpiry == 0 || t.Expires < s.nextExpiry) {
				s.nextExpiry = t.Expires
			}
		}
		rs := s.all(t.Name)
		if i := slices.IndexFunc(rs, func(o *Record) bool { return o.Reg == t.Reg }); i >= 0 {
			defer s.regroup(t.Name, s.groupsOf(t.Name))
			s.hash ^= rs[i].hash()
			rs = slices.Delete(rs, i, i+1)
			s.regs--
			s.set(t.Name, rs)
		}
	case OpDropTomb:
		if t, ok := s.tombs[op.Tomb.Reg]; ok {
			delete(s.tombs, t.Reg)
			s.hash ^= t.hash()
		}
	}
}

// each calls f for every live registration, by name, best first.
func (s *store) each(f func(*Record)) {
	for _, name := range sortedKeys(s.names) {
		f(s.names[name])
		for _, r := range s.shadowed[name] {
			f(r)
		}
	}
}

// diff returns the changes that merge src into s.
func (s *store) diff(src *store, expires uint64) []Op {
	var ops []Op
	for _, reg := range sortedRegs(src.tombs) {
		if _, ok := s.tombs[reg]; !ok {
			t := src.tombs[reg]
			t.Expires = expires
			ops = append(ops, Op{Kind: OpDel, Tomb: t})
		}
	}
	src.each(func(r *Record) {
		if _, dead := s.tombs[r.Reg]; dead {
			return
		}
		if _, dead := src.tombs[r.Reg]; dead {
			return
		}
		cur := s.find(r.Name, r.Reg)
		if cur == nil {
			ops = append(ops, Op{Kind: OpPut, Rec: *r})
			return
		}
		// The better copy, knowing every merge either copy knows of, and
		// keeping every checkpoint either holds.
		rec, other := *cur.clone(), r
		if r.better(cur) {
			rec, other = *r.clone(), cur
		}
		if !subsetMerges(r.Absorbed(), cur.Absorbed()) {
			rec.setAbsorbed(unionMerges(r.Absorbed(), cur.Absorbed()))
		}
		// Groups go with their own version, not with the instance: a
		// copy that moved or restarted the process (a higher Gen) but
		// missed a join or leave must not undo it.
		if groupsAhead(other, &rec) {
			rec.setGroups(other.Groups(), other.GVer())
		}
		mergeCkpts(&rec, other)
		if rec.Inst != cur.Inst || rec.Gen != cur.Gen || rec.More != cur.More {
			ops = append(ops, Op{Kind: OpPut, Rec: rec})
		}
	})
	return ops
}

// subsetMerges reports whether the union of a and b is b.
func subsetMerges(a, b []Merge) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// merge merges src into s.
func (s *store) merge(src *store) (changed bool) {
	ops := s.diff(src, 0)
	for _, op := range ops {
		s.apply(&op)
	}
	return len(ops) > 0
}

// fromChunks builds a store from the records and tombstones of a copy.
func fromChunks(recs [][]Record, tombs [][]Tomb) *store {
	s := newStore()
	for _, ts := range tombs {
		for _, t := range ts {
			s.apply(&Op{Kind: OpDel, Tomb: t})
		}
	}
	for _, rs := range recs {
		for i := range rs {
			if _, dead := s.tombs[rs[i].Reg]; !dead {
				s.merge(storeOfRecord(rs[i]))
			}
		}
	}
	return s
}

func sortedRegs(m map[RegID]Tomb) []RegID {
	out := make([]RegID, 0, len(m))
	for reg := range m {
		out = append(out, reg)
	}
	slices.SortFunc(out, byLess(RegID.less))
	return out
}

func storeOfRecord(r Record) *store {
	s := newStore()
	s.apply(&Op{Kind: OpPut, Rec: r})
	return s
}
