// Command durabench measures what checkpoints cost (issue 11): call round
// trips to counters on a 3-node cluster with checkpoints off, async and
// sync, beside the baselines users of other systems pick, in the same
// run: the counter's state written on every call to a real local
// PostgreSQL (synchronous_commit on) or to a real local Redis (appendonly,
// appendfsync everysec), from the handler, checkpoints off. And the memory
// the checkpoints take on the nodes, per process, against the size of the
// states they hold.
//
// Rows: -seq sequential calls from one caller, and -calls calls from
// -callers concurrent callers, each to a random one of -names counters
// through a random node (two thirds of the calls cross a link). The
// databases run on unix sockets in a temporary directory, started and
// stopped by the child that uses them. Each measurement runs in a fresh
// child process (this binary re-executed with -child); the table shows
// the median of -runs runs.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/shoalhq/shoal/bench/internal/child"
	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/bench/internal/report"
)

// result is what one child measurement reports.
type result struct {
	SeqPerSecond  float64 `json:"seq_per_second,omitempty"`
	ConcPerSecond float64 `json:"conc_per_second,omitempty"`
	// HeapPerProcess is the heap the cluster holds per counter (all
	// nodes, after a GC), for the memory row.
	HeapPerProcess float64 `json:"heap_per_process,omitempty"`
	// StateBytes is the encoded size of one counter's state there.
	StateBytes float64 `json:"state_bytes,omitempty"`
}

// params are the sizes every child gets.
type params struct {
	names, seq, calls, callers, memNames, stateSize int
	seed                                            uint64
	memprofile                                      string // child only
}

func (p params) args() []string {
	return []string{
		"-names", strconv.Itoa(p.names), "-seq", strconv.Itoa(p.seq), "-calls", strconv.Itoa(p.calls),
		"-callers", strconv.Itoa(p.callers), "-mem-names", strconv.Itoa(p.memNames),
		"-state-size", strconv.Itoa(p.stateSize), "-seed", strconv.FormatUint(p.seed, 10),
	}
}

// Goals set by issue 11.
const (
	goalVsPostgres = 10.0 // sync round trips/s >= 10x PostgreSQL's
	goalVsRedis    = 1.0  // sync >= Redis's
	goalAsyncCost  = 0.20 // async costs under 20 % of off
)

func main() {
	childSpec := flag.String("child", "", "internal: run one measurement")
	var p params
	flag.IntVar(&p.names, "names", 1000, "counters")
	flag.IntVar(&p.seq, "seq", 5000, "sequential calls")
	flag.IntVar(&p.calls, "calls", 50000, "concurrent calls in all")
	flag.IntVar(&p.callers, "callers", 16, "concurrent callers")
	flag.IntVar(&p.memNames, "mem-names", 10000, "counters in the memory measurement")
	flag.IntVar(&p.stateSize, "state-size", 1000, "bytes of state each counter holds in the memory measurement")
	flag.Uint64Var(&p.seed, "seed", 1, "seed of the random choices")
	runs := flag.Int("runs", 3, "runs of each measurement (median reported)")
	cpuprofile := flag.String("cpuprofile", "", "with -child: write the child's CPU profile to this file")
	memprofile := flag.String("memprofile", "", "with -child: write the child's heap profile at the end to this file")
	flag.Parse()
	if p.names < 1 || p.seq < 1 || p.calls < 1 || p.callers < 1 || p.memNames < 1 || p.stateSize < 1 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "durabench: every size and -runs must be at least 1")
		os.Exit(2)
	}
	if *childSpec != "" {
		if *cpuprofile != "" {
			stop, err := harness.StartProfile(*cpuprofile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "durabench:", err)
				os.Exit(1)
			}
			defer stop()
		}
		p.memprofile = *memprofile
		res, err := measure(*childSpec, p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", *childSpec, err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if err := compare(p, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "durabench:", err)
		os.Exit(1)
	}
}

func measure(spec string, p params) (result, error) {
	switch spec {
	case "off", "async", "sync", "postgres", "redis":
		return calls(spec, p)
	case "mem:off", "mem:sync":
		return memory(spec[len("mem:"):], p)
	}
	return result{}, fmt.Errorf("unknown measurement %q", spec)
}

func compare(p params, runs int) error {
	specs := []string{"off", "async", "sync", "postgres", "redis", "mem:off", "mem:sync"}
	results := map[string][]result{}
	for run := range runs {
		for _, spec := range specs {
			res, err := child.Run[result](spec, p.args()...)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "run %d %s %+v\n", run+1, spec, res)
			results[spec] = append(results[spec], res)
		}
	}
	med := func(spec string, pick func(result) float64) (m, lo, hi float64) {
		var xs []float64
		for _, r := range results[spec] {
			xs = append(xs, pick(r))
		}
		lo, hi = xs[0], xs[0]
		for _, x := range xs {
			lo, hi = min(lo, x), max(hi, x)
		}
		return child.Median(xs), lo, hi
	}
	seq := func(r result) float64 { return r.SeqPerSecond }
	conc := func(r result) float64 { return r.ConcPerSecond }
	cell := func(spec string, pick func(result) float64) string {
		m, lo, hi := med(spec, pick)
		return fmt.Sprintf("%s (%s-%s)", report.Human(m), report.Human(lo), report.Human(hi))
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Printf("GOMAXPROCS=%d, %s, median (min-max) of %d runs, each in a fresh process; 3 nodes on loopback; %d counters\n\n",
		runtime.GOMAXPROCS(0), runtime.Version(), runs, p.names)
	fmt.Printf("| calls to counters | sequential (1 caller) round trips/s | concurrent (%d callers) round trips/s |\n", p.callers)
	fmt.Println("|---|---:|---:|")
	rows := []struct{ spec, what string }{
		{"off", "checkpoints off (a crash loses the state)"},
		{"async", "checkpoints async, every 100 ms (a crash loses at most the last interval)"},
		{"sync", "checkpoints sync (a crash loses nothing acknowledged)"},
		{"postgres", "off + state written to PostgreSQL 15 on every call (synchronous_commit on)"},
		{"redis", "off + state written to Redis on every call (appendfsync everysec: a crash may lose 1 s)"},
	}
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r.what, cell(r.spec, seq), cell(r.spec, conc))
	}
	ratio := func(a, b string, pick func(result) float64) float64 {
		x, _, _ := med(a, pick)
		y, _, _ := med(b, pick)
		return x / y
	}
	fmt.Println()
	fmt.Println("| goal (issue 11) | sequential | concurrent |")
	fmt.Println("|---|---:|---:|")
	for _, g := range []struct {
		what   string
		a, b   string
		goal   float64
		invert bool
	}{
		{"sync / PostgreSQL >= 10x", "sync", "postgres", goalVsPostgres, false},
		{"sync / Redis >= 1x", "sync", "redis", goalVsRedis, false},
		{"async costs < 20 % of off (1 - async/off)", "async", "off", goalAsyncCost, true},
	} {
		var cells []string
		for _, pick := range []func(result) float64{seq, conc} {
			x := ratio(g.a, g.b, pick)
			if g.invert {
				cost := 1 - x
				cells = append(cells, fmt.Sprintf("%.0f %%: %s", 100*cost, met(cost < g.goal)))
			} else {
				cells = append(cells, fmt.Sprintf("%.2fx: %s", x, met(x >= g.goal)))
			}
		}
		fmt.Printf("| %s | %s | %s |\n", g.what, cells[0], cells[1])
	}
	heapOff, _, _ := med("mem:off", func(r result) float64 { return r.HeapPerProcess })
	heapSync, lo, hi := med("mem:sync", func(r result) float64 { return r.HeapPerProcess })
	state, _, _ := med("mem:sync", func(r result) float64 { return r.StateBytes })
	extra := heapSync - heapOff
	fmt.Printf("\nMemory, %d counters of %d bytes of state each (encoded: %.0f B), heap of the 3 nodes after a GC, per counter: checkpoints off %s B, sync %s B (%s-%s): checkpoints take %s B per counter, %.2fx its encoded state (a primary and one replica each hold a copy: 2x is the floor)\n",
		p.memNames, p.stateSize, state, report.Human(heapOff), report.Human(heapSync), report.Human(lo), report.Human(hi), report.Human(extra), extra/state)
	return nil
}
