package process_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shoalhq/shoal/process"
)

// namedRemote is a Remote that only says which node it is.
type namedRemote struct{ node string }

func (r namedRemote) Node() string { return r.node }
func (namedRemote) Call(context.Context, process.Ref, any) (any, error) {
	return nil, errors.New("unused")
}
func (namedRemote) Cast(process.Ref, any) error { return errors.New("unused") }
func (namedRemote) Send(process.Ref, any) error { return errors.New("unused") }
func (namedRemote) CallAsync(context.Context, process.Ref, any, func(any, error)) error {
	return errors.New("unused")
}

// Mistakes of wiring that used to pass silently get clear errors: a
// Remote of another node, a message to another node from a runtime with
// no Remote (it used to be "no such process", logged at debug), and a
// kind unknown on this node (now named).
func TestWiringMistakesAreNamed(t *testing.T) {
	_, err := process.NewRuntime(process.Config{Node: "a@h", Remote: namedRemote{node: "b@h"}}, process.NewKinds())
	if !errors.Is(err, process.ErrInvalid) || !strings.Contains(err.Error(), `Config.Node is "a@h" but its Remote is node "b@h"`) {
		t.Fatalf("a runtime with another node's Remote: %v", err)
	}
	if _, err := process.NewRuntime(process.Config{Node: "a@h", Remote: namedRemote{node: "a@h"}}, process.NewKinds()); err != nil {
		t.Fatalf("a runtime with its own Remote: %v", err)
	}

	rt, err := process.NewRuntime(process.Config{Node: "a@h"}, process.NewKinds())
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	far := process.Ref{Node: "b@h", ID: 99}
	_, callErr := rt.Call(context.Background(), far, "x")
	for what, err := range map[string]error{"call": callErr, "cast": rt.Cast(far, "x"), "send": rt.Send(far, "x")} {
		if !errors.Is(err, process.ErrNoRemote) || !errors.Is(err, process.ErrNoProcess) ||
			!strings.Contains(err.Error(), "from node a@h") || !strings.Contains(err.Error(), "no Remote") {
			t.Errorf("%s to another node without a Remote: %v", what, err)
		}
	}
	if _, err := rt.Call(context.Background(), process.Ref{Node: "a@h", ID: 99}, "x"); errors.Is(err, process.ErrNoRemote) || !errors.Is(err, process.ErrNoProcess) {
		t.Errorf("call to a missing local process: %v", err)
	}

	_, err = rt.Spawn(context.Background(), process.Spec{Kind: "nope"}, process.SpawnOptions{})
	if !errors.Is(err, process.ErrUnknownKind) || !strings.Contains(err.Error(), "node a@h") || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("spawn of an unknown kind: %v", err)
	}
}
