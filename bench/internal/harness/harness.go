// Package harness runs clustertest nodes outside a test, for the cluster
// benchmarks: a clustertest.T whose failures end the measurement instead of
// a test, and the loops those benchmarks share (concurrent workers,
// bounded waits, registrations from chosen nodes).
package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/process"
)

// TB lets clustertest run outside a test. Fatal, Fatalf and Errorf (a
// benchmark has no use for a failure it carries on after) panic with a
// failure that Run recovers on the measuring goroutine; a failure on
// another goroutine ends the child process, which the parent reports.
// Cleanups run, last first, when the measurement ends. It is a
// clustertest.T.
type TB struct {
	mu       sync.Mutex
	cleanups []func()
}

type failure struct{ msg string }

var _ clustertest.T = (*TB)(nil)

func (*TB) Helper()                      {}
func (*TB) Name() string                 { return "bench" }
func (*TB) Log(...any)                   {}
func (*TB) Logf(string, ...any)          {}
func (*TB) Errorf(f string, args ...any) { panic(failure{fmt.Sprintf(f, args...)}) }
func (*TB) Fatal(args ...any)            { panic(failure{fmt.Sprint(args...)}) }
func (*TB) Fatalf(f string, args ...any) { panic(failure{fmt.Sprintf(f, args...)}) }

// Cleanup registers f to run when the measurement ends. Safe for
// concurrent use.
func (t *TB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

func (t *TB) runCleanups() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// Run calls body with a fresh TB, turns a failure reported through it
// into an error and runs the cleanups. It blocks until they are done.
func Run[T any](body func(tb *TB) (T, error)) (res T, err error) {
	tb := &TB{}
	defer tb.runCleanups()
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(failure)
			if !ok {
				panic(v)
			}
			err = errors.New(f.msg)
		}
	}()
	return body(tb)
}

// Parallel runs workers goroutines of work(worker), waits for them all
// and returns the first error.
func Parallel(workers int, work func(w int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for w := range workers {
		wg.Go(func() {
			if err := work(w); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

// Share is worker i's share of total items split among workers: the
// shares differ by at most one and add up to total.
func Share(total, workers, i int) int {
	n := total / workers
	if i < total%workers {
		n++
	}
	return n
}

// WaitFor polls cond every 5 ms for at most d. On a timeout the error
// says what was awaited, and what state tells (if not nil) about why.
func WaitFor(d time.Duration, what string, cond func() bool, state func() string) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timed out after %v waiting for %s", d, what)
			if state != nil {
				msg += ": " + state()
			}
			return errors.New(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// RegisterAll registers names[i] for every i, of kind, each from the node
// from picks, workers at a time; each worker's random source is seeded
// with (seed, worker). Each name is passed as a fresh copy, so that what
// the registry keeps never shares memory with names. got, if not nil, is
// called (concurrently) with each index and the ref Register returned. It
// returns the first error.
func RegisterAll(names []string, kind string, workers int, seed uint64, from func(*rand.Rand) *clustertest.Node, got func(i int, ref process.Ref)) error {
	var next atomic.Int64
	spec := process.Spec{Kind: kind}
	return Parallel(workers, func(w int) error {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		for {
			i := int(next.Add(1) - 1)
			if i >= len(names) {
				return nil
			}
			node := from(rng)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			ref, err := node.Registry.Register(ctx, strings.Clone(names[i]), spec)
			cancel()
			if err != nil {
				return fmt.Errorf("register %s on %s: %w", names[i], node.Name, err)
			}
			if got != nil {
				got(i, ref)
			}
		}
	})
}

// Settled reports whether the partitioned registries of nodes hold n
// names in all, each node serving the names it is primary of and running
// their processes (Len == Local), and every one is synced (each partition
// served and copied whole to its replicas).
func Settled(nodes []*clustertest.Node, n int) bool {
	names, procs := 0, 0
	for _, node := range nodes {
		if len(node.Cluster.Nodes()) != len(nodes)-1 || node.Registry.Synced() != nil {
			return false
		}
		l, p := node.Registry.Len(), node.Registry.Local()
		if l != p {
			return false
		}
		names += l
		procs += p
	}
	return names == n && procs == n
}

// Describe says, for each node, what it sees: members, names served,
// processes run, and its Synced error; for a timeout's message.
func Describe(nodes []*clustertest.Node) string {
	var b strings.Builder
	for i, node := range nodes {
		if i > 0 {
			b.WriteString("; ")
		}
		synced := "synced"
		if err := node.Registry.Synced(); err != nil {
			synced = err.Error()
		}
		fmt.Fprintf(&b, "%s: %d members, %d names, %d processes, %s",
			node.Name, len(node.Cluster.Nodes())+1, node.Registry.Len(), node.Registry.Local(), synced)
	}
	return b.String()
}

// Heap returns the bytes of live heap objects after two full
// collections.
func Heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// StartProfile starts a CPU profile into path; stop ends it.
func StartProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// Scrape reads h (a /metrics handler) every period, as Prometheus would,
// until stop is called: what metrics cost a node includes being read.
func Scrape(h http.Handler, period time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
