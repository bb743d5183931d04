package directory

import (
	"errors"
	"fmt"
	"slices"
)

// NodeID is one incarnation of a node: its name and a boot id drawn at
// random each time it starts. A node that comes back at the same name is
// a new NodeID.
type NodeID struct {
	Name string
	Inc  uint64
}

func (n NodeID) String() string { return fmt.Sprintf("%s#%x", n.Name, n.Inc&0xffff) }

// IsZero reports whether n is the zero NodeID.
func (n NodeID) IsZero() bool { return n.Name == "" && n.Inc == 0 }

func (n NodeID) less(o NodeID) bool {
	if n.Name != o.Name {
		return n.Name < o.Name
	}
	return n.Inc < o.Inc
}

// Inst is one running process: the node incarnation that runs it and its
// process id there. The zero Inst means none.
type Inst struct {
	Node NodeID
	ID   uint64
}

// IsZero reports whether i is the zero Inst.
func (i Inst) IsZero() bool { return i.ID == 0 && i.Node.IsZero() }

func (i Inst) String() string { return fmt.Sprintf("%v/%d", i.Node, i.ID) }

func (i Inst) less(o Inst) bool {
	if i.Node != o.Node {
		return i.Node.less(o.Node)
	}
	return i.ID < o.ID
}

// RegID identifies one registration of a name, from Register to its end:
// the incarnation of the primary that created it and a counter there.
type RegID struct {
	Inc uint64
	Seq uint64
}

// IsZero reports whether r is the zero RegID.
func (r RegID) IsZero() bool { return r == RegID{} }

func (r RegID) less(o RegID) bool {
	if r.Inc != o.Inc {
		return r.Inc < o.Inc
	}
	return r.Seq < o.Seq
}

// Spec is what any node needs to create a name's process: a kind and its
// encoded arguments, and whether the kind checkpoints its state (a
// record then keeps the state a move hands over as its checkpoint).
type Spec struct {
	Kind        string
	Args        []byte
	Checkpoints bool
}

// Record is one registered name as the directory holds it. It is kept
// small (every node holds a share of every name, twice at k = 1): what
// most records never set is behind More.
type Record struct {
	Name string
	Reg  RegID
	Spec Spec
	// Inst runs the name; Gen grows each time the primary changes Inst.
	Inst Inst
	Gen  uint64
	// More is nil while the record has no groups, no absorbed losers and
	// no From. It is never changed in place (records share it): setters
	// put a new one.
	More *RecordMore
}

// RecordMore holds what most records never set.
type RecordMore struct {
	Groups []string
	// GVer grows with each change of Groups at the primary: a copy that
	// missed a join or leave loses to one that saw it.
	GVer uint64
	// From is the instance Inst was handed over from (zero if started
	// from the spec): an old node asking again learns where it went.
	From Inst
	// Absorbed lists the last conflict losers whose merge the primary
	// approved (a duplicate is not merged twice), each with the process
	// it was approved into: a loser asking again is sent there, where its
	// state is, not to the name's process of the day.
	Absorbed []Merge
	// Ckpt is the newest checkpoint of Inst's state, or the one Inst was
	// restarted from; Orphans are other copies' checkpoints that Inst's
	// state does not hold yet (see ckpt.go).
	Ckpt    *Checkpoint
	Orphans []Checkpoint
}

// Merge is an approved merge: Loser's state goes into Into (and with it
// the states Loser had merged). In says it is there already: Loser's
// state came inside Into's, which had merged it (Into a loser too), so a
// resend of Loser's own is a duplicate, never to be delivered again.
type Merge struct {
	Loser, Into Inst
	In          bool
}

// Groups returns the groups the name is in.
func (r *Record) Groups() []string {
	if r.More == nil {
		return nil
	}
	return r.More.Groups
}

// GVer returns the version of the record's groups.
func (r *Record) GVer() uint64 {
	if r.More == nil {
		return 0
	}
	return r.More.GVer
}

// From returns the instance Inst was handed over from.
func (r *Record) From() Inst {
	if r.More == nil {
		return Inst{}
	}
	return r.More.From
}

// Absorbed returns the approved merges of the name's conflict losers.
func (r *Record) Absorbed() []Merge {
	if r.More == nil {
		return nil
	}
	return r.More.Absorbed
}

// absorbedInto returns where the merge of loser was approved into (ok
// false: it was not approved).
func (r *Record) absorbedInto(loser Inst) (into Inst, ok bool) {
	for _, m := range r.Absorbed() {
		if m.Loser == loser {
			return m.Into, true
		}
	}
	return Inst{}, false
}

// carried reports whether loser's state came inside another loser's:
// it is merged already, wherever a resend of its own is bound.
func (r *Record) carried(loser Inst) bool {
	for _, m := range r.Absorbed() {
		if m.Loser == loser {
			return m.In
		}
	}
	return false
}

// absorbed reports whether the merge of loser was approved.
func (r *Record) absorbed(loser Inst) bool {
	_, ok := r.absorbedInto(loser)
	return ok
}

// setMore changes what is behind More, copy on write.
func (r *Record) setMore(f func(m *RecordMore)) {
	var m RecordMore
	if r.More != nil {
		m = *r.More
	}
	f(&m)
	if len(m.Groups) == 0 && m.GVer == 0 && m.From.IsZero() && len(m.Absorbed) == 0 && m.Ckpt == nil && len(m.Orphans) == 0 {
		r.More = nil
		return
	}
	r.More = &m
}

// setFrom sets From.
func (r *Record) setFrom(from Inst) {
	if from == r.From() {
		return
	}
	r.setMore(func(m *RecordMore) { m.From = from })
}

// setAbsorbed sets Absorbed.
func (r *Record) setAbsorbed(a []Merge) {
	r.setMore(func(m *RecordMore) { m.Absorbed = a })
}

// setGroups sets Groups and their version.
func (r *Record) setGroups(groups []string, gver uint64) {
	r.setMore(func(m *RecordMore) { m.Groups, m.GVer = groups, gver })
}

// Answer is what a request learns of a name: the registration it met (or
// ended, for an unregistration) and its process.
type Answer struct {
	Name string
	Reg  RegID
	Inst Inst
}

func (r *Record) answer() Answer { return Answer{Name: r.Name, Reg: r.Reg, Inst: r.Inst} }

// maxAbsorbed bounds Record.Absorbed.
const maxAbsorbed = 32

// unionAbsorbed merges lists of absorbed losers into one sorted list of
// at most maxAbsorbed (the largest kept): a commutative, associative
// merge, so copies agree whatever order they meet in.
func unionAbsorbed(lists ...[]Inst) []Inst {
	var out []Inst
	for _, l := range lists {
		out = append(out, l...)
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, byLess(Inst.less))
	out = slices.Compact(out)
	if len(out) > maxAbsorbed {
		out = out[len(out)-maxAbsorbed:]
	}
	return out
}

// unionMerges merges lists of approved merges as unionAbsorbed does its
// lists. A loser approved into two processes (two primaries, each
// unaware of the other's approval) keeps the one known delivered (In),
// else the smaller.
func unionMerges(lists ...[]Merge) []Merge {
	var out []Merge
	for _, l := range lists {
		out = append(out, l...)
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b Merge) int {
		switch {
		case a.Loser != b.Loser:
			return byLess(Inst.less)(a.Loser, b.Loser)
		case a.In != b.In:
			if a.In {
				return -1
			}
			return 1
		default:
			return byLess(Inst.less)(a.Into, b.Into)
		}
	})
	out = slices.CompactFunc(out, func(a, b Merge) bool { return a.Loser == b.Loser })
	if len(out) > maxAbsorbed {
		out = out[len(out)-maxAbsorbed:]
	}
	return out
}

// mergesInto returns the merges of losers, each into into (in: their
// states are there already).
func mergesInto(into Inst, in bool, losers []Inst) []Merge {
	out := make([]Merge, 0, len(losers))
	for _, x := range losers {
		out = append(out, Merge{Loser: x, Into: into, In: in})
	}
	return out
}

// better reports whether r ranks above o in the merge order (both for one
// name, neither tombstoned): the smaller registration, then the higher
// generation, then the smaller instance.
func (r *Record) better(o *Record) bool {
	if r.Reg != o.Reg {
		return r.Reg.less(o.Reg)
	}
	if r.Gen != o.Gen {
		return r.Gen > o.Gen
	}
	if r.Inst != o.Inst {
		return r.Inst.less(o.Inst)
	}
	// A copy that knows where Inst came from (a process's own record
	// does not) before one that does not; any fixed order after that.
	// Groups last: a merge takes the best groups of either copy anyway,
	// so they must not decide which copy gives the rest.
	if rf, of := r.From(), o.From(); rf != of {
		if rf.IsZero() != of.IsZero() {
			return !rf.IsZero()
		}
		return rf.less(of)
	}
	return groupsAhead(r, o)
}

// groupsAhead reports whether r's groups rank above o's: the higher
// version, then (both sides of a split changed the groups as often) the
// smaller list, any fixed order keeping the merge a join. A merge takes
// the groups that rank first, whichever copy wins the rest.
func groupsAhead(r, o *Record) bool {
	if r.GVer() != o.GVer() {
		return r.GVer() > o.GVer()
	}
	return slices.Compare(r.Groups(), o.Groups()) < 0
}

// size estimates the bytes r takes on the wire.
func (r *Record) size() int {
	n := 64 + len(r.Name) + len(r.Spec.Kind) + len(r.Spec.Args) + len(r.Inst.Node.Name) + 64*len(r.Absorbed())
	for _, g := range r.Groups() {
		n += 4 + len(g)
	}
	if c := r.Ckpt(); c != nil {
		n += c.size()
	}
	for _, o := range r.Orphans() {
		n += o.size()
	}
	return n
}

// hash is r's contribution to a partition digest.
func (r *Record) hash() uint64 {
	h := fnv(14695981039346656037, r.Name)
	h = mixIn(h, r.Reg.Inc)
	h = mixIn(h, r.Reg.Seq)
	h = mixIn(h, r.Gen)
	h = mixIn(h, r.GVer())
	h = mixIn(h, r.Inst.ID)
	h = mixIn(h, r.Inst.Node.Inc)
	h = fnv(h, r.Inst.Node.Name)
	h = mixIn(h, r.From().ID)
	for _, a := range r.Absorbed() {
		h = mixIn(h, a.Loser.ID)
		h = mixIn(h, a.Into.ID)
		if a.In {
			h = mixIn(h, 1)
		}
	}
	for _, g := range r.Groups() {
		h = fnv(h, g)
	}
	if c := r.Ckpt(); c != nil {
		h = c.hashInto(h)
	}
	for _, o := range r.Orphans() {
		h = o.hashInto(mixIn(h, 2))
	}
	return mix(h)
}

// clone copies r (More is shared: it is never changed in place).
func (r *Record) clone() *Record {
	c := *r
	return &c
}

// Tomb is a dead registration: unregistered, exited, or the loser of a
// conflict. It is kept until Expires (a tick of the primary that made it,
// or of whoever merged it last).
type Tomb struct {
	Name    string
	Reg     RegID
	Expires uint64
}

func (t Tomb) hash() uint64 {
	return mix(mixIn(mixIn(fnv(7, t.Name), t.Reg.Inc), t.Reg.Seq))
}

// Errors a request can end with.
var (
	// ErrNotFound means the name is not registered.
	ErrNotFound = errors.New("name not registered")
	// ErrNoPrimary means no node serves the name's partition in this
	// node's view (no members, or no quorum).
	ErrNoPrimary = errors.New("no node serves the partition")
	// ErrTimeout means the request got no answer in time; it may still
	// have taken effect.
	ErrTimeout = errors.New("request timed out")
	// ErrTooLarge means a record would not fit in one message.
	ErrTooLarge = errors.New("record too large for one message")
	// ErrStartFailed means the process could not be started.
	ErrStartFailed = errors.New("process could not be started")
	// ErrBusy means the node has too many requests waiting.
	ErrBusy = errors.New("too many requests waiting")
	// ErrStale means a checkpoint came from a process the name no longer
	// runs on (it moved, or lost a conflict): it is not kept.
	ErrStale = errors.New("not the name's process")
)

// hashing: FNV-1a and the SplitMix64 finaliser (fixed functions, so every
// node and every version agrees).
func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= 0xff // separates consecutive strings
	h *= 1099511628211
	return h
}

func mixIn(h, v uint64) uint64 { return mix(h ^ mix(v+0x9e3779b97f4a7c15)) }

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// PartitionOf returns the partition of name among n.
func PartitionOf(name string, n int) int {
	return int(mix(fnv(14695981039346656037, name)) % uint64(n))
}
