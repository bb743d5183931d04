package main

// Remote workloads, for cmd/clusterbench: two engines in this process,
// each with Hollywood's remote (package remote: DRPC streams over TCP)
// listening on 127.0.0.1 on a port of its own, found free beforehand
// (Hollywood's engine takes its remote's listen address as its own
// address, so it cannot listen on port 0). Engine a sends, engine b
// hosts the targets.
//
//   - "hollywood:remote...": Hollywood's defaults, plain TCP (no
//     encryption);
//   - "hollywoodtls:remote...": the remote's TLS option
//     (Config.WithTLS), TLS 1.3 with a self-signed certificate from
//     bench/internal/tlscert, as Shoal's links are always encrypted.
//
// Workloads: "remotecast" (one sender on a casts -casts messages to one
// actor on b; done when b has handled the last), "remotecast16" (16
// senders on a, each casting its share to its own actor on b),
// "remotecall" (-calls sequential Request/Result round trips, 30 s
// each), "remotecall16" (16 callers on a, each making its share of the
// calls to its own actor on b). Each runs a warm-up of 1,000 first
// (which dials the connections), as clusterbench's other systems do.
//
// The messages are google.protobuf.Int64Value (wrapperspb): Hollywood's
// remote serializes with its ProtoSerializer on both sides
// (proto.Marshal, and the receiver finds the type by its full name in
// protobuf's global registry, where every generated message registers
// itself), so any generated protobuf message will do; its vtproto path
// (MarshalVT and remote.RegisterType) is not wired into v1.0.5's stream
// writer and reader. Int64Value is the message Proto.Actor's rows send
// too, so both peers carry the same payload.
//
// Logging is discarded (Hollywood logs through slog's default logger; a
// stopped remote logs its closed streams as errors).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/anthdm/hollywood/actor"
	"github.com/anthdm/hollywood/remote"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/bench/internal/local"
	"github.com/shoalhq/shoal/bench/internal/tlscert"
)

// waitLimit bounds every wait of a remote measurement, as clusterbench's
// does.
const waitLimit = 5 * time.Minute

// callTimeout is each remote call's deadline, as for every system.
const callTimeout = 30 * time.Second

// remoteSizes are the flags of a remote measurement.
type remoteSizes struct{ casts, calls int }

// measureRemote runs one remote workload on a fresh pair of engines,
// plain ("hollywood") or with TLS ("hollywoodtls").
func measureRemote(sys, workload string, sz remoteSizes) (local.Result, error) {
	senders, total, cast := 0, 0, false
	switch workload {
	case "remotecast":
		senders, total, cast = 1, sz.casts, true
	case "remotecast16":
		senders, total, cast = 16, sz.casts, true
	case "remotecall":
		senders, total = 1, sz.calls
	case "remotecall16":
		senders, total = 16, sz.calls
	default:
		return local.Result{}, fmt.Errorf("unknown remote workload %q", workload)
	}
	var tlsConf *tls.Config
	if sys == "hollywoodtls" {
		cert, err := tlscert.New("hollywood")
		if err != nil {
			return local.Result{}, err
		}
		tlsConf = cert.Both()
	}
	slog.SetDefault(slog.New(slog.DiscardHandler))
	var producer actor.Producer = func() actor.Receiver { return &remoteCallTarget{} }
	if cast {
		producer = func() actor.Receiver { return &remoteCastTarget{} }
	}
	pair, err := newRemotePair(tlsConf, producer, senders)
	if err != nil {
		return local.Result{}, err
	}
	run := pair.call
	if cast {
		run = pair.cast
	}
	res, err := timed(run, total)
	if cerr := pair.Close(); err == nil {
		err = cerr
	}
	return res, err
}

// timed runs a warm-up of 1,000, then total, and reports total/s.
func timed(run func(total int) error, total int) (local.Result, error) {
	if err := run(1000); err != nil {
		return local.Result{}, fmt.Errorf("warm-up: %w", err)
	}
	start := time.Now()
	if err := run(total); err != nil {
		return local.Result{}, err
	}
	return local.Result{PerSecond: float64(total) / time.Since(start).Seconds()}, nil
}

// remoteCastTarget counts Int64Values and closes the armed channel on
// the last (at once if armed for none). The arm is sent locally, on b.
type remoteCastTarget struct {
	count, target int
	done          chan struct{}
}

func (t *remoteCastTarget) Receive(ctx *actor.Context) {
	switch m := ctx.Message().(type) {
	case *wrapperspb.Int64Value:
		t.count++
		if t.count == t.target && t.done != nil {
			close(t.done)
			t.done = nil
		}
	case arm:
		t.count, t.target, t.done = 0, m.n, m.done
		if m.n == 0 {
			close(t.done)
			t.done = nil
		}
	}
}

// remoteCallTarget answers every Int64Value with its count.
type remoteCallTarget struct{ count int64 }

func (t *remoteCallTarget) Receive(ctx *actor.Context) {
	if _, ok := ctx.Message().(*wrapperspb.Int64Value); ok {
		t.count++
		ctx.Respond(&wrapperspb.Int64Value{Value: t.count})
	}
}

// remotePair is two engines with remotes: a sends, b hosts the targets.
type remotePair struct {
	a, b    *actor.Engine
	remotes []*remote.Remote // the started ones
	// targets are the actors on b; a addresses them with the same PIDs
	// (a PID is an address and an id, and the address is b's).
	targets []*actor.PID
}

// freeAddrs returns n distinct free ports on 127.0.0.1, each found by
// listening on port 0 (all held until the last is found).
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

func newRemotePair(tlsConf *tls.Config, producer actor.Producer, targets int) (*remotePair, error) {
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, fmt.Errorf("hollywood: free ports: %w", err)
	}
	p := &remotePair{}
	var engines []*actor.Engine
	for _, addr := range addrs {
		cfg := remote.NewConfig()
		if tlsConf != nil {
			cfg = cfg.WithTLS(tlsConf)
		}
		r := remote.New(addr, cfg)
		e, err := actor.NewEngine(actor.NewEngineConfig().WithRemote(r))
		if err != nil {
			// A remote that failed to listen is left unstopped: its Stop
			// would wait forever on a channel nothing reads.
			p.Close()
			return nil, fmt.Errorf("hollywood: engine on %s: %w", addr, err)
		}
		p.remotes = append(p.remotes, r)
		engines = append(engines, e)
	}
	p.a, p.b = engines[0], engines[1]
	for i := range targets {
		p.targets = append(p.targets, p.b.Spawn(producer, "target", actor.WithID(strconv.Itoa(i))))
	}
	return p, nil
}

// Close stops the targets on b, then both remotes (each stops listening
// and ends its streams), each wait bounded by waitLimit. Hollywood
// v1.0.5's engine has no stop of its own: with its actors poisoned and
// its remote stopped, it holds no goroutine but the stream writers'
// watchers, which end as their connections close.
func (p *remotePair) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var errs []error
	for _, pid := range p.targets {
		select {
		case <-p.b.Poison(pid).Done():
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("hollywood: %v not stopped after %v", pid, waitLimit))
		}
	}
	for _, r := range p.remotes {
		stopped := make(chan struct{})
		wg := r.Stop()
		go func() { // ends when the remote has stopped
			wg.Wait()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("hollywood: remote %s not stopped after %v", r.Address(), waitLimit))
		}
	}
	return errors.Join(errs...)
}

// cast sends total Int64Values from a, split among the senders (sender i
// to target i), and waits until every target has handled its share.
func (p *remotePair) cast(total int) error {
	k := len(p.targets)
	dones := make([]chan struct{}, k)
	for i, pid := range p.targets {
		dones[i] = make(chan struct{})
		p.b.Send(pid, arm{n: harness.Share(total, k, i), done: dones[i]})
	}
	// Senders never fail: Hollywood's Send returns nothing.
	_ = local.Senders(k, func(i int) error {
		pid := p.targets[i]
		for j := range harness.Share(total, k, i) {
			p.a.Send(pid, &wrapperspb.Int64Value{Value: int64(j)})
		}
		return nil
	})
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for i, done := range dones {
		select {
		case <-done:
		case <-deadline.C:
			return fmt.Errorf("hollywood: target %d: %d sends not all handled after %v", i, harness.Share(total, k, i), waitLimit)
		}
	}
	return nil
}

// call makes total sequential round trips from a, split among the
// callers (caller i to target i), each with a 30 s timeout.
func (p *remotePair) call(total int) error {
	k := len(p.targets)
	return local.Senders(k, func(i int) error {
		pid := p.targets[i]
		for j := range harness.Share(total, k, i) {
			v, err := p.a.Request(pid, &wrapperspb.Int64Value{Value: int64(j)}, callTimeout).Result()
			if err != nil {
				return fmt.Errorf("hollywood: caller %d, call %d: %w", i, j, err)
			}
			if _, ok := v.(*wrapperspb.Int64Value); !ok {
				return fmt.Errorf("hollywood: caller %d, call %d: reply %T", i, j, v)
			}
		}
		return nil
	})
}
