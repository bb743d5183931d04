package process_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal/process"
)

// gate blocks a call to "wait" until release is closed; entered closes
// once it waits.
type gate struct{ entered, release chan struct{} }

func (g *gate) HandleCall(_ context.Context, _ process.Self, msg any) (any, error) {
	if msg == "wait" {
		close(g.entered)
		<-g.release
	}
	return "ok", nil
}
func (g *gate) HandleCast(context.Context, process.Self, any) {}
func (g *gate) HandleInfo(context.Context, process.Self, any) {}

// busyGate starts a process of a kind with mailbox opts, stuck in a
// handler until the returned func is called.
func busyGate(t *testing.T, opts process.MailboxOptions) (*process.Runtime, *process.Process, func()) {
	t.Helper()
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	kinds := process.NewKinds()
	if err := kinds.RegisterWith("gate", func([]byte) (process.Behavior, error) { return g, nil }, process.KindOptions{Mailbox: opts}); err != nil {
		t.Fatal(err)
	}
	rt, err := process.NewRuntime(process.Config{Node: "a@h"}, kinds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	p, err := rt.Spawn(context.Background(), process.Spec{Kind: "gate"}, process.SpawnOptions{Name: "g"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = p.Call(context.Background(), "wait") }()
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the process never took the blocking call")
	}
	return rt, p, func() { close(g.release) }
}

// TestMailboxFail: with OverflowFail, the message after Size waiting
// fails at once with ErrMailboxFull naming the process, its kind and the
// node.
func TestMailboxFail(t *testing.T) {
	rt, p, release := busyGate(t, process.MailboxOptions{Size: 2, Overflow: process.OverflowFail})
	defer release()
	for i := range 2 {
		if err := rt.Cast(p.Ref(), i); err != nil {
			t.Fatalf("cast %d: %v", i, err)
		}
	}
	err := rt.Cast(p.Ref(), 3)
	if !errors.Is(err, process.ErrMailboxFull) {
		t.Fatalf("third cast: %v, want ErrMailboxFull", err)
	}
	for _, w := range []string{"process g", `kind "gate"`, "a@h", "2 messages"} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%q does not say %s", err, w)
		}
	}
	if _, err := p.Call(context.Background(), "x"); !errors.Is(err, process.ErrMailboxFull) {
		t.Fatalf("a call to a full mailbox: %v", err)
	}
}

// TestMailboxBlock: with OverflowBlock, a message finding the mailbox full
// waits for room within its caller's context; a TryCast (a message from
// another node) fails instead; the waiting cast goes in once the process
// takes its mailbox.
func TestMailboxBlock(t *testing.T) {
	rt, p, release := busyGate(t, process.MailboxOptions{Size: 2})
	for i := range 2 {
		if err := rt.Cast(p.Ref(), i); err != nil {
			t.Fatalf("cast %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := rt.CastContext(ctx, p.Ref(), 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cast to a full mailbox within 50ms: %v, want the deadline", err)
	}
	if err := p.TryCast(3); !errors.Is(err, process.ErrMailboxFull) {
		t.Fatalf("TryCast to a full mailbox: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- rt.Cast(p.Ref(), 4) }()
	select {
	case err := <-waited:
		t.Fatalf("a cast to a full mailbox returned at once: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("the waiting cast: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting cast never went in")
	}
}
