// Command scalebench measures the partitioned registry (registry v2,
// issue 10) at scale, on in-process nodes on loopback:
//
//   - directory heap: -n names of a small kind (its state an int)
//     registered on -nodes nodes from random nodes, -workers at a time;
//     the live heap once every registry is synced, minus the live heap
//     of the same -n processes spawned on the same number of nodes
//     without a registry (a child of its own, the baseline), over
//     -nodes: the directory's bytes per node, without the processes;
//   - lookups: Whereis on -nodes nodes of names whose primary is the
//     node asked (answered locally), on GOMAXPROCS goroutines, against
//     the same loop over a plain Go map of the same names; then names
//     whose primary is another node (one hop), on GOMAXPROCS and on
//     -hopworkers goroutines;
//   - join: a node joins the -nodes and takes its share of the
//     partitions, their processes moving to it with their state; the
//     time from its start until every node is synced, every name served
//     and run by its primary, the new one running its share; then a
//     check that the new node lists every name once;
//   - registrations: -regn names of a trivial kind registered on 3 nodes
//     from random nodes, -regworkers at a time (clusterbench's registry
//     row), against the same row of clusterbench built from the last
//     commit before issue 10 (-old, every name on every node), each run
//     of one followed at once by a run of the other.
//
// Each measurement runs in a fresh child process (this binary, or -old,
// re-executed with -child); the table shows the median of -runs runs and
// their range.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoalhq/shoal/bench/internal/child"
	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/bench/internal/report"
)

// result is what one child measurement reports.
type result struct {
	// HeapBefore and HeapAfter are the live heap (after GC) of the
	// empty cluster and with the names or processes (for the registry,
	// after a quiet window once synced); HeapSettled is the registry's
	// as soon as synced.
	HeapBefore  uint64 `json:"heap_before,omitempty"`
	HeapAfter   uint64 `json:"heap_after,omitempty"`
	HeapSettled uint64 `json:"heap_settled,omitempty"`
	// PerSecond is registrations/s until the last Register returned.
	PerSecond float64 `json:"per_second,omitempty"`
	// SettledPerSecond is registrations/s until every registry was
	// synced, each name served and run by its primary.
	SettledPerSecond float64 `json:"settled_per_second,omitempty"`
	// CallCeiling is calls/s from random nodes to random nodes of the
	// registration cluster, as many at a time as its registrars.
	CallCeiling float64 `json:"call_ceiling,omitempty"`
	// IdleCores is the CPU time the settled cluster used while idle, in
	// cores (1 = one core busy).
	IdleCores float64 `json:"idle_cores,omitempty"`
	// Goroutines is the number of goroutines once settled.
	Goroutines int `json:"goroutines,omitempty"`
	// LocalLookups, MapLookups, HopLookups and HopLookupsWide are
	// lookups/s: answered by the primary asked, in a plain map, one hop
	// away on GOMAXPROCS and on -hopworkers goroutines.
	LocalLookups   float64 `json:"local_lookups,omitempty"`
	MapLookups     float64 `json:"map_lookups,omitempty"`
	HopLookups     float64 `json:"hop_lookups,omitempty"`
	HopLookupsWide float64 `json:"hop_lookups_wide,omitempty"`
	// JoinSeconds is the time the joining node took to take its share;
	// JoinLocal the processes it then ran, JoinMoved those that arrived
	// with their state, JoinWrongState those that arrived with another.
	JoinSeconds    float64 `json:"join_seconds,omitempty"`
	JoinLocal      int     `json:"join_local,omitempty"`
	JoinMoved      int     `json:"join_moved,omitempty"`
	JoinWrongState int     `json:"join_wrong_state,omitempty"`
	// Listed counts the names the new node listed once, ListedTwice
	// those listed again, ListedUnknown names never registered.
	Listed        int `json:"listed,omitempty"`
	ListedTwice   int `json:"listed_twice,omitempty"`
	ListedUnknown int `json:"listed_unknown,omitempty"`
}

// oldResult is what clusterbench's shoal:registry child prints.
type oldResult struct {
	PerSecond           float64 `json:"per_second"`
	ReplicatedPerSecond float64 `json:"replicated_per_second"`
}

// params are the sizes every child gets.
type params struct {
	nodes, n, workers, partitions int
	lookups, hops, hopWorkers     int
	regN, regWorkers              int
	seed                          uint64
	joinLimit                     time.Duration
}

func (p params) args() []string {
	return []string{
		"-nodes", strconv.Itoa(p.nodes), "-n", strconv.Itoa(p.n), "-workers", strconv.Itoa(p.workers),
		"-partitions", strconv.Itoa(p.partitions), "-lookups", strconv.Itoa(p.lookups),
		"-hops", strconv.Itoa(p.hops), "-hopworkers", strconv.Itoa(p.hopWorkers),
		"-regn", strconv.Itoa(p.regN), "-regworkers", strconv.Itoa(p.regWorkers),
		"-seed", strconv.FormatUint(p.seed, 10), "-joinlimit", p.joinLimit.String(),
	}
}

// Goals of issue 10.
const (
	goalHeapPerNode = 60 << 20 // bytes of directory per node, 1,000,000 names, 10 nodes, k = 1
	goalHeapNames   = 1_000_000
	goalJoin        = 10.0 // seconds
	goalLookups     = 5e6  // local lookups/s
	goalRegRatio    = 3.0  // v2 / the earlier design, registrations/s on 3 nodes
)

func main() {
	childSpec := flag.String("child", "", "internal: run one measurement")
	var p params
	flag.IntVar(&p.nodes, "nodes", 10, "nodes of the heap, lookup and join measurements (at most 255)")
	flag.IntVar(&p.n, "n", 1_000_000, "names registered on -nodes nodes")
	flag.IntVar(&p.workers, "workers", 16, "concurrent registrars on -nodes nodes")
	flag.IntVar(&p.partitions, "partitions", 1024, "the registry's partition count")
	flag.IntVar(&p.lookups, "lookups", 5_000_000, "lookups answered locally (and plain map lookups)")
	flag.IntVar(&p.hops, "hops", 200_000, "lookups one hop away, in each of two loops")
	flag.IntVar(&p.hopWorkers, "hopworkers", 64, "goroutines of the second loop of one-hop lookups")
	flag.IntVar(&p.regN, "regn", 100_000, "names registered on 3 nodes, by each design")
	flag.IntVar(&p.regWorkers, "regworkers", 64, "concurrent registrars on 3 nodes")
	flag.Uint64Var(&p.seed, "seed", 1, "seed of the random choices of nodes and names")
	flag.DurationVar(&p.joinLimit, "joinlimit", 2*time.Minute, "how long the joining node may take to take its share")
	runs := flag.Int("runs", 3, "runs of each measurement (median reported)")
	old := flag.String("old", "", "clusterbench built from the last commit before issue 10; empty skips the registrations row")
	rows := flag.String("rows", "scale,registrations", "measurements to run: scale (heap, lookups, join), registrations")
	cpuprofile := flag.String("cpuprofile", "", "with -child: write the child's CPU profile to this file")
	flag.StringVar(&heapProfile, "heapprofile", "", "with -child scale: write a heap profile to this file once settled")
	flag.StringVar(&idleProfile, "idleprofile", "", "with -child scale (and no -cpuprofile): write a CPU profile of the settled cluster's quiet window to this file")
	flag.Parse()
	if p.nodes < 2 || p.nodes > 255 || p.n < 1 || p.workers < 1 || p.partitions < 1 || p.lookups < 1 ||
		p.hops < 1 || p.hopWorkers < 1 || p.regN < 1 || p.regWorkers < 1 || p.joinLimit <= 0 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "scalebench: -nodes must be 2 to 255, every other size and -runs at least 1")
		os.Exit(2)
	}
	if *childSpec != "" {
		if *cpuprofile != "" {
			stop, err := harness.StartProfile(*cpuprofile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "scalebench:", err)
				os.Exit(1)
			}
			defer stop()
		}
		res, err := measure(*childSpec, p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s (seed %d): %v\n", *childSpec, p.seed, err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	want := map[string]bool{}
	for _, r := range strings.Split(*rows, ",") {
		want[strings.TrimSpace(r)] = true
	}
	if err := compare(p, *runs, *old, want); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

// heapProfile is where the scale child writes a heap profile once every
// registry is synced (-heapprofile); empty for none.
var heapProfile string

// idleProfile is where the scale child writes a CPU profile of its
// quiet window (-idleprofile); empty for none.
var idleProfile string

// startIdleProfile starts the quiet window's CPU profile, if asked for.
func startIdleProfile() (stop func(), err error) {
	if idleProfile == "" {
		return func() {}, nil
	}
	return harness.StartProfile(idleProfile)
}

// writeHeapProfile writes the heap profile to heapProfile, if set.
func writeHeapProfile() error {
	if heapProfile == "" {
		return nil
	}
	f, err := os.Create(heapProfile)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

func measure(spec string, p params) (result, error) {
	switch spec {
	case "procs":
		return procsBaseline(p)
	case "scale":
		return scale(p)
	case "registrations":
		return registrations(p)
	}
	return result{}, fmt.Errorf("unknown measurement %q", spec)
}

// compare runs the measurements runs times, one after the other in each
// run, and prints the table.
func compare(p params, runs int, old string, want map[string]bool) error {
	var procs, scales, regs []result
	var olds []oldResult
	began := time.Now()
	for run := range runs {
		if want["scale"] {
			for _, spec := range []string{"procs", "scale"} {
				res, err := child.Run[result](spec, p.args()...)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "run %d %s %+v (%v)\n", run+1, spec, res, time.Since(began).Round(time.Second))
				if spec == "procs" {
					procs = append(procs, res)
				} else {
					scales = append(scales, res)
				}
			}
		}
		if want["registrations"] {
			if old != "" {
				// Its registry child with the same names, registrars and
				// seed; the fewest lookups it allows (one per registrar).
				o, err := child.RunBinary[oldResult](old, "shoal:registry",
					"-n", strconv.Itoa(p.regN), "-workers", strconv.Itoa(p.regWorkers),
					"-lookups", strconv.Itoa(p.regWorkers), "-seed", strconv.FormatUint(p.seed, 10))
				if err != nil {
					return fmt.Errorf("earlier design (%s): %w", old, err)
				}
				fmt.Fprintf(os.Stderr, "run %d old:registrations %+v (%v)\n", run+1, o, time.Since(began).Round(time.Second))
				olds = append(olds, o)
			}
			res, err := child.Run[result]("registrations", p.args()...)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "run %d registrations %+v (%v)\n", run+1, res, time.Since(began).Round(time.Second))
			regs = append(regs, res)
		}
	}

	fmt.Printf("GOMAXPROCS=%d, %s, seed %d, median of %d runs (min-max), each in a fresh process; loopback only; %v in all\n\n",
		runtime.GOMAXPROCS(0), runtime.Version(), p.seed, runs, time.Since(began).Round(time.Second))
	fmt.Println("| measurement | registry v2 | baseline, same run | ratio, or goal |")
	fmt.Println("|---|---:|---:|---:|")
	if len(scales) > 0 {
		printScale(p, procs, scales)
	}
	if len(regs) > 0 {
		printRegistrations(p, regs, olds)
	}
	return nil
}

func printScale(p params, procs, scales []result) {
	mb := func(b float64) string { return fmt.Sprintf("%.1f MB", b/(1<<20)) }
	nodes := float64(p.nodes)
	grow := func(r result) float64 { return float64(r.HeapAfter) - float64(r.HeapBefore) }
	// Run i of the directory against run i of the baseline, measured
	// just before it.
	perNode, perName, fixed := make([]float64, len(scales)), make([]float64, len(scales)), make([]float64, len(scales))
	for i := range scales {
		perName[i] = (grow(scales[i]) - grow(procs[i])) / nodes
		fixed[i] = (float64(scales[i].HeapBefore) - float64(procs[i].HeapBefore)) / nodes
		perNode[i] = perName[i] + fixed[i]
	}
	procBytes := spread(procs, func(r result) float64 { return grow(r) / float64(p.n) })
	verdict := "n/a at this size"
	if p.n >= goalHeapNames && p.nodes == 10 {
		verdict = met(median(perNode) <= goalHeapPerNode)
	}
	fmt.Printf("| directory heap per node, %s names on %d nodes, 1 replica | %s | processes alone: %s B each | goal <= %s: %s |\n",
		count(p.n), p.nodes, rangeOf(perNode, mb), procBytes.show(func(x float64) string { return fmt.Sprintf("%.0f", x) }), mb(goalHeapPerNode), verdict)
	fmt.Printf("| of which for the names (heap growth minus the processes') | %s | - | %s B per name (both copies) |\n",
		rangeOf(perName, mb), rangeOf(perName, func(x float64) string { return fmt.Sprintf("%.0f", x*nodes/float64(p.n)) }))
	fmt.Printf("| of which fixed (empty registry: partitions, endpoints, links) | %s | - | - |\n", rangeOf(fixed, mb))
	atSync := make([]float64, len(scales))
	for i := range scales {
		atSync[i] = (float64(scales[i].HeapSettled) - float64(procs[i].HeapAfter)) / nodes
	}
	fmt.Printf("| same total, measured as soon as synced (before the quiet %v) | %s | - | - |\n", quietWindow, rangeOf(atSync, mb))
	if p.n < goalHeapNames {
		ext := make([]float64, len(perNode))
		for i := range perNode {
			ext[i] = perName[i]*goalHeapNames/float64(p.n) + fixed[i]
		}
		fmt.Printf("| EXTRAPOLATED to %s names (names part linear in names; not measured) | %s | - | goal <= %s |\n",
			count(goalHeapNames), rangeOf(ext, mb), mb(goalHeapPerNode))
	}
	reg := spread(scales, func(r result) float64 { return r.PerSecond })
	settled := spread(scales, func(r result) float64 { return r.SettledPerSecond })
	fmt.Printf("| registrations on %d nodes from random nodes, %d at a time (until every node synced) | %s /s (%s /s) | - | no goal set |\n",
		p.nodes, p.workers, reg.show(report.Human), settled.show(report.Human))
	join := spread(scales, func(r result) float64 { return r.JoinSeconds })
	share := spread(scales, func(r result) float64 { return float64(r.JoinLocal) })
	moved := spread(scales, func(r result) float64 { return float64(r.JoinMoved) })
	fmt.Printf("| node %d joins and takes its share: every node synced, each name run by its primary | %s | - | goal < %.0f s: %s |\n",
		p.nodes+1, join.show(func(x float64) string { return fmt.Sprintf("%.2f s", x) }), goalJoin, met(join.med < goalJoin))
	fmt.Printf("| processes the new node then runs (1/%d = %s) | %s | - | moved with their state: %s; with a wrong one: %s |\n",
		p.nodes+1, count(p.n/(p.nodes+1)), share.show(countF), moved.show(countF),
		spread(scales, func(r result) float64 { return float64(r.JoinWrongState) }).show(countF))
	listed := spread(scales, func(r result) float64 { return float64(r.Listed) })
	fmt.Printf("| names the new node lists (Registered) after the join | %s of %s | - | listed twice: %s; unknown: %s |\n",
		listed.show(countF), count(p.n),
		spread(scales, func(r result) float64 { return float64(r.ListedTwice) }).show(countF),
		spread(scales, func(r result) float64 { return float64(r.ListedUnknown) }).show(countF))
	local := spread(scales, func(r result) float64 { return r.LocalLookups })
	plain := spread(scales, func(r result) float64 { return r.MapLookups })
	ratios := make([]float64, len(scales))
	for i, r := range scales {
		ratios[i] = r.LocalLookups / r.MapLookups
	}
	fmt.Printf("| Whereis answered by the primary asked, %d goroutines (%s lookups) | %s /s | plain map: %s /s | %s of the map; goal >= %s /s: %s |\n",
		runtime.GOMAXPROCS(0), count(p.lookups), local.show(report.Human), plain.show(report.Human),
		rangeOf(ratios, func(x float64) string { return fmt.Sprintf("%.3fx", x) }), report.Human(goalLookups), met(local.med >= goalLookups))
	hop := spread(scales, func(r result) float64 { return r.HopLookups })
	wide := spread(scales, func(r result) float64 { return r.HopLookupsWide })
	fmt.Printf("| Whereis one hop away (primary on another node), %d goroutines (%s lookups) | %s /s | - | no goal set |\n",
		runtime.GOMAXPROCS(0), count(p.hops), hop.show(report.Human))
	fmt.Printf("| same, %d goroutines | %s /s | - | no goal set |\n", p.hopWorkers, wide.show(report.Human))
	fmt.Printf("| goroutines in the %d-node child once settled | %s | - | - |\n", p.nodes,
		spread(scales, func(r result) float64 { return float64(r.Goroutines) }).show(countF))
	fmt.Printf("| CPU of the settled %d-node child while idle, over %v | %s cores | - | - |\n", p.nodes, quietWindow,
		spread(scales, func(r result) float64 { return r.IdleCores }).show(func(x float64) string { return fmt.Sprintf("%.2f", x) }))
}

func printRegistrations(p params, regs []result, olds []oldResult) {
	reg := spread(regs, func(r result) float64 { return r.PerSecond })
	settled := spread(regs, func(r result) float64 { return r.SettledPerSecond })
	if len(olds) == 0 {
		fmt.Printf("| registrations on 3 nodes from random nodes (%s names, %d at a time) | %s /s | (no -old) | - |\n",
			count(p.regN), p.regWorkers, reg.show(report.Human))
		fmt.Printf("| same, until every node synced | %s /s | (no -old) | - |\n", settled.show(report.Human))
		return
	}
	oldReg := make([]float64, len(olds))
	oldRepl := make([]float64, len(olds))
	ratio, ratioSettled := make([]float64, len(olds)), make([]float64, len(olds))
	for i, o := range olds {
		oldReg[i], oldRepl[i] = o.PerSecond, o.ReplicatedPerSecond
		ratio[i] = regs[i].PerSecond / o.PerSecond
		ratioSettled[i] = regs[i].SettledPerSecond / o.ReplicatedPerSecond
	}
	x := func(v float64) string { return fmt.Sprintf("%.2fx", v) }
	fmt.Printf("| registrations on 3 nodes from random nodes (%s names, %d at a time) | %s /s | before issue 10: %s /s | %s; goal >= %.0fx: %s |\n",
		count(p.regN), p.regWorkers, reg.show(report.Human), rangeOf(oldReg, report.Human), rangeOf(ratio, x), goalRegRatio, met(median(ratio) >= goalRegRatio))
	fmt.Printf("| same, until every node is synced (v2) / holds every name (before) | %s /s | before issue 10: %s /s | %s |\n",
		settled.show(report.Human), rangeOf(oldRepl, report.Human), rangeOf(ratioSettled, x))
	printCeiling(p, regs, olds)
}

// printCeiling prints the bare calls the registrations' cluster makes,
// and what the goal asks against it.
func printCeiling(p params, regs []result, olds []oldResult) {
	calls := spread(regs, func(r result) float64 { return r.CallCeiling })
	if calls.med == 0 {
		return
	}
	frac := spread(regs, func(r result) float64 { return r.PerSecond / r.CallCeiling })
	line := fmt.Sprintf("| ceiling: bare calls on the same 3 nodes, random node to random node (%s, %d at a time) | %s /s | - | registrations reach %s of it",
		count(p.regN), p.regWorkers, calls.show(report.Human), frac.show(func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }))
	if len(olds) > 0 {
		old := make([]float64, len(olds))
		for i, o := range olds {
			old[i] = o.PerSecond
		}
		line += fmt.Sprintf("; the goal (%.0fx before issue 10) is %.2fx this ceiling", goalRegRatio, goalRegRatio*median(old)/calls.med)
	}
	fmt.Println(line + " |")
}

// stats is the median and range of one figure over the runs.
type stats struct{ med, lo, hi float64 }

func spread[T any](rs []T, pick func(T) float64) stats {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = pick(r)
	}
	return stats{median(xs), slices.Min(xs), slices.Max(xs)}
}

// show writes "median (min-max)", or the median alone if min and max
// read the same.
func (s stats) show(f func(float64) string) string {
	if f(s.lo) == f(s.hi) {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s-%s)", f(s.med), f(s.lo), f(s.hi))
}

func rangeOf(xs []float64, f func(float64) string) string {
	return stats{median(xs), slices.Min(xs), slices.Max(xs)}.show(f)
}

func median(xs []float64) float64 { return child.Median(xs) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func countF(x float64) string { return count(int(x)) }

// count writes n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
