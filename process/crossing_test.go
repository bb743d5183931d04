package process_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

type (
	portable   struct{ N int }
	unportable struct{ N int } // never registered
)

// echo replies with what a call carries and counts casts and infos.
type echo struct{ got []any }

func (e *echo) HandleCall(_ context.Context, _ process.Self, msg any) (any, error) {
	if m, ok := msg.(portable); ok && m.N < 0 {
		return unportable{N: m.N}, nil
	}
	return msg, nil
}
func (e *echo) HandleCast(_ context.Context, _ process.Self, msg any) { e.got = append(e.got, msg) }
func (e *echo) HandleInfo(_ context.Context, _ process.Self, msg any) { e.got = append(e.got, msg) }

// TestLocalMessagesCross: with Config.Codec, messages to a local process
// and replies go through the codec; a type it cannot carry fails at the
// call, cast or send with ErrWontCross naming the type, the process, its
// kind and the node. Pointer forms of a registered type pass.
func TestLocalMessagesCross(t *testing.T) {
	c := codec.New()
	if err := c.Register("t.portable", portable{}); err != nil {
		t.Fatal(err)
	}
	kinds := process.NewKinds()
	if err := kinds.Register("echo", func([]byte) (process.Behavior, error) { return &echo{}, nil }); err != nil {
		t.Fatal(err)
	}
	rt, err := process.NewRuntime(process.Config{Node: "a@h", Codec: c}, kinds)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	ctx := context.Background()
	p, err := rt.Spawn(ctx, process.Spec{Kind: "echo"}, process.SpawnOptions{Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind() != "echo" {
		t.Fatalf("Kind() = %q", p.Kind())
	}
	if v, err := rt.Call(ctx, p.Ref(), &portable{N: 1}); err != nil || *(v.(*portable)) != (portable{N: 1}) {
		t.Fatalf("call with a pointer to a registered type: %v, %v", v, err)
	}
	named := func(what string, err error, words ...string) {
		t.Helper()
		if !errors.Is(err, process.ErrWontCross) {
			t.Fatalf("%s: %v, want ErrWontCross", what, err)
		}
		for _, w := range append(words, `kind "echo"`, "a@h", "process e") {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: %q does not name %s", what, err, w)
			}
		}
	}
	_, err = rt.Call(ctx, p.Ref(), unportable{})
	named("call", err, "call", "process_test.unportable")
	_, err = rt.Call(ctx, p.Ref(), portable{N: -1})
	named("reply", err, "reply from", "process_test.unportable")
	named("cast", rt.Cast(p.Ref(), unportable{}), "cast")
	named("send", rt.Send(p.Ref(), unportable{}), "send")
}
