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
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// protoArm tells the cast actor how many messages to expect and which
// channel to close on the last; it is sent locally, on the actor's system.
type protoArm struct {
	n    int
	done chan struct{}
}

// protoCastActor counts Int64Values and closes the armed channel on the
// last.
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
// target.
type protoPair struct {
	a, b   *actor.ActorSystem
	ra, rb *remote.Remote
	local  *actor.PID // the target, as b addresses it
	target *actor.PID // the target, as a addresses it (through the remote)
}

func newProtoSystem() (*actor.ActorSystem, *remote.Remote) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0))
	r.Start()
	return sys, r
}

func newProtoPair(props *actor.Props) (*protoPair, error) {
	p := &protoPair{}
	p.a, p.ra = newProtoSystem()
	p.b, p.rb = newProtoSystem()
	local, err := p.b.Root.SpawnNamed(props, "target")
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("protoactor: spawn target: %w", err)
	}
	p.local = local
	// A PID of its own for a: a PID caches the process it resolved to, and
	// the one b resolved is b's local mailbox.
	p.target = actor.NewPID(p.b.Address(), local.Id)
	if p.target.Address == p.a.Address() {
		p.Close()
		return nil, fmt.Errorf("protoactor: both systems at %s", p.a.Address())
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

func (p *protoPair) castN(n int) error {
	done := make(chan struct{})
	p.b.Root.Send(p.local, protoArm{n: n, done: done})
	for i := range n {
		p.a.Root.Send(p.target, &wrapperspb.Int64Value{Value: int64(i)})
	}
	select {
	case <-done:
		return nil
	case <-time.After(waitLimit):
		return fmt.Errorf("protoactor: %d sends not all handled after %v", n, waitLimit)
	}
}

func protoCast(p params) (result, error) {
	pair, err := newProtoPair(actor.PropsFromProducer(func() actor.Actor { return &protoCastActor{} }))
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

func (p *protoPair) callN(n int) error {
	for i := range n {
		res, err := p.a.Root.RequestFuture(p.target, &wrapperspb.Int64Value{Value: int64(i)}, 30*time.Second).Result()
		if err != nil {
			return fmt.Errorf("protoactor: call %d: %w", i, err)
		}
		if _, ok := res.(*wrapperspb.Int64Value); !ok {
			return fmt.Errorf("protoactor: call %d: reply %T", i, res)
		}
	}
	return nil
}

func protoCall(p params) (result, error) {
	pair, err := newProtoPair(actor.PropsFromProducer(func() actor.Actor { return &protoCallActor{} }))
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
