package main

// Proto.Actor-Go side: two actor systems in this process, each with
// Proto.Actor's remote (gRPC) started on 127.0.0.1 on a port of its own
// (0: any free one), with Proto.Actor's defaults: its default proto
// serializer, insecure (plain-text) gRPC, endpoint writer batch size
// 1,000. Its remote needs protobuf messages: both workloads send the
// well-known wrapper google.protobuf.Int64Value, which its serializer
// finds in the protobuf global registry. Logging is discarded (a discard
// slog logger; Proto.Actor's remote discards gRPC's own log).

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shoalhq/shoal/bench/internal/harness"
)

// protoArm tells the cast actor how many messages to expect and which
// channel to close on the last; it is sent locally, on the actor's system.
type protoArm struct {
	n    int
	done chan struct{}
}

// protoCastActor counts Int64Values and closes the armed channel on the
// last (at once if armed for none).
type protoCastActor struct {
	count, target int
	done          chan struct{}
}

func (a *protoCastActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *wrapperspb.Int64Value:
		a.count++
		if a.count == a.target && a.done != nil {
			close(a.done)
			a.done = nil
		}
	case protoArm:
		a.count, a.target, a.done = 0, m.n, m.done
		if m.n == 0 {
			close(a.done)
			a.done = nil
		}
	}
}

// protoCallActor answers every Int64Value with its count.
type protoCallActor struct{ count int64 }

func (a *protoCallActor) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*wrapperspb.Int64Value); ok {
		a.count++
		ctx.Respond(&wrapperspb.Int64Value{Value: a.count})
	}
}

// protoPair is two remote-enabled actor systems: a sends, b hosts the
// targets.
type protoPair struct {
	a, b   *actor.ActorSystem
	ra, rb *remote.Remote
	locals []*actor.PID // the targets, as b addresses them
	// targets are the targets as a addresses them (through the remote): a
	// PID of its own for a, since a PID caches the process it resolved
	// to, and the one b resolved is b's local mailbox.
	targets []*actor.PID
}

func newProtoSystem() (*actor.ActorSystem, *remote.Remote) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0))
	r.Start()
	return sys, r
}

// newProtoPair starts both systems and k targets on b, "target-<i>".
func newProtoPair(props *actor.Props, k int) (*protoPair, error) {
	p := &protoPair{}
	p.a, p.ra = newProtoSystem()
	p.b, p.rb = newProtoSystem()
	if p.b.Address() == p.a.Address() {
		p.Close()
		return nil, fmt.Errorf("protoactor: both systems at %s", p.a.Address())
	}
	for i := range k {
		local, err := p.b.Root.SpawnNamed(props, "target-"+strconv.Itoa(i))
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("protoactor: spawn target %d: %w", i, err)
		}
		p.locals = append(p.locals, local)
		p.targets = append(p.targets, actor.NewPID(p.b.Address(), local.Id))
	}
	return p, nil
}

// Close stops both remotes at once (not gracefully: Proto.Actor's graceful
// stop can wait 10 s on gRPC) and both systems.
func (p *protoPair) Close() {
	for _, r := range []*remote.Remote{p.ra, p.rb} {
		if r != nil {
			r.Shutdown(false)
		}
	}
	for _, s := range []*actor.ActorSystem{p.a, p.b} {
		if s != nil {
			s.Shutdown()
		}
	}
}

// castN sends n Int64Values from a, split among the targets (one sender
// goroutine per target), and waits until every target has handled its
// share.
func (p *protoPair) castN(n int) error {
	k := len(p.targets)
	dones := make([]chan struct{}, k)
	for i, local := range p.locals {
		dones[i] = make(chan struct{})
		p.b.Root.Send(local, protoArm{n: harness.Share(n, k, i), done: dones[i]})
	}
	_ = harness.Parallel(k, func(i int) error { // Send returns nothing
		target := p.targets[i]
		for j := range harness.Share(n, k, i) {
			p.a.Root.Send(target, &wrapperspb.Int64Value{Value: int64(j)})
		}
		return nil
	})
	return awaitAll(dones, func(i int) error {
		return fmt.Errorf("protoactor: target %d: %d sends not all handled after %v", i, harness.Share(n, k, i), waitLimit)
	})
}

// protoCast measures castN with k senders and targets.
func protoCast(p params, k int) (result, error) {
	pair, err := newProtoPair(actor.PropsFromProducer(func() actor.Actor { return &protoCastActor{} }), k)
	if err != nil {
		return result{}, err
	}
	defer pair.Close()
	if err := pair.castN(1000); err != nil { // warm up: open the connection
		return result{}, err
	}
	start := time.Now()
	if err := pair.castN(p.casts); err != nil {
		return result{}, err
	}
	return result{PerSecond: float64(p.casts) / time.Since(start).Seconds()}, nil
}

// callN makes n sequential round trips from a, split among the targets
// (one caller goroutine per target), each with a 30 s timeout.
func (p *protoPair) callN(n int) error {
	k := len(p.targets)
	return harness.Parallel(k, func(i int) error {
		target := p.targets[i]
		for j := range harness.Share(n, k, i) {
			res, err := p.a.Root.RequestFuture(target, &wrapperspb.Int64Value{Value: int64(j)}, callTimeout).Result()
			if err != nil {
				return fmt.Errorf("protoactor: caller %d, call %d: %w", i, j, err)
			}
			if _, ok := res.(*wrapperspb.Int64Value); !ok {
				return fmt.Errorf("protoactor: caller %d, call %d: reply %T", i, j, res)
			}
		}
		return nil
	})
}

// protoCall measures callN with k callers and targets.
func protoCall(p params, k int) (result, error) {
	pair, err := newProtoPair(actor.PropsFromProducer(func() actor.Actor { return &protoCallActor{} }), k)
	if err != nil {
		return result{}, err
	}
	defer pair.Close()
	if err := pair.callN(1000); err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := pair.callN(p.calls); err != nil {
		return result{}, err
	}
	return result{PerSecond: float64(p.calls) / time.Since(start).Seconds()}, nil
}
