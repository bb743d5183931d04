// Command localbench compares Shoal's process runtime and registry with
// Proto.Actor-Go on one node, on the same workloads, in the same run:
//
//   - idle: spawn N named (registered) processes that hold an int counter
//     and stay idle; report live heap bytes per process and spawns/s;
//   - cast: one sender sends M asynchronous messages to one process; report
//     messages/s once the last is handled;
//   - call: K sequential request/reply round trips to one process; report
//     round trips/s.
//
// Shoal runs each workload twice: without metrics, and with them
// ("shoal+metrics": package metrics watching the runtime and registry,
// observing registry operations, and read every -scrape, 15 times as
// often as Prometheus's default), to show what metrics cost.
//
// Each measurement runs in a fresh child process so that one system's
// garbage never counts against the other; the table shows the median of
// -runs runs and the ratio Shoal / Proto.Actor.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/shoalhq/shoal/bench/internal/child"
	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/bench/internal/report"
	"github.com/shoalhq/shoal/metrics"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

type result struct {
	BytesPerProc float64 `json:"bytes_per_proc,omitempty"`
	PerSecond    float64 `json:"per_second"`
	Goroutines   int     `json:"goroutines,omitempty"`
}

type system interface {
	SpawnIdle(n int) error
	CastN(n int) error
	CallN(n int) error
	Close()
}

func main() {
	child := flag.String("child", "", "internal: run one measurement, system:workload")
	n := flag.Int("n", 1_000_000, "idle processes to spawn")
	casts := flag.Int("casts", 2_000_000, "messages in the cast workload")
	calls := flag.Int("calls", 200_000, "round trips in the call workload")
	runs := flag.Int("runs", 3, "runs of each measurement (median reported)")
	flag.DurationVar(&scrapeEvery, "scrape", time.Second, "how often shoal+metrics reads its metrics")
	flag.Parse()
	if *child != "" {
		res, err := measure(*child, *n, *casts, *calls)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if err := compare(*n, *casts, *calls, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "localbench:", err)
		os.Exit(1)
	}
}

// boundedMailbox is the mailbox bound of shoal+bounded's cast target
// (process.KindOptions.Mailbox, OverflowBlock): the sender waits for room
// whenever it is this far ahead.
const boundedMailbox = 10_000

// scrapeEvery is how often shoal+metrics reads its metrics (-scrape).
var scrapeEvery time.Duration

func newSystem(name string) (system, error) {
	switch name {
	case "shoal":
		return newShoalSystem(false, 0)
	case "shoal+metrics":
		return newShoalSystem(true, 0)
	case "shoal+bounded":
		return newShoalSystem(false, boundedMailbox)
	case "protoactor":
		return newProtoSystem(), nil
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

func measure(spec string, n, casts, calls int) (result, error) {
	var sysName, workload string
	for i := range spec {
		if spec[i] == ':' {
			sysName, workload = spec[:i], spec[i+1:]
		}
	}
	s, err := newSystem(sysName)
	if err != nil {
		return result{}, err
	}
	defer s.Close()
	var res result
	switch workload {
	case "idle":
		base := harness.Heap()
		start := time.Now()
		if err := s.SpawnIdle(n); err != nil {
			return result{}, err
		}
		el := time.Since(start)
		after := harness.Heap()
		res.PerSecond = float64(n) / el.Seconds()
		res.BytesPerProc = float64(after-base) / float64(n)
		res.Goroutines = runtime.NumGoroutine()
	case "cast":
		_ = s.CastN(1000) // warm up: spawn the target
		start := time.Now()
		if err := s.CastN(casts); err != nil {
			return result{}, err
		}
		res.PerSecond = float64(casts) / time.Since(start).Seconds()
	case "call":
		_ = s.CallN(1000)
		start := time.Now()
		if err := s.CallN(calls); err != nil {
			return result{}, err
		}
		res.PerSecond = float64(calls) / time.Since(start).Seconds()
	default:
		return result{}, fmt.Errorf("unknown workload %q", workload)
	}
	runtime.KeepAlive(s)
	return res, nil
}

func runChild(spec string, n, casts, calls int) (result, error) {
	return child.Run[result](spec, "-n", strconv.Itoa(n), "-casts", strconv.Itoa(casts), "-calls", strconv.Itoa(calls), "-scrape", scrapeEvery.String())
}

func median(xs []float64) float64 { return child.Median(xs) }

func compare(n, casts, calls, runs int) error {
	type row struct {
		name, unit string
		workload   string
		pick       func(result) float64
		higher     bool // higher is better
	}
	rows := []row{
		{fmt.Sprintf("bytes per idle registered process (%d)", n), "B", "idle", func(r result) float64 { return r.BytesPerProc }, false},
		{fmt.Sprintf("spawn+register rate (%d)", n), "/s", "idle", func(r result) float64 { return r.PerSecond }, true},
		{fmt.Sprintf("local cast throughput (%d msgs)", casts), "msg/s", "cast", func(r result) float64 { return r.PerSecond }, true},
		{fmt.Sprintf("local call round trips (%d sequential)", calls), "/s", "call", func(r result) float64 { return r.PerSecond }, true},
	}
	results := map[string][]result{}
	for run := range runs {
		for _, w := range []string{"idle", "cast", "call"} {
			systems := []string{"shoal", "shoal+metrics", "protoactor"}
			if w == "cast" {
				systems = append(systems, "shoal+bounded")
			}
			for _, sys := range systems {
				res, err := runChild(sys+":"+w, n, casts, calls)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "run %d %s:%s %+v\n", run+1, sys, w, res)
				results[sys+":"+w] = append(results[sys+":"+w], res)
			}
		}
	}
	fmt.Printf("GOMAXPROCS=%d, %s, median of %d runs, each in a fresh process\n\n", runtime.GOMAXPROCS(0), runtime.Version(), runs)
	fmt.Println("| workload | Shoal | Proto.Actor-Go | Shoal / Proto.Actor |")
	fmt.Println("|---|---:|---:|---:|")
	med := func(sys string, r row) float64 {
		var xs []float64
		for _, res := range results[sys+":"+r.workload] {
			xs = append(xs, r.pick(res))
		}
		return median(xs)
	}
	for _, r := range rows {
		med := [2]float64{med("shoal", r), med("protoactor", r)}
		ratio := med[0] / med[1]
		verdict := "better"
		if (r.higher && ratio < 1) || (!r.higher && ratio > 1) {
			verdict = "worse"
		}
		fmt.Printf("| %s | %s %s | %s %s | %.2fx (%s) |\n", r.name, human(med[0]), r.unit, human(med[1]), r.unit, ratio, verdict)
	}
	fmt.Printf("\nWhat metrics cost (package metrics, read every %v; goal: within 5%%)\n\n", scrapeEvery)
	fmt.Println("| workload | Shoal | Shoal with metrics | with / without |")
	fmt.Println("|---|---:|---:|---:|")
	for _, r := range rows {
		med := [2]float64{med("shoal", r), med("shoal+metrics", r)}
		fmt.Printf("| %s | %s %s | %s %s | %.3fx |\n", r.name, human(med[0]), r.unit, human(med[1]), r.unit, med[1]/med[0])
	}
	fmt.Printf("\nWhat a bounded mailbox costs (the cast target's mailbox bounded at %d, the sender waiting for room; goal: within 5%%)\n\n", boundedMailbox)
	fmt.Println("| workload | Shoal | Shoal, bounded mailbox | bounded / unbounded |")
	fmt.Println("|---|---:|---:|---:|")
	for _, r := range rows {
		if r.workload != "cast" {
			continue
		}
		med := [2]float64{med("shoal", r), med("shoal+bounded", r)}
		fmt.Printf("| %s | %s %s | %s %s | %.3fx |\n", r.name, human(med[0]), r.unit, human(med[1]), r.unit, med[1]/med[0])
	}
	return nil
}

func human(x float64) string { return report.Human(x) }

// Shoal side.

type shoalIdle struct{ count int }

type (
	shoalInc struct{}
	shoalAsk struct{}
	shoalArm struct {
		n    int
		done chan struct{}
	}
)

func (c *shoalIdle) HandleCall(context.Context, process.Self, any) (any, error) {
	c.count++
	return c.count, nil
}
func (c *shoalIdle) HandleCast(context.Context, process.Self, any) { c.count++ }
func (c *shoalIdle) HandleInfo(context.Context, process.Self, any) {}

type shoalCastTarget struct {
	count, target int
	done          chan struct{}
}

func (c *shoalCastTarget) HandleCall(context.Context, process.Self, any) (any, error) {
	return nil, nil
}
func (c *shoalCastTarget) HandleCast(_ context.Context, _ process.Self, msg any) {
	switch m := msg.(type) {
	case shoalInc:
		c.count++
		if c.count == c.target {
			close(c.done)
		}
	case shoalArm:
		c.count, c.target, c.done = 0, m.n, m.done
	}
}
func (c *shoalCastTarget) HandleInfo(context.Context, process.Self, any) {}

type shoalSystem struct {
	rt       *process.Runtime
	reg      *registry.Registry
	castProc *process.Process
	callProc *process.Process
	nextIdle int
	idleSpec process.Spec
	castSpec process.Spec
	ctx      context.Context
	scraping func() // stops the metrics' reader, if any
}

func newShoalSystem(withMetrics bool, mailbox int) (*shoalSystem, error) {
	kinds := process.NewKinds()
	if err := kinds.Register("idle", func([]byte) (process.Behavior, error) { return &shoalIdle{}, nil }); err != nil {
		return nil, err
	}
	castOpts := process.KindOptions{Mailbox: process.MailboxOptions{Size: mailbox}}
	if err := kinds.RegisterWith("cast", func([]byte) (process.Behavior, error) { return &shoalCastTarget{}, nil }, castOpts); err != nil {
		return nil, err
	}
	const node = "bench@127.0.0.1"
	rt, err := process.NewRuntime(process.Config{Node: node}, kinds)
	if err != nil {
		return nil, err
	}
	cfg := registry.DefaultConfig()
	var mets *metrics.Metrics
	if withMetrics {
		if mets, err = metrics.New(node); err != nil {
			return nil, err
		}
		cfg.ObserveOp = mets.ObserveOp
	}
	reg, err := registry.New(cfg, rt)
	if err != nil {
		return nil, err
	}
	s := &shoalSystem{rt: rt, reg: reg, idleSpec: process.Spec{Kind: "idle"}, castSpec: process.Spec{Kind: "cast"}, ctx: context.Background()}
	if mets != nil {
		if err := mets.Watch(metrics.Sources{Runtime: rt, Registry: reg}); err != nil {
			return nil, err
		}
		s.scraping = harness.Scrape(mets.Handler(), scrapeEvery)
	}
	return s, nil
}

// SpawnIdle registers n names "p-<i>", each a new idle process.
func (s *shoalSystem) SpawnIdle(n int) error {
	for i := range n {
		if _, err := s.reg.Register(s.ctx, "p-"+strconv.Itoa(s.nextIdle+i), s.idleSpec); err != nil {
			return err
		}
	}
	s.nextIdle += n
	return nil
}

func (s *shoalSystem) handle(name string, spec process.Spec) (*process.Process, error) {
	ref, err := s.reg.Register(s.ctx, name, spec)
	if err != nil {
		return nil, err
	}
	p, ok := s.rt.Lookup(ref)
	if !ok {
		return nil, fmt.Errorf("%s vanished", name)
	}
	return p, nil
}

// CastN casts n messages to one process through its handle (as
// Proto.Actor sends to a PID) and waits until the last is handled.
func (s *shoalSystem) CastN(n int) error {
	if s.castProc == nil {
		p, err := s.handle("cast", s.castSpec)
		if err != nil {
			return err
		}
		s.castProc = p
	}
	done := make(chan struct{})
	if err := s.castProc.Cast(shoalArm{n: n, done: done}); err != nil {
		return err
	}
	for range n {
		if err := s.castProc.Cast(shoalInc{}); err != nil {
			return err
		}
	}
	<-done
	return nil
}

// CallN makes n sequential calls, each with its own 30 s deadline, as each
// of Proto.Actor's futures has.
func (s *shoalSystem) CallN(n int) error {
	if s.callProc == nil {
		p, err := s.handle("call", s.idleSpec)
		if err != nil {
			return err
		}
		s.callProc = p
	}
	for range n {
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		_, err := s.callProc.Call(ctx, shoalAsk{})
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *shoalSystem) Close() {
	if s.scraping != nil {
		s.scraping()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.rt.Shutdown(ctx)
}
