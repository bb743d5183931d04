// Package local holds the workloads of the one-node benchmark
// (cmd/localbench), so that every system runs the same loops, whether it
// is linked into localbench (Shoal, Proto.Actor-Go, the Go channel limit)
// or built into a child binary of its own (Hollywood, whose protobuf
// registrations clash with Proto.Actor's in one binary).
package local

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/shoalhq/shoal/bench/internal/harness"
)

// Result is one measurement, as a child prints it.
type Result struct {
	BytesPerProc float64 `json:"bytes_per_proc,omitempty"`
	PerSecond    float64 `json:"per_second"`
	Goroutines   int     `json:"goroutines,omitempty"`
}

// System is one system under test.
type System interface {
	// SpawnIdle spawns n named (registered) processes that hold an int
	// and stay idle, and returns once each is ready.
	SpawnIdle(n int) error
	// Cast sends n one-way messages from each of senders goroutines to
	// targets processes (sender i to target i % targets) and returns
	// once every message is handled.
	Cast(senders, targets, n int) error
	// CallN makes n sequential request/reply round trips to one process,
	// each with a 30 s deadline (the peers' request APIs take one).
	CallN(n int) error
	Close()
}

// PlainCaller is a System whose calls may go without a deadline (Shoal's,
// and the channel limit's).
type PlainCaller interface {
	// CallPlain is CallN without deadlines.
	CallPlain(n int) error
}

// Sizes are a measurement's sizes (localbench's flags).
type Sizes struct {
	Idle  int // processes spawned by "idle"
	Casts int // messages in each cast workload, all senders together
	Calls int // round trips in "call"
}

// Workloads are the workloads, by name: "idle", "cast" (1 sender to 1
// process), "cast8to1" (8 senders to 1), "cast8to8" (8 senders, each to
// its own process), "call" (each with a 30 s deadline) and "callplain"
// (without, for a PlainCaller).
var Workloads = []string{"idle", "cast", "cast8to1", "cast8to8", "call", "callplain"}

// Measure runs one workload on s.
func Measure(s System, workload string, sz Sizes) (Result, error) {
	var res Result
	cast := func(senders, targets int) error {
		per := sz.Casts / senders
		_ = s.Cast(senders, targets, 1000/senders+1) // warm up: spawn the targets
		start := time.Now()
		if err := s.Cast(senders, targets, per); err != nil {
			return err
		}
		res.PerSecond = float64(per*senders) / time.Since(start).Seconds()
		return nil
	}
	switch workload {
	case "idle":
		base := harness.Heap()
		start := time.Now()
		if err := s.SpawnIdle(sz.Idle); err != nil {
			return Result{}, err
		}
		el := time.Since(start)
		after := harness.Heap()
		res.PerSecond = float64(sz.Idle) / el.Seconds()
		res.BytesPerProc = float64(after-base) / float64(sz.Idle)
		res.Goroutines = runtime.NumGoroutine()
	case "cast":
		if err := cast(1, 1); err != nil {
			return Result{}, err
		}
	case "cast8to1":
		if err := cast(8, 1); err != nil {
			return Result{}, err
		}
	case "cast8to8":
		if err := cast(8, 8); err != nil {
			return Result{}, err
		}
	case "call", "callplain":
		call := s.CallN
		if workload == "callplain" {
			pc, ok := s.(PlainCaller)
			if !ok {
				return Result{}, fmt.Errorf("%T makes no calls without a deadline", s)
			}
			call = pc.CallPlain
		}
		_ = call(1000)
		start := time.Now()
		if err := call(sz.Calls); err != nil {
			return Result{}, err
		}
		res.PerSecond = float64(sz.Calls) / time.Since(start).Seconds()
	default:
		return Result{}, fmt.Errorf("unknown workload %q", workload)
	}
	runtime.KeepAlive(s)
	return res, nil
}

// Senders runs send(i) on senders goroutines at once and returns the
// first error.
func Senders(senders int, send func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		wg.Go(func() {
			if err := send(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
