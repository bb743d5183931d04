// Command clusterbench measures Shoal across nodes on loopback, and compares
// its remote messaging with Proto.Actor-Go's remote and Hollywood's (plain,
// its default, and with TLS) on the same workloads, in the same run:
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
//   - cast16: 16 senders on A, each casting its share of -casts to a
//     process of its own on B; messages/s once every one has handled its
//     share;
//   - call: -calls sequential request/reply round trips from A to a
//     process on B, each with a 30 s deadline; round trips/s;
//   - call16: 16 callers on A, each making its share of -calls sequential
//     round trips to a process of its own on B; round trips/s;
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
// Hollywood runs in the hollywoodchild binary (-hollywood; by default the
// one beside this binary), since it and Proto.Actor-Go both register
// actor.proto with protobuf's global registry, which refuses the second
// in one binary. Each remote row also shows its limit, in the same run:
// what plain Go does over one TLS 1.3 connection on loopback (limits.go).
//
// The registry, cast and call workloads run again with metrics on
// ("shoal+metrics": package metrics on every node, observing registry
// operations and remote calls, each node's metrics read every -scrape);
// the last table shows what metrics cost.
//
// Each measurement runs in a fresh child process (this binary re-executed
// with -child, or hollywoodchild); the tables show the median of -runs
// runs, the remote rows with their range.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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

// callTimeout is each remote call's deadline, as each of Proto.Actor's
// futures has one.
const callTimeout = 30 * time.Second

// scaleSenders is the senders (callers) of the cast16 and call16 rows.
const scaleSenders = 16

// awaitAll waits until every channel of dones is closed, for at most
// waitLimit in all; late(i) is the error when dones[i] is not.
func awaitAll(dones []chan struct{}, late func(i int) error) error {
	timeout := time.NewTimer(waitLimit)
	defer timeout.Stop()
	for i, done := range dones {
		select {
		case <-done:
		case <-timeout.C:
			return late(i)
		}
	}
	return nil
}

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
	hollywood := flag.String("hollywood", "", "the hollywoodchild binary (default: beside this one)")
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
	if *hollywood == "" {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "clusterbench: find own binary:", err)
			os.Exit(1)
		}
		*hollywood = filepath.Join(filepath.Dir(self), "hollywoodchild")
	}
	if _, err := os.Stat(*hollywood); err != nil {
		fmt.Fprintf(os.Stderr, "clusterbench: Hollywood runs in a binary of its own: build it with `go build -o %s ./cmd/hollywoodchild` in bench/ (or give -hollywood): %v\n", *hollywood, err)
		os.Exit(1)
	}
	if err := compare(p, *runs, *hollywood); err != nil {
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
		return shoalCast(p, 1)
	case "shoal:cast16":
		return shoalCast(p, scaleSenders)
	case "shoal:call":
		return shoalCall(p, 1)
	case "shoal:call16":
		return shoalCall(p, scaleSenders)
	case "protoactor:cast":
		return protoCast(p, 1)
	case "protoactor:cast16":
		return protoCast(p, scaleSenders)
	case "protoactor:call":
		return protoCall(p, 1)
	case "protoactor:call16":
		return protoCall(p, scaleSenders)
	case "tls:cast":
		return tlsCast(p, 1)
	case "tls:cast16":
		return tlsCast(p, limitSenders)
	case "tls:call":
		return tlsCall(p)
	case "tls:call16":
		return tlsCall16(p)
	}
	return result{}, fmt.Errorf("unknown measurement %q", spec)
}

// runChild runs one measurement in a fresh process: Hollywood's
// ("hollywood:cast" and the like) in the hollywoodchild binary hollywood,
// as its workload "remotecast", every other in this binary.
func runChild(spec string, p params, hollywood string) (result, error) {
	sys, workload, _ := strings.Cut(spec, ":")
	if sys == "hollywood" || sys == "hollywoodtls" {
		return child.RunBinary[result](hollywood, sys+":remote"+workload, p.args()...)
	}
	return child.Run[result](spec, p.args()...)
}

func median(xs []float64) float64 { return child.Median(xs) }

// The systems of the remote rows, by column: Shoal, the peers, the limit.
var (
	remoteSystems = []string{"shoal", "protoactor", "hollywood", "hollywoodtls", "tls"}
	peerNames     = []string{"", "Proto.Actor", "Hollywood", "Hollywood (TLS)", ""}
)

func compare(p params, runs int, hollywood string) error {
	var specs []string
	specs = append(specs, "shoal:registry", "shoal+metrics:registry")
	for _, w := range []string{"cast", "cast16", "call", "call16"} {
		for _, sys := range remoteSystems {
			specs = append(specs, sys+":"+w)
			if sys == "shoal" && (w == "cast" || w == "call") {
				specs = append(specs, "shoal+metrics:"+w)
			}
		}
	}
	specs = append(specs, "shoal:handoff")
	results := map[string][]result{}
	for run := range runs {
		for _, spec := range specs {
			res, err := runChild(spec, p, hollywood)
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

	ho := med("shoal:handoff", func(r result) float64 { return r.Seconds })
	moved := int(med("shoal:handoff", func(r result) float64 { return float64(r.Moved) }))
	verdict := "n/a at this size"
	if moved >= goalHandoffProcesses {
		verdict = met(ho < goalHandoff)
	}
	fmt.Printf("| graceful leave: drain %s processes with state to 2 survivors | %.2f s | - | goal < %.0f s for %s: %s |\n",
		count(moved), ho, goalHandoff, count(goalHandoffProcesses), verdict)

	// stat is a system's median on a remote row and its range.
	stat := func(sys, workload, unit string) (float64, string) {
		var xs []float64
		for _, r := range results[sys+":"+workload] {
			xs = append(xs, r.PerSecond)
		}
		return report.Spread(xs, unit)
	}
	fmt.Printf("\nRemote messaging, A to B on loopback, median (min-max) of %d runs, beside the machine's limit: one TLS 1.3 connection in plain Go (28-byte frames)\n\n", runs)
	fmt.Println("| workload | Shoal | Proto.Actor-Go | Hollywood | Hollywood (TLS) | Shoal / best peer | the limit | Shoal / limit |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range []struct{ name, workload, unit, limitUnit string }{
		{fmt.Sprintf("remote one-way messages, 1 sender to 1 process (%s msgs)", count(p.casts)), "cast", "msg/s", "frames/s"},
		{fmt.Sprintf("remote one-way messages, %d senders each to its own process (%s msgs)", scaleSenders, count(p.casts)), "cast16", "msg/s", "frames/s"},
		{fmt.Sprintf("remote call round trips, sequential (%s calls)", count(p.calls)), "call", "/s", "/s"},
		{fmt.Sprintf("remote call round trips, %d callers each to its own process (%s calls)", scaleSenders, count(p.calls)), "call16", "/s", "/s"},
	} {
		cells := make([]string, len(remoteSystems))
		meds := make([]float64, len(remoteSystems))
		for i, sys := range remoteSystems {
			unit := r.unit
			if sys == "tls" {
				unit = r.limitUnit
			}
			meds[i], cells[i] = stat(sys, r.workload, unit)
		}
		shoal, limit := meds[0], meds[len(meds)-1]
		best := 1 // the best peer's column
		for i := 2; i < len(meds)-1; i++ {
			if meds[i] > meds[best] {
				best = i
			}
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s vs %s | %s | %.0f%% |\n",
			r.name, cells[0], cells[1], cells[2], cells[3], ratio(shoal, meds[best]), peerNames[best], cells[4], 100*shoal/limit)
	}
	fmt.Printf("\nThe limits: 1 sender, frames written through one buffered writer and counted by the reader; %[1]d senders, the same writer under a mutex, each frame written by one of %[1]d goroutines; 1 caller, a ping-pong of one frame; %[1]d callers, %[1]d goroutines each with one frame in flight (written under a mutex, flushed by the last of those waiting for it), the server flushing its echoes when it has read all it has, one client reader handing each echo to its goroutine.\n", scaleSenders)
	fmt.Println("\nProto.Actor-Go (gRPC) and Hollywood (DRPC over TCP) run without encryption by default; Shoal's links are always TLS 1.3, as are Hollywood (TLS)'s and the limit's.")
	sc, pc := med("shoal:cast", perSecond), med("protoactor:cast", perSecond)
	sk, pk := med("shoal:call", perSecond), med("protoactor:call", perSecond)
	fmt.Printf("\nGoals of issue 4: remote one-way messages (1 sender) >= %s msg/s and faster than Proto.Actor: %s; remote calls (sequential) faster than Proto.Actor: %s.\n",
		human(goalCasts), met(sc >= goalCasts && sc > pc), met(sk > pk))

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
