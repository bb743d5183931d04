package main

// The cluster: 3 in-process nodes from package clustertest on loopback
// (TLS 1.3 links, CBOR codec, the registry's default 1,024 partitions and
// one replica), running counters of one kind whose checkpoint mode, or
// store, the measurement picks.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

// counterState is a counter's state: what it checkpoints, hands off and
// writes to a store.
type counterState struct {
	N   int64
	Pad []byte // ballast, for the memory measurement
}

// incMsg increments a counter.
type incMsg struct{}

// store is where a counter writes its state on every call, in the
// baselines (PostgreSQL, Redis).
type store interface {
	put(ctx context.Context, name string, state []byte) error
	close()
}

// counter is the benchmark's kind.
type counter struct {
	st    counterState
	name  string
	store store
}

func (c *counter) Init(_ context.Context, self process.Self) error {
	c.name = self.Name()
	return nil
}

func (c *counter) HandleCall(ctx context.Context, _ process.Self, msg any) (any, error) {
	if _, ok := msg.(incMsg); !ok {
		return nil, fmt.Errorf("counter: unknown message %T", msg)
	}
	c.st.N++
	if c.store != nil {
		b := binary.AppendVarint(nil, c.st.N)
		if err := c.store.put(ctx, c.name, append(b, c.st.Pad...)); err != nil {
			return nil, err
		}
	}
	return c.st.N, nil
}

func (c *counter) HandleCast(context.Context, process.Self, any) {}
func (c *counter) HandleInfo(context.Context, process.Self, any) {}

func (c *counter) BeginHandoff(context.Context, process.Self) process.Handoff {
	return process.Handoff{Action: process.HandoffMove, State: c.st}
}

func (c *counter) EndHandoff(_ context.Context, _ process.Self, state any) error {
	st, ok := state.(counterState)
	if !ok {
		return fmt.Errorf("counter: state %T", state)
	}
	c.st = st
	return nil
}

func (c *counter) CheckpointState(context.Context, process.Self) any { return c.st }

// benchCodec registers the messages and the state.
func benchCodec(tb clustertest.T) *codec.Codec {
	c := codec.New()
	if err := c.Register("durabench.inc", incMsg{}); err != nil {
		tb.Fatal(err)
	}
	if err := c.Register("durabench.state", counterState{}); err != nil {
		tb.Fatal(err)
	}
	return c
}

// startCluster starts 3 nodes whose counters checkpoint in mode, write
// to st (if not nil), and hold pad bytes of ballast; it registers names
// and waits until every node has settled.
func startCluster(tb *harness.TB, mode process.CheckpointMode, st store, names []string, pad int, seed uint64) ([]*clustertest.Node, error) {
	opts := clustertest.Options{Partitions: 1024, Codec: benchCodec, Kinds: func() *process.Kinds {
		k := process.NewKinds()
		_ = k.RegisterWith("counter", func(args []byte) (process.Behavior, error) {
			c := &counter{store: st}
			if pad > 0 {
				c.st.Pad = make([]byte, pad)
				for i := range c.st.Pad {
					c.st.Pad[i] = byte(i)
				}
			}
			return c, nil
		}, process.KindOptions{Checkpoints: mode})
		return k
	}}
	nodes := clustertest.StartCluster(tb, 3, opts)
	if err := harness.RegisterAll(names, "counter", 64, seed, func(r *rand.Rand) *clustertest.Node { return nodes[r.IntN(3)] }, nil); err != nil {
		return nil, err
	}
	if err := harness.WaitFor(2*time.Minute, "the cluster to settle", func() bool { return harness.Settled(nodes, len(names)) },
		func() string { return harness.Describe(nodes) }); err != nil {
		return nil, err
	}
	return nodes, nil
}

func counterNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = "c-" + strconv.Itoa(i)
	}
	return names
}

// calls measures sequential and concurrent round trips.
func calls(spec string, p params) (result, error) {
	return harness.Run(func(tb *harness.TB) (result, error) {
		mode := process.CheckpointOff
		var st store
		switch spec {
		case "async":
			mode = process.CheckpointAsync
		case "sync":
			mode = process.CheckpointSync
		case "postgres", "redis":
			var err error
			if st, err = startStore(spec); err != nil {
				return result{}, err
			}
			defer st.close()
		}
		names := counterNames(p.names)
		nodes, err := startCluster(tb, mode, st, names, 0, p.seed)
		if err != nil {
			return result{}, err
		}
		call := func(rng *rand.Rand) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			name := names[rng.IntN(len(names))]
			if _, err := nodes[rng.IntN(3)].Registry.Call(ctx, name, incMsg{}); err != nil {
				return fmt.Errorf("call %s: %w", name, err)
			}
			return nil
		}
		var res result
		rng := rand.New(rand.NewPCG(p.seed, 0))
		start := time.Now()
		for range p.seq {
			if err := call(rng); err != nil {
				return result{}, err
			}
		}
		res.SeqPerSecond = float64(p.seq) / time.Since(start).Seconds()
		var left atomic.Int64
		left.Store(int64(p.calls))
		start = time.Now()
		err = harness.Parallel(p.callers, func(w int) error {
			rng := rand.New(rand.NewPCG(p.seed, uint64(w)+1))
			for left.Add(-1) >= 0 {
				if err := call(rng); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return result{}, err
		}
		res.ConcPerSecond = float64(p.calls) / time.Since(start).Seconds()
		return res, nil
	})
}

// memory measures the heap per counter holding stateSize bytes, each
// called once (so that, in sync mode, each has checkpointed).
func memory(mode string, p params) (result, error) {
	return harness.Run(func(tb *harness.TB) (result, error) {
		m := process.CheckpointOff
		if mode == "sync" {
			m = process.CheckpointSync
		}
		before := harness.Heap()
		names := counterNames(p.memNames)
		nodes, err := startCluster(tb, m, nil, names, p.stateSize, p.seed)
		if err != nil {
			return result{}, err
		}
		var next atomic.Int64
		err = harness.Parallel(p.callers, func(int) error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return nil
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := nodes[i%3].Registry.Call(ctx, names[i], incMsg{})
				cancel()
				if err != nil {
					return err
				}
			}
		})
		if err != nil {
			return result{}, err
		}
		after := harness.Heap()
		if p.memprofile != "" {
			if f, err := os.Create(p.memprofile); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		enc, err := benchCodec(tb).Marshal(counterState{N: 1, Pad: make([]byte, p.stateSize)})
		if err != nil {
			return result{}, err
		}
		return result{HeapPerProcess: float64(after-before) / float64(len(names)), StateBytes: float64(len(enc))}, nil
	})
}
