// Command localbench compares Shoal's process runtime and registry with
// Proto.Actor-Go and Hollywood on one node, on the same workloads
// (package bench/internal/local), in the same run, beside what plain Go
// channels do with the same messages (the limit):
//
//   - idle: spawn N named (registered) processes that hold an int counter
//     and stay idle; report live heap bytes per process and spawns/s;
//   - cast, cast8to1, cast8to8: one-way messages from 1 sender to 1
//     process, 8 senders to 1, 8 senders each to its own; report
//     messages/s once the last is handled;
//   - call: K sequential request/reply round trips to one process; report
//     round trips/s.
//
// Shoal also runs with metrics ("shoal+metrics": package metrics watching
// the runtime and registry, observing registry operations, and read every
// -scrape, 15 times as often as Prometheus's default) and with bounded
// mailboxes ("shoal+bounded"), to show what each costs.
//
// Each measurement runs in a fresh child process so that one system's
// garbage never counts against another's; Hollywood's run in the
// hollywoodchild binary (see there why). The tables show the median of
// -runs runs with their range.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalhq/shoal/bench/internal/child"
	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/bench/internal/local"
	"github.com/shoalhq/shoal/bench/internal/report"
	"github.com/shoalhq/shoal/metrics"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

type result = local.Result

func main() {
	child := flag.String("child", "", "internal: run one measurement, system:workload")
	n := flag.Int("n", 1_000_000, "idle processes to spawn")
	casts := flag.Int("casts", 2_000_000, "messages in each cast workload")
	calls := flag.Int("calls", 200_000, "round trips in the call workload")
	runs := flag.Int("runs", 3, "runs of each measurement (median reported)")
	hollywood := flag.String("hollywood", "", "the hollywoodchild binary (default: beside this one)")
	flag.DurationVar(&scrapeEvery, "scrape", time.Second, "how often shoal+metrics reads its metrics")
	flag.Parse()
	sz := local.Sizes{Idle: *n, Casts: *casts, Calls: *calls}
	if *child != "" {
		res, err := measure(*child, sz)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if *hollywood == "" {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "localbench: find own binary:", err)
			os.Exit(1)
		}
		*hollywood = filepath.Join(filepath.Dir(self), "hollywoodchild")
	}
	if _, err := os.Stat(*hollywood); err != nil {
		fmt.Fprintf(os.Stderr, "localbench: Hollywood runs in a binary of its own: build it with `go build -o %s ./cmd/hollywoodchild` in bench/ (or give -hollywood): %v\n", *hollywood, err)
		os.Exit(1)
	}
	if err := compare(sz, *runs, *hollywood); err != nil {
		fmt.Fprintln(os.Stderr, "localbench:", err)
		os.Exit(1)
	}
}

// boundedMailbox is the mailbox bound of shoal+bounded's cast targets
// (process.KindOptions.Mailbox, OverflowBlock): a sender waits for room
// whenever it is this far ahead.
const boundedMailbox = 10_000

// scrapeEvery is how often shoal+metrics reads its metrics (-scrape).
var scrapeEvery time.Duration

func newSystem(name string) (local.System, error) {
	switch name {
	case "shoal":
		return newShoalSystem(false, 0)
	case "shoal+metrics":
		return newShoalSystem(true, 0)
	case "shoal+bounded":
		return newShoalSystem(false, boundedMailbox)
	case "protoactor":
		return newProtoSystem(), nil
	case "chan":
		return chanSystem{}, nil
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

func measure(spec string, sz local.Sizes) (result, error) {
	sysName, workload, _ := strings.Cut(spec, ":")
	s, err := newSystem(sysName)
	if err != nil {
		return result{}, err
	}
	defer s.Close()
	return local.Measure(s, workload, sz)
}

func median(xs []float64) float64 { return child.Median(xs) }

// systemsFor lists the systems that run a workload: Shoal and its
// variants, the peers, and the limit (plain Go channels).
func systemsFor(w string) []string {
	switch w {
	case "idle":
		// Hollywood's idle actors with an inbox of 1 (its default inbox
		// holds 1,024 envelopes, about 28 KB an actor).
		return []string{"shoal", "shoal+metrics", "protoactor", "hollywood1"}
	case "cast":
		return []string{"shoal", "shoal+metrics", "shoal+bounded", "protoactor", "hollywood", "chan"}
	case "call":
		return []string{"shoal", "shoal+metrics", "protoactor", "hollywood", "chan"}
	case "callplain":
		return []string{"shoal", "chan"}
	}
	return []string{"shoal", "protoactor", "hollywood", "chan"}
}

func compare(sz local.Sizes, runs int, hollywood string) error {
	type row struct {
		name, unit string
		workload   string
		pick       func(result) float64
		higher     bool // higher is better
	}
	rows := []row{
		{fmt.Sprintf("bytes per idle registered process (%d)", sz.Idle), "B", "idle", func(r result) float64 { return r.BytesPerProc }, false},
		{fmt.Sprintf("spawn+register rate (%d)", sz.Idle), "/s", "idle", func(r result) float64 { return r.PerSecond }, true},
		{fmt.Sprintf("local cast, 1 sender to 1 process (%d msgs)", sz.Casts), "msg/s", "cast", func(r result) float64 { return r.PerSecond }, true},
		{fmt.Sprintf("local cast, 8 senders to 1 process (%d msgs)", sz.Casts), "msg/s", "cast8to1", func(r result) float64 { return r.PerSecond }, true},
		{fmt.Sprintf("local cast, 8 senders to 8 processes (%d msgs)", sz.Casts), "msg/s", "cast8to8", func(r result) float64 { return r.PerSecond }, true},
		{fmt.Sprintf("local call round trips, 30 s deadline each (%d sequential)", sz.Calls), "/s", "call", func(r result) float64 { return r.PerSecond }, true},
		{fmt.Sprintf("local call round trips, no deadline (%d sequential)", sz.Calls), "/s", "callplain", func(r result) float64 { return r.PerSecond }, true},
	}
	args := []string{"-n", strconv.Itoa(sz.Idle), "-casts", strconv.Itoa(sz.Casts), "-calls", strconv.Itoa(sz.Calls), "-scrape", scrapeEvery.String()}
	results := map[string][]result{}
	for run := range runs {
		for _, w := range local.Workloads {
			for _, sys := range systemsFor(w) {
				spec := sys + ":" + w
				var res result
				var err error
				if strings.HasPrefix(sys, "hollywood") {
					res, err = child.RunBinary[result](hollywood, spec, args...)
				} else {
					res, err = child.Run[result](spec, args...)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "run %d %s %+v\n", run+1, spec, res)
				results[spec] = append(results[spec], res)
			}
		}
	}
	// stat is a system's median on a row and its range, "" if it did not
	// run it.
	stat := func(sys string, r row) (med float64, text string) {
		var xs []float64
		for _, res := range results[sys+":"+r.workload] {
			xs = append(xs, r.pick(res))
		}
		if len(xs) == 0 {
			return 0, "-"
		}
		lo, hi := slices.Min(xs), slices.Max(xs)
		med = median(xs)
		return med, fmt.Sprintf("%s %s (%s-%s)", human(med), r.unit, human(lo), human(hi))
	}
	fmt.Printf("GOMAXPROCS=%d, %s, median (min-max) of %d runs, each in a fresh process\n\n", runtime.GOMAXPROCS(0), runtime.Version(), runs)
	fmt.Println("| workload | Shoal | Proto.Actor-Go | Hollywood | Shoal / best peer | Go channels (the limit) | Shoal / limit |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		shoal, st := stat("shoal", r)
		pa, pt := stat("protoactor", r)
		hsys := "hollywood"
		if r.workload == "idle" {
			hsys = "hollywood1"
		}
		hw, ht := stat(hsys, r)
		if r.workload == "idle" {
			ht += " (inbox 1)"
		}
		best := max(pa, hw)
		if !r.higher {
			best = min(pa, hw)
		}
		ratio := shoal / best
		verdict := "better"
		if (r.higher && ratio < 1) || (!r.higher && ratio > 1) {
			verdict = "worse"
		}
		vs := fmt.Sprintf("%.2fx (%s)", ratio, verdict)
		if best == 0 {
			vs = "- (no peer call without a timeout)"
		}
		limit, lt := stat("chan", r)
		frac := "-"
		if limit > 0 {
			frac = fmt.Sprintf("%.0f%%", 100*shoal/limit)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.name, st, pt, ht, vs, lt, frac)
	}
	fmt.Println("\nThe limit: the same messages through plain Go channels (a buffered channel per target for casts; an unbuffered ping-pong for calls, with a 30 s context.WithTimeout and a select on its Done per round trip for the row with deadlines).")
	fmt.Printf("\nWhat metrics cost (package metrics, read every %v; goal: within 5%%)\n\n", scrapeEvery)
	fmt.Println("| workload | Shoal | Shoal with metrics | with / without |")
	fmt.Println("|---|---:|---:|---:|")
	for _, r := range rows {
		if r.workload != "idle" && r.workload != "cast" && r.workload != "call" {
			continue
		}
		m0, t0 := stat("shoal", r)
		m1, t1 := stat("shoal+metrics", r)
		fmt.Printf("| %s | %s | %s | %.3fx |\n", r.name, t0, t1, m1/m0)
	}
	fmt.Printf("\nWhat a bounded mailbox costs (the cast target's mailbox bounded at %d, the sender waiting for room; goal: within 5%%)\n\n", boundedMailbox)
	fmt.Println("| workload | Shoal | Shoal, bounded mailbox | bounded / unbounded |")
	fmt.Println("|---|---:|---:|---:|")
	for _, r := range rows {
		if r.workload != "cast" {
			continue
		}
		m0, t0 := stat("shoal", r)
		m1, t1 := stat("shoal+bounded", r)
		fmt.Printf("| %s | %s | %s | %.3fx |\n", r.name, t0, t1, m1/m0)
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
	rt        *process.Runtime
	reg       *registry.Registry
	castProcs []*process.Process
	callProc  *process.Process
	nextIdle  int
	idleSpec  process.Spec
	castSpec  process.Spec
	ctx       context.Context
	scraping  func() // stops the metrics' reader, if any
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

// Cast casts n messages from each sender to its target process through
// its handle (as Proto.Actor sends to a PID) and waits until the last is
// handled.
func (s *shoalSystem) Cast(senders, targets, n int) error {
	for len(s.castProcs) < targets {
		p, err := s.handle("cast-"+strconv.Itoa(len(s.castProcs)), s.castSpec)
		if err != nil {
			return err
		}
		s.castProcs = append(s.castProcs, p)
	}
	var wg sync.WaitGroup
	for t := range targets {
		done := make(chan struct{})
		if err := s.castProcs[t].Cast(shoalArm{n: n * sendersTo(t, senders, targets), done: done}); err != nil {
			return err
		}
		wg.Go(func() { <-done })
	}
	err := local.Senders(senders, func(i int) error {
		p := s.castProcs[i%targets]
		for range n {
			if err := p.Cast(shoalInc{}); err != nil {
				return err
			}
		}
		return nil
	})
	wg.Wait()
	return err
}

// sendersTo counts the senders that send to target t (sender i sends to
// i % targets).
func sendersTo(t, senders, targets int) int {
	k := 0
	for i := range senders {
		if i%targets == t {
			k++
		}
	}
	return k
}

// CallPlain makes n sequential calls without a deadline.
func (s *shoalSystem) CallPlain(n int) error {
	if s.callProc == nil {
		p, err := s.handle("call", s.idleSpec)
		if err != nil {
			return err
		}
		s.callProc = p
	}
	for range n {
		if _, err := s.callProc.Call(s.ctx, shoalAsk{}); err != nil {
			return err
		}
	}
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

// chanSystem is the limit: the same messages through plain Go channels,
// a buffered channel (1,024) per cast target drained by its own
// goroutine, and an unbuffered ping-pong for calls.
type chanSystem struct{}

func (chanSystem) SpawnIdle(int) error { return errors.New("chan: no idle processes") }

func (chanSystem) Cast(senders, targets, n int) error {
	var wg sync.WaitGroup
	chans := make([]chan shoalInc, targets)
	for t := range targets {
		chans[t] = make(chan shoalInc, 1024)
		want := n * sendersTo(t, senders, targets)
		wg.Go(func() {
			count := 0
			for range chans[t] {
				if count++; count == want {
					return
				}
			}
		})
	}
	err := local.Senders(senders, func(i int) error {
		ch := chans[i%targets]
		for range n {
			ch <- shoalInc{}
		}
		return nil
	})
	wg.Wait()
	return err
}

// CallN is the ping-pong with what a deadline costs a caller: a context
// with a 30 s timeout per round trip, and a select on its Done.
func (chanSystem) CallN(n int) error {
	req, resp := pingPong()
	defer close(req)
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		req <- 0
		select {
		case <-resp:
		case <-ctx.Done():
			cancel()
			return ctx.Err()
		}
		cancel()
	}
	return nil
}

// CallPlain is the bare ping-pong.
func (chanSystem) CallPlain(n int) error {
	req, resp := pingPong()
	defer close(req)
	for range n {
		req <- 0
		<-resp
	}
	return nil
}

// pingPong starts a goroutine that answers each request; closing req
// ends it.
func pingPong() (chan<- int, <-chan int) {
	req, resp := make(chan int), make(chan int)
	go func() {
		count := 0
		for range req {
			count++
			resp <- count
		}
	}()
	return req, resp
}

func (chanSystem) Close() {}

func (s *shoalSystem) Close() {
	if s.scraping != nil {
		s.scraping()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.rt.Shutdown(ctx)
}
