package main

// Proto.Actor-Go side of the local benchmark.
//
// Everything uses Proto.Actor's defaults (unbounded default mailbox, default
// goroutine dispatcher with throughput 300, default supervisor, metrics off).
// The only configuration change is a discard slog logger so that the
// "actor system started" / dead-letter log lines do not touch stderr.

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/shoalhq/shoal/bench/internal/local"
)

// Messages: small structs, replies are plain ints.
type (
	protoInc struct{} // cast: bump the counter, no reply
	protoAsk struct{} // call: bump the counter, reply with it (int)

	// protoCastArm tells the cast target how many protoInc messages to expect
	// next and which channel to close once the last one has been processed.
	// It is sent by the same sender just before the protoIncs, so Proto.Actor's
	// per-sender FIFO ordering guarantees it is seen first.
	protoCastArm struct {
		n    int
		done chan struct{}
	}
)

const (
	protoCallTimeout = 30 * time.Second // generous per-request timeout for CallN
	protoStopTimeout = 60 * time.Second // upper bound on waiting for actors to stop in Close
)

// protoSystem runs the Proto.Actor-Go side of every workload.
type protoSystem struct {
	sys  *actor.ActorSystem
	root *actor.RootContext

	idleProps *actor.Props

	// started is used by SpawnIdle to wait until every new actor has
	// processed its *actor.Started message.
	started sync.WaitGroup
	// live counts every actor spawned by this system that has not yet
	// processed *actor.Stopped; Close waits on it.
	live sync.WaitGroup

	pids     []*actor.PID // every actor spawned (for Close)
	nextIdle int          // next "p-<i>" index; names are never reused within one system

	castPIDs []*actor.PID // lazily spawned Cast targets
	callPID  *actor.PID   // lazily spawned CallN target

	closeOnce sync.Once
}

// protoIdleActor is the idle actor: a small int counter as state, plus a
// pointer back to the system for start/stop accounting.
type protoIdleActor struct {
	count int
	s     *protoSystem
}

func (a *protoIdleActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case protoInc:
		a.count++
	case *actor.Started:
		a.s.started.Done()
	case *actor.Stopped:
		a.s.live.Done()
	}
}

// protoCastActor counts protoInc messages and closes the armed channel on the
// n-th one.
type protoCastActor struct {
	count  int
	target int
	done   chan struct{}
	s      *protoSystem
}

func (a *protoCastActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case protoInc:
		a.count++
		if a.count == a.target {
			close(a.done)
			a.done = nil
		}
	case protoCastArm:
		a.count = 0
		a.target = m.n
		a.done = m.done
	case *actor.Stopped:
		a.s.live.Done()
	}
}

// protoCallActor replies to every protoAsk with its (incremented) counter.
type protoCallActor struct {
	count int
	s     *protoSystem
}

func (a *protoCallActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case protoAsk:
		a.count++
		ctx.Respond(a.count)
	case *actor.Stopped:
		a.s.live.Done()
	}
}

func newProtoSystem() *protoSystem {
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		}),
	)
	s := &protoSystem{sys: sys, root: sys.Root}
	s.idleProps = actor.PropsFromProducer(func() actor.Actor {
		return &protoIdleActor{s: s}
	})
	return s
}

// SpawnIdle spawns n named actors "p-<i>" (i from 0 on the first call; later
// calls on the same system continue the numbering so names never collide),
// via SpawnNamed so each one is in Proto.Actor's process registry. It returns
// once every actor is registered and has processed *actor.Started; the actors
// are idle afterwards (no goroutine, just mailbox + context + registry entry).
func (s *protoSystem) SpawnIdle(n int) error {
	if n <= 0 {
		return nil
	}
	if cap(s.pids)-len(s.pids) < n {
		grown := make([]*actor.PID, len(s.pids), len(s.pids)+n)
		copy(grown, s.pids)
		s.pids = grown
	}
	s.started.Add(n)
	s.live.Add(n)
	base := s.nextIdle
	s.nextIdle += n
	for i := 0; i < n; i++ {
		pid, err := s.root.SpawnNamed(s.idleProps, "p-"+strconv.Itoa(base+i))
		if err != nil {
			// Balance the counters for the actors that were never spawned.
			s.started.Add(-(n - i))
			s.live.Add(-(n - i))
			s.started.Wait()
			return fmt.Errorf("protoactor: SpawnNamed p-%d: %w", base+i, err)
		}
		s.pids = append(s.pids, pid)
	}
	s.started.Wait()
	return nil
}

// Cast sends n asynchronous protoInc messages (Send, no reply) from each
// of senders goroutines, through the root context, to its target actor
// and returns once the targets have processed them all.
func (s *protoSystem) Cast(senders, targets, n int) error {
	for len(s.castPIDs) < targets {
		s.live.Add(1)
		pid, err := s.root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
			return &protoCastActor{s: s}
		}), "cast-"+strconv.Itoa(len(s.castPIDs)))
		if err != nil {
			s.live.Done()
			return fmt.Errorf("protoactor: spawn cast target: %w", err)
		}
		s.castPIDs = append(s.castPIDs, pid)
		s.pids = append(s.pids, pid)
	}
	var wg sync.WaitGroup
	for t := range targets {
		done := make(chan struct{})
		s.root.Send(s.castPIDs[t], protoCastArm{n: n * sendersTo(t, senders, targets), done: done})
		wg.Go(func() { <-done })
	}
	err := local.Senders(senders, func(i int) error {
		pid := s.castPIDs[i%targets]
		for range n {
			s.root.Send(pid, protoInc{})
		}
		return nil
	})
	wg.Wait()
	return err
}

// CallN makes n sequential request/response round trips
// (RequestFuture + Result) to one actor.
func (s *protoSystem) CallN(n int) error {
	if n <= 0 {
		return nil
	}
	if s.callPID == nil {
		s.live.Add(1)
		pid, err := s.root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
			return &protoCallActor{s: s}
		}), "call")
		if err != nil {
			s.live.Done()
			return fmt.Errorf("protoactor: spawn call target: %w", err)
		}
		s.callPID = pid
		s.pids = append(s.pids, pid)
	}
	for i := 0; i < n; i++ {
		res, err := s.root.RequestFuture(s.callPID, protoAsk{}, protoCallTimeout).Result()
		if err != nil {
			return fmt.Errorf("protoactor: call %d: %w", i, err)
		}
		if _, ok := res.(int); !ok {
			return fmt.Errorf("protoactor: call %d: unexpected reply %T", i, res)
		}
	}
	return nil
}

// Close stops every actor this system spawned and waits (bounded) until each
// has processed *actor.Stopped, i.e. has left the process registry; then it
// shuts the actor system down. Proto.Actor's ActorSystem.Shutdown itself only
// closes a channel and does not stop actors, hence the explicit stops.
func (s *protoSystem) Close() {
	s.closeOnce.Do(func() {
		for _, pid := range s.pids {
			s.root.Stop(pid)
		}
		waited := make(chan struct{})
		go func() { s.live.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(protoStopTimeout):
		}
		s.pids = nil
		s.castPIDs, s.callPID = nil, nil
		s.sys.Shutdown()
	})
}
