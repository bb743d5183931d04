package main

import (
	"context"
	"maps"

	"github.com/shoalhq/shoal/process"
)

// The messages a session takes, and its state: what crosses between
// nodes (declared with the kind, so Shoal registers and checks them).
type (
	// Put sets Key to Value in the session.
	Put struct{ Key, Value string }
	// Get asks for the session's state.
	Get struct{}
	// State is a session's state, and the answer to Put and Get.
	State struct {
		Values map[string]string
		Writes int
	}
)

// session is one user's session: a process named "session-<user>",
// started on the node that owns the name at its first message.
type session struct{ st State }

func newSession([]byte) (process.Behavior, error) {
	return &session{st: State{Values: map[string]string{}}}, nil
}

// snapshot is a copy of the state: a reply to a caller on this node is
// handed over as it is, and the map must not be shared with the process.
func (s *session) snapshot() State {
	return State{Values: maps.Clone(s.st.Values), Writes: s.st.Writes}
}

func (s *session) HandleCall(_ context.Context, _ process.Self, msg any) (any, error) {
	if p, ok := msg.(Put); ok {
		s.st.Values[p.Key] = p.Value
		s.st.Writes++
	}
	return s.snapshot(), nil
}

func (s *session) HandleCast(context.Context, process.Self, any) {}
func (s *session) HandleInfo(context.Context, process.Self, any) {}

// CheckpointState is saved after every message (sync checkpoints): a
// crash of the node loses no acknowledged write.
func (s *session) CheckpointState(context.Context, process.Self) any { return s.snapshot() }

// BeginHandoff moves the state along when the session's name moves to
// another node (a node joins, or this one stops).
func (s *session) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: s.snapshot()}
}

// EndHandoff takes the state over, after a move or a restart.
func (s *session) EndHandoff(_ context.Context, _ process.Self, state any) error {
	s.st = state.(State)
	if s.st.Values == nil {
		s.st.Values = map[string]string{}
	}
	return nil
}
