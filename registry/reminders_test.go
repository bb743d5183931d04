package registry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/process"
)

// Issue 11, timers move: a reminder set by a process survives its name's
// move (drain) and its node's crash (checkpoint).

// rings records when each name's reminder went off.
type rings struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (r *rings) ring(name string) {
	r.mu.Lock()
	r.at[name] = append(r.at[name], time.Now())
	r.mu.Unlock()
}

func (r *rings) get() map[string][]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]time.Time, len(r.at))
	for k, v := range r.at {
		out[k] = append([]time.Time(nil), v...)
	}
	return out
}

// alarm sets a reminder when called with a duration and records it going
// off; it checkpoints (its state is only its reminder).
type alarm struct {
	durable
	rings *rings
}

func (a *alarm) HandleCall(ctx context.Context, self process.Self, msg any) (any, error) {
	if ms, ok := msg.(int); ok {
		self.Remind(time.Duration(ms)*time.Millisecond, "ring")
		return "set", nil
	}
	return a.durable.HandleCall(ctx, self, msg)
}

func (a *alarm) HandleInfo(_ context.Context, self process.Self, msg any) {
	if msg == "ring" {
		a.rings.ring(self.Name())
	}
}

// TestClusterRemindersSurviveMovesAndCrashes sets a reminder 4 s out in
// 60 processes on 3 nodes, then kills one node and drains another before
// the reminders are due: every reminder goes off once, on a surviving
// node, not before it was due.
func TestClusterRemindersSurviveMovesAndCrashes(t *testing.T) {
	rs := &rings{at: map[string][]time.Time{}}
	opts := clustertest.Options{Kinds: func() *process.Kinds {
		k := process.NewKinds()
		_ = k.RegisterWith("counter", func([]byte) (process.Behavior, error) {
			return &alarm{durable: durable{mover{resolved: &resolutions{}}}, rings: rs}, nil
		}, process.KindOptions{Checkpoints: process.CheckpointSync})
		return k
	}}
	nodes := clustertest.StartCluster(t, 3, opts)
	names := make([]string, 60)
	for i := range names {
		names[i] = fmt.Sprintf("alarm-%d", i)
	}
	registerAll(t, nodes, names)
	waitConverged(t, 30*time.Second, nodes, names)
	const after = 4 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	on := map[string]int{}
	set := time.Now()
	for _, name := range names {
		if _, err := nodes[0].Registry.Call(ctx, name, int(after/time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		ref, err := nodes[0].Registry.Whereis(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range nodes {
			if n.Name == ref.Node {
				on[name] = i
			}
		}
	}
	due := time.Now().Add(after) // the last one set
	counts := map[int]int{}
	for _, i := range on {
		counts[i]++
	}
	nodes[2].Kill()
	if err := nodes[1].Stop(ctx); err != nil {
		t.Fatalf("drain %s: %v", nodes[1].Name, err)
	}
	if time.Now().After(set.Add(after)) {
		t.Fatalf("the kill and the drain took past the reminders' time (%v): the test proves nothing", time.Since(set))
	}
	waitCond(t, 30*time.Second, "every reminder to go off", func() bool { return len(rs.get()) == len(names) })
	// Any duplicate would come soon after.
	waitConverged(t, 30*time.Second, nodes[:1], names)
	got := rs.get()
	for _, name := range names {
		at := got[name]
		if len(at) != 1 {
			t.Errorf("%s went off %d times, want once", name, len(at))
			continue
		}
		if at[0].Before(set.Add(after)) {
			t.Errorf("%s went off %v early", name, set.Add(after).Sub(at[0]))
		}
	}
	t.Logf("reminders set on n0/n1/n2: %d/%d/%d; n2 killed, n1 drained; all %d went off once, the last %v after the latest was due",
		counts[0], counts[1], counts[2], len(names), time.Since(due).Round(time.Millisecond))
}
