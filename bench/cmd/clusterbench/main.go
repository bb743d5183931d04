// Command clusterbench measures Shoal across nodes on loopback, and compares
// its remote messaging with Proto.Actor-Go's remote on the same workloads,
// in the same run:
//
//   - registry: -n registrations of a trivial kind on a 3-node cluster,
//     issued from random nodes by -workers goroutines; registrations/s when
//     the last Register returns, and when every node is synced (each name
//     served by its primary, which runs its process, and copied to its
//     replica); then -lookups concurrent Whereis of random names on random
//     nodes (answered by the node if it is the name's primary, else by one
//     hop to the primary);
//   - cast: one sender on node A casts -casts messages to one process on
//     node B; messages/s once the receiver has handled the last one;
//   - call: -calls sequential request/reply round trips from A to a
//     process on B; round trips/s;
//   - handoff: at least -handoff named processes on one node of a 3-node
//     cluster (names are registered there until that many have their
//     primary on it, with about twice as many on the others), each with
//     state; the time that node's registry takes
//     to drain (hand every process, with its state, to the survivors), then
//     a check that the survivors hold every name and every state arrived.
//
// Proto.Actor has no cluster-wide registry in this comparison, so the
// registry and handoff rows show the goal instead of a ratio.
//
// The registry, cast and call workloads run again with metrics on
// ("shoal+metrics": package metrics on every node, observing registry
// operations and remote calls, each node's metrics read every -scrape),
// in a second table of what metrics cost.
//
// Each measurement runs in a fresh child process (this binary re-executed
// with -child); the table shows the median of -runs runs.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shoalhq/shoal/bench/internal/child"
	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/bench/internal/report"
)

// result is what one child measurement reports.
type result struct {
	// PerSecond is registrations/s (Register returned), messages/s or
	// round trips/s.
	PerSecond float64 `json:"per_second,omitempty"`
	// ReplicatedPerSecond is registrations/s until every node was synced.
	ReplicatedPerSecond float64 `json:"replicated_per_second,omitempty"`
	// LookupsPerSecond is Whereis/s.
	LookupsPerSecond float64 `json:"lookups_per_second,omitempty"`
	// Seconds is the time the leaving node took to drain.
	Seconds float64 `json:"seconds,omitempty"`
	// Moved counts the processes that were on the leaving node.
	Moved int `json:"moved,omitempty"`
}

// params are the sizes every child gets.
type params struct {
	n, workers, lookups, casts, calls, handoff int
	seed                                       uint64
	scrape                                     time.Duration
	metrics                                    bool // shoal+metrics
}

func (p params) args() []string {
	return []string{
		"-n", strconv.Itoa(p.n), "-workers", strconv.Itoa(p.workers),
		"-lookups", strconv.Itoa(p.lookups), "-casts", strconv.Itoa(p.casts),
		"-calls", strconv.Itoa(p.calls), "-handoff", strconv.Itoa(p.handoff),
		"-seed", strconv.FormatUint(p.seed, 10), "-scrape", p.scrape.String(),
	}
}

// Goals set by issue 4.
const (
	goalRegistrations    = 50_000  // registrations/s cluster-wide
	goalCasts            = 500_000 // remote one-way messages/s
	goalHandoff          = 5.0     // seconds to hand off ...
	goalHandoffProcesses = 100_000 // ... this many processes
)

// waitLimit bounds every wait of a measurement (a message that never
// arrives, replicas that never converge).
const waitLimit = 5 * time.Minute

func main() {
	child := flag.String("child", "", "internal: run one measurement, system:workload")
	var p params
	flag.IntVar(&p.n, "n", 100_000, "names to register in the registry workload")
	flag.IntVar(&p.workers, "workers", 64, "concurrent registrars and lookers-up")
	flag.IntVar(&p.lookups, "lookups", 2_000_000, "Whereis calls in the registry workload")
	flag.IntVar(&p.casts, "casts", 2_000_000, "remote messages in the cast workload")
	flag.IntVar(&p.calls, "calls", 100_000, "sequential remote round trips in the call workload")
	flag.IntVar(&p.handoff, "handoff", 100_000, "processes on the leaving node in the handoff workload")
	flag.Uint64Var(&p.seed, "seed", 1, "seed of the random choices of nodes and names")
	runs := flag.Int("runs", 3, "runs of each measurement (median reported)")
	cpuprofile := flag.String("cpuprofile", "", "with -child: write the child's CPU profile to this file")
	flag.DurationVar(&p.scrape, "scrape", time.Second, "how often shoal+metrics reads each node's metrics")
	flag.Parse()
	if p.n < 1 || p.workers < 1 || p.lookups < 1 || p.casts < 1 || p.calls < 1 || p.handoff < 1 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "clusterbench: every size and -runs must be at least 1")
		os.Exit(2)
	}
	if *child != "" {
		if *cpuprofile != "" {
			stop, err := harness.StartProfile(*cpuprofile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "clusterbench:", err)
				os.Exit(1)
			}
			defer stop()
		}
		res, err := measure(*child, p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s (seed %d): %v\n", *child, p.seed, err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if err := compare(p, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

func measure(spec string, p params) (result, error) {
	if rest, ok := strings.CutPrefix(spec, "shoal+metrics:"); ok {
		spec, p.metrics = "shoal:"+rest, true
	}
	switch spec {
	case "shoal:registry":
		return shoalRegistry(p)
	case "shoal:handoff":
		return shoalHandoff(p)
	case "shoal:cast":
		return shoalCast(p)
	case "shoal:call":
		return shoalCall(p)
	case "protoactor:cast":
		return protoCast(p)
	case "protoactor:call":
		return protoCall(p)
	case "tls:cast":
		return tlsCast(p)
	case "tls:call":
		return tlsCall(p)
	}
	return result{}, fmt.Errorf("unknown measurement %q", spec)
}

func runChild(spec string, p params) (result, error) {
	return child.Run[result](spec, p.args()...)
}

func median(xs []float64) float64 { return child.Median(xs) }

func compare(p params, runs int) error {
	specs := []string{"shoal:registry", "shoal+metrics:registry", "shoal:cast", "shoal+metrics:cast", "protoactor:cast", "tls:cast",
		"shoal:call", "shoal+metrics:call", "protoactor:call", "tls:call", "shoal:handoff"}
	results := map[string][]result{}
	for run := range runs {
		for _, spec := range specs {
			res, err := runChild(spec, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "run %d %s %+v\n", run+1, spec, res)
			results[spec] = append(results[spec], res)
		}
	}
	med := func(spec string, pick func(result) float64) float64 {
		var xs []float64
		for _, r := range results[spec] {
			xs = append(xs, pick(r))
		}
		return median(xs)
	}
	perSecond := func(r result) float64 { return r.PerSecond }
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}

	fmt.Printf("GOMAXPROCS=%d, %s, seed %d, median of %d runs, each in a fresh process; loopback only\n\n",
		runtime.GOMAXPROCS(0), runtime.Version(), p.seed, runs)
	fmt.Println("| workload | Shoal | Proto.Actor-Go | Shoal / Proto.Actor, or goal |")
	fmt.Println("|---|---:|---:|---:|")

	reg := med("shoal:registry", perSecond)
	fmt.Printf("| registrations, 3 nodes, from random nodes (%s names, %d workers) | %s /s | - | goal >= %s /s: %s |\n",
		count(p.n), p.workers, human(reg), human(goalRegistrations), met(reg >= goalRegistrations))
	repl := med("shoal:registry", func(r result) float64 { return r.ReplicatedPerSecond })
	fmt.Printf("| same, until every node is synced (names on primary and replica) | %s /s | - | goal >= %s /s: %s |\n",
		human(repl), human(goalRegistrations), met(repl >= goalRegistrations))
	look := med("shoal:registry", func(r result) float64 { return r.LookupsPerSecond })
	fmt.Printf("| whereis, random names on random nodes (%s lookups, %d workers) | %s /s | - | no goal set |\n",
		count(p.lookups), p.workers, human(look))

	sc, pc := med("shoal:cast", perSecond), med("protoactor:cast", perSecond)
	fmt.Printf("| remote one-way messages, A to one process on B (%s msgs) | %s msg/s | %s msg/s | %s; goal >= %s msg/s: %s |\n",
		count(p.casts), human(sc), human(pc), ratio(sc, pc), human(goalCasts), met(sc >= goalCasts && sc > pc))
	sk, pk := med("shoal:call", perSecond), med("protoactor:call", perSecond)
	fmt.Printf("| remote call round trips, sequential (%s calls) | %s /s | %s /s | %s; goal > Proto.Actor: %s |\n",
		count(p.calls), human(sk), human(pk), ratio(sk, pk), met(sk > pk))

	ho := med("shoal:handoff", func(r result) float64 { return r.Seconds })
	moved := int(med("shoal:handoff", func(r result) float64 { return float64(r.Moved) }))
	verdict := "n/a at this size"
	if moved >= goalHandoffProcesses {
		verdict = met(ho < goalHandoff)
	}
	fmt.Printf("| graceful leave: drain %s processes with state to 2 survivors | %.2f s | - | goal < %.0f s for %s: %s |\n",
		count(moved), ho, goalHandoff, count(goalHandoffProcesses), verdict)

	lc, lk := med("tls:cast", perSecond), med("tls:call", perSecond)
	fmt.Printf("\nThe machine's limits, same run: one TLS 1.3 connection on loopback, plain Go (28-byte frames)\n\n")
	fmt.Println("| workload | Shoal | the limit | Shoal / limit |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| remote one-way messages against frames written through a buffered writer | %s msg/s | %s frames/s | %.0f%% |\n", human(sc), human(lc), 100*sc/lc)
	fmt.Printf("| remote call round trips against a ping-pong of one frame | %s /s | %s /s | %.0f%% |\n", human(sk), human(lk), 100*sk/lk)

	fmt.Printf("\nWhat metrics cost (package metrics on every node, read every %v; goal: within 5%%)\n\n", p.scrape)
	fmt.Println("| workload | Shoal | Shoal with metrics | with / without |")
	fmt.Println("|---|---:|---:|---:|")
	for _, r := range []struct {
		name, workload string
		pick           func(result) float64
	}{
		{"registrations, 3 nodes", "registry", perSecond},
		{"whereis, random names on random nodes", "registry", func(r result) float64 { return r.LookupsPerSecond }},
		{"remote one-way messages", "cast", perSecond},
		{"remote call round trips", "call", perSecond},
	} {
		off, on := med("shoal:"+r.workload, r.pick), med("shoal+metrics:"+r.workload, r.pick)
		fmt.Printf("| %s | %s /s | %s /s | %.3fx |\n", r.name, human(off), human(on), on/off)
	}
	return nil
}

func ratio(shoal, peer float64) string {
	r := shoal / peer
	verdict := "better"
	if r < 1 {
		verdict = "worse"
	}
	return fmt.Sprintf("%.2fx (%s)", r, verdict)
}

func human(x float64) string { return report.Human(x) }

// count writes n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
