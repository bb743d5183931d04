// Command hollywoodchild runs one measurement on Hollywood
// (github.com/anthdm/hollywood v1.0.5) and prints its result as JSON:
// a workload of the one-node benchmark ("hollywood:WORKLOAD" of package
// bench/internal/local), for cmd/localbench, or a remote workload
// ("hollywood:remote..." and "hollywoodtls:remote...", see remote.go),
// for cmd/clusterbench; each runs it as a child. It is a binary of its
// own because Hollywood and Proto.Actor-Go both register actor.proto
// with protobuf's global registry, which refuses the second in one
// binary. It accepts either parent's flags and ignores those it has no
// use for.
//
// One node:
// Hollywood's defaults everywhere (its default inbox of 1,024 slots, its
// scheduler, its event stream), except for "hollywood1:idle", which
// spawns the idle actors with the smallest inbox (WithInboxSize(1)) to
// report their smallest footprint: the default inbox is a ring buffer
// of 1,024 envelopes, about 28 KB an actor.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/shoalhq/shoal/bench/internal/local"
)

func main() {
	spec := flag.String("child", "", "system:workload (hollywood or hollywood1; hollywood or hollywoodtls with remote workloads)")
	n := flag.Int("n", 1_000_000, "idle processes to spawn")
	casts := flag.Int("casts", 2_000_000, "messages in each cast workload")
	calls := flag.Int("calls", 200_000, "round trips in the call workload")
	flag.String("scrape", "", "ignored (localbench and clusterbench pass it to every child)")
	for _, name := range []string{"workers", "lookups", "handoff", "seed"} {
		flag.String(name, "", "ignored (clusterbench passes it to every child)")
	}
	flag.Parse()
	sys, workload, ok := strings.Cut(*spec, ":")
	if ok && strings.HasPrefix(workload, "remote") && (sys == "hollywood" || sys == "hollywoodtls") {
		res, err := measureRemote(sys, workload, remoteSizes{casts: *casts, calls: *calls})
		if err != nil {
			fmt.Fprintf(os.Stderr, "hollywoodchild: %s: %v\n", *spec, err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if !ok || (sys != "hollywood" && sys != "hollywood1") {
		fmt.Fprintf(os.Stderr, "hollywoodchild: -child %q: want hollywood:WORKLOAD, hollywood1:WORKLOAD, or hollywood[tls]:remoteWORKLOAD\n", *spec)
		os.Exit(2)
	}
	s, err := newSystem(sys == "hollywood1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hollywoodchild:", err)
		os.Exit(1)
	}
	res, err := local.Measure(s, workload, local.Sizes{Idle: *n, Casts: *casts, Calls: *calls})
	s.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hollywoodchild:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

// Messages.
type (
	inc struct{} // cast: bump the counter
	ask struct{} // call: bump the counter, reply with it
	// arm tells a cast target how many incs to expect next and what to
	// close after the last.
	arm struct {
		n    int
		done chan struct{}
	}
)

// counter is every actor of the benchmark: idle ones count incs, cast
// targets close their armed channel after the expected count, call
// targets reply.
type counter struct {
	count, target int
	done          chan struct{}
}

func (c *counter) Receive(ctx *actor.Context) {
	switch m := ctx.Message().(type) {
	case inc:
		c.count++
		if c.count == c.target && c.done != nil {
			close(c.done)
			c.done = nil
		}
	case arm:
		c.count, c.target, c.done = 0, m.n, m.done
	case ask:
		c.count++
		ctx.Respond(c.count)
	}
}

type system struct {
	e        *actor.Engine
	tiny     bool // idle actors with an inbox of 1
	nextIdle int
	targets  []*actor.PID
	callPID  *actor.PID
}

func newSystem(tiny bool) (*system, error) {
	e, err := actor.NewEngine(actor.NewEngineConfig())
	if err != nil {
		return nil, fmt.Errorf("new engine: %w", err)
	}
	return &system{e: e, tiny: tiny}, nil
}

func newCounter() actor.Receiver { return &counter{} }

// SpawnIdle spawns n actors "idle/<i>", registered by kind and id.
// Hollywood starts an actor (Initialized, Started) inside Spawn.
func (s *system) SpawnIdle(n int) error {
	opts := []actor.OptFunc{nil}
	if s.tiny {
		opts = append(opts, actor.WithInboxSize(1))
	}
	for i := range n {
		opts[0] = actor.WithID(strconv.Itoa(s.nextIdle + i))
		if pid := s.e.Spawn(newCounter, "idle", opts...); pid == nil {
			return fmt.Errorf("spawn idle/%d: no pid", s.nextIdle+i)
		}
	}
	s.nextIdle += n
	return nil
}

// Cast sends n incs from each sender to its target and waits until the
// targets have them all.
func (s *system) Cast(senders, targets, n int) error {
	for len(s.targets) < targets {
		s.targets = append(s.targets, s.e.Spawn(newCounter, "cast", actor.WithID(strconv.Itoa(len(s.targets)))))
	}
	var wg sync.WaitGroup
	for t := range targets {
		per := 0
		for i := range senders {
			if i%targets == t {
				per += n
			}
		}
		done := make(chan struct{})
		s.e.Send(s.targets[t], arm{n: per, done: done})
		wg.Go(func() { <-done })
	}
	err := local.Senders(senders, func(i int) error {
		pid := s.targets[i%targets]
		for range n {
			s.e.Send(pid, inc{})
		}
		return nil
	})
	wg.Wait()
	return err
}

// CallN makes n sequential Request/Result round trips.
func (s *system) CallN(n int) error {
	if s.callPID == nil {
		s.callPID = s.e.Spawn(newCounter, "call", actor.WithID("0"))
	}
	for i := range n {
		v, err := s.e.Request(s.callPID, ask{}, 30*time.Second).Result()
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		if _, ok := v.(int); !ok {
			return fmt.Errorf("call %d: reply %T", i, v)
		}
	}
	return nil
}

func (s *system) Close() {}
