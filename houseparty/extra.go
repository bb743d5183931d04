//go:build !houseparty_v2

package houseparty

// stateExtra holds what a later build adds to the state a person hands
// on (PersonState.Extra). This build adds nothing. The container suite
// (test/e2e) builds a second binary with the tag houseparty_v2, whose
// stateExtra has a field more (extra_v2.go), and rolls a running party
// from this build to that one: states cross between the two builds both
// ways, and every count must survive (the codec skips a field the
// receiving build does not know).
type stateExtra struct{}

// stamp returns this build's extra state.
func (stateExtra) stamp() stateExtra { return stateExtra{} }
