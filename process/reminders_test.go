package process_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/process/processtest"
)

// reminding is a checkpointing counter that sets a reminder and a plain
// timer when called with "arm", and moves its count.
type reminding struct {
	ckCounter
	got chan any
}

func (r *reminding) HandleCall(ctx context.Context, self process.Self, msg any) (any, error) {
	if msg == "arm" {
		self.Remind(time.Hour, "wake")
		self.SendAfter(time.Hour, "local")
		return nil, nil
	}
	return r.ckCounter.HandleCall(ctx, self, msg)
}

func (r *reminding) HandleInfo(_ context.Context, _ process.Self, msg any) { r.got <- msg }

func (r *reminding) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: r.n}
}

// A reminder moves with a handed-off state, due when it was; a plain
// timer does not; the new process gets the reminder at that time (at
// once if it passed), and checkpoints carry reminders until they fire.
func TestRemindersMoveAndCheckpoint(t *testing.T) {
	clock := &processtest.FakeClock{}
	rt := newRuntime(t, process.Config{Node: "n1", Clock: clock})
	sink := newSink(true)
	r := &reminding{got: make(chan any, 4)}
	p, err := rt.Start(context.Background(), r, process.SpawnOptions{Checkpoints: process.CheckpointOptions{Mode: process.CheckpointSync, Sink: sink}})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := p.Call(context.Background(), "arm"); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, 1)
	h := beginHandoff(t, rt, p)
	if len(h.Reminders) != 1 || h.Reminders[0].Msg != "wake" {
		t.Fatalf("handed-off reminders %+v, want the one reminder", h.Reminders)
	}
	if at := h.Reminders[0].At; at.Before(before.Add(time.Hour)) || at.After(time.Now().Add(time.Hour)) {
		t.Fatalf("reminder due %v, want an hour after it was set", at)
	}
	// The new process: one reminder due an hour from now, one past due.
	past := process.Reminder{At: time.Now().Add(-time.Minute), Msg: "late"}
	h.Reminders = append(h.Reminders, past)
	r2 := &reminding{got: make(chan any, 4)}
	n := clock.Len()
	if _, err := rt.Start(context.Background(), r2, process.SpawnOptions{HandedOff: &h}); err != nil {
		t.Fatal(err)
	}
	timers := clock.Timers()[n:]
	if len(timers) != 2 {
		t.Fatalf("%d timers set in the new process, want 2 (the reminders, not the plain timer)", len(timers))
	}
	if d := timers[0].Duration(); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("moved reminder set for %v, want about an hour", d)
	}
	if d := timers[1].Duration(); d != 0 {
		t.Fatalf("past-due reminder set for %v, want 0", d)
	}
	timers[1].Fire()
	if got := <-r2.got; got != "late" {
		t.Fatalf("got %v, want late", got)
	}
}

// A checkpoint carries the pending reminders, and no longer once one
// fired.
func TestCheckpointCarriesReminders(t *testing.T) {
	clock := &processtest.FakeClock{}
	rt := newRuntime(t, process.Config{Node: "n1", Clock: clock})
	sink := newSink(true)
	var reminders [][]process.Reminder
	sink.onSave = func(ck process.Checkpoint) { reminders = append(reminders, ck.Reminders) }
	r := &reminding{got: make(chan any, 4)}
	p, err := rt.Start(context.Background(), r, process.SpawnOptions{Checkpoints: process.CheckpointOptions{Mode: process.CheckpointSync, Sink: sink}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Call(context.Background(), "arm"); err != nil {
		t.Fatal(err)
	}
	clock.Timers()[0].Fire() // the reminder
	if got := <-r.got; got != "wake" {
		t.Fatalf("got %v", got)
	}
	sink.wait(t, 2)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(reminders) != 2 || len(reminders[0]) != 1 || reminders[0][0].Msg != "wake" || len(reminders[1]) != 0 {
		t.Fatalf("checkpoints' reminders %+v; want [wake], then none", reminders)
	}
}
