package shoal_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

// flaky counts the numbers it is called with and panics on every tenth
// (before counting it).
type flaky struct{ st flakyState }

type flakyState struct{ Count, Last int }

func (f *flaky) HandleCall(_ context.Context, _ process.Self, msg any) (any, error) {
	i, ok := msg.(int)
	if !ok {
		return f.st, nil
	}
	if i%10 == 0 {
		panic(fmt.Sprintf("flaky: message %d", i))
	}
	f.st.Count++
	f.st.Last = i
	return f.st.Count, nil
}
func (f *flaky) HandleCast(context.Context, process.Self, any) {}
func (f *flaky) HandleInfo(context.Context, process.Self, any) {}
func (f *flaky) CheckpointState(context.Context, process.Self) any {
	return f.st
}
func (f *flaky) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: f.st}
}
func (f *flaky) EndHandoff(_ context.Context, _ process.Self, state any) error {
	f.st = state.(flakyState)
	return nil
}

// TestPermanentKeepsItsState: a permanent process with sync checkpoints
// that panics on every 10th message is restarted in place from its last
// checkpoint each time: after 100 messages it has counted the 90 that did
// not panic, under the same ref (its name never moved), and each panic
// reached its caller.
func TestPermanentKeepsItsState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes := startNodes(t, ctx, "s", 3, func(_ int, cfg *shoal.Config) {
		cfg.Kinds = process.NewKinds()
		_ = cfg.Kinds.RegisterWith("flaky", func([]byte) (process.Behavior, error) { return &flaky{}, nil }, process.KindOptions{
			Checkpoints: process.CheckpointSync,
			State:       flakyState{},
			Restart:     process.RestartPolicy{Mode: process.RestartPermanent, MaxRestarts: 20, Within: time.Minute},
		})
	})
	ref, err := nodes[0].Register(ctx, "flaky", process.Spec{Kind: "flaky"})
	if err != nil {
		t.Fatal(err)
	}
	panics := 0
	for i := 1; i <= 100; i++ {
		_, err := nodes[i%3].Call(ctx, "flaky", i)
		switch { // (a panic reaches a caller on another node as text)
		case i%10 == 0 && err != nil && strings.Contains(err.Error(), fmt.Sprintf("panicked: flaky: message %d", i)):
			panics++
		case i%10 == 0:
			t.Fatalf("message %d: %v, want its panic", i, err)
		case err != nil:
			t.Fatalf("message %d: %v", i, err)
		}
	}
	v, err := nodes[1].Call(ctx, "flaky", "state")
	if err != nil || v != (flakyState{Count: 90, Last: 99}) {
		t.Fatalf("after 100 messages, 10 of them panicking: %+v, %v; want 90 counted, the last 99", v, err)
	}
	if now, err := nodes[2].Whereis(ctx, "flaky"); err != nil || now != ref {
		t.Fatalf("the name is at %v (%v), was %v: a restart in place keeps the process", now, err, ref)
	}
	if panics != 10 {
		t.Fatalf("%d panics reached their callers, want 10", panics)
	}
}

// TestRestartIntensity: a permanent process that panics on every message
// is restarted 3 times, then stops at the 4th panic, with the reason
// logged, and its name is free again.
func TestRestartIntensity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var logs syncBuffer
	nodes := startNodes(t, ctx, "i", 1, func(_ int, cfg *shoal.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		cfg.Kinds = process.NewKinds()
		_ = cfg.Kinds.RegisterWith("flaky", func([]byte) (process.Behavior, error) { return &flaky{}, nil }, process.KindOptions{
			Restart: process.RestartPolicy{Mode: process.RestartPermanent, MaxRestarts: 3, Within: time.Minute},
		})
	})
	n := nodes[0]
	if _, err := n.Register(ctx, "doomed", process.Spec{Kind: "flaky"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if _, err := n.Call(ctx, "doomed", i*10); err == nil {
			t.Fatalf("panic %d: no error", i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := n.Whereis(ctx, "doomed")
		if errors.Is(err, registry.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the name is still registered after the 4th panic: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling period
	}
	out := logs.String()
	if strings.Count(out, `msg="process restarted"`) != 3 || !strings.Contains(out, `msg="process restarted too often; it stops"`) ||
		!strings.Contains(out, "kind=flaky") || !strings.Contains(out, "restarts=3") {
		t.Fatalf("the log does not tell 3 restarts, then the stop and why:\n%s", out)
	}
}
