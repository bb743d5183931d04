//go:build houseparty_v2

package houseparty

// stateExtra of the second build (see extra.go): a field the first build
// does not know.
type stateExtra struct {
	// Build names the build that last saved the state.
	Build string
}

// stamp returns this build's extra state.
func (stateExtra) stamp() stateExtra { return stateExtra{Build: "v2"} }
