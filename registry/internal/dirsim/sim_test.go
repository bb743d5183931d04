package dirsim

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

var (
	schedules = flag.Int("sim.schedules", 300, "random schedules to run")
	firstSeed = flag.Uint64("sim.first", 1, "seed of the first schedule")
	oneSeed   = flag.Uint64("sim.seed", 0, "run only this seed, with its trace")
	keepGoing = flag.Bool("sim.keepgoing", false, "run every schedule, reporting each that fails")
	strict    = flag.Bool("sim.strict", true, "fail any process that holds one state twice, however it came to (false: only a loser merged twice into one process)")
	ckpts     = flag.Bool("sim.checkpoints", true, "let half the schedules write to processes that checkpoint their state (false: none does)")
)

// TestSimulation runs seeded schedules of faults against the directory
// and checks the invariants once they stop. A failure prints the seed and
// the command that replays it. Schedules run on every core; each is a
// pure function of its seed, so the order they run in changes nothing.
func TestSimulation(t *testing.T) {
	if *oneSeed != 0 {
		runSeed(t, *oneSeed, true)
		return
	}
	var next, failed atomic.Uint64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= uint64(*schedules) || (failed.Load() > 0 && !*keepGoing) {
					return
				}
				if !runSeed(t, *firstSeed+i, false) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
}

func runSeed(t *testing.T, seed uint64, verbose bool) bool {
	t.Helper()
	opt := DefaultOptions(seed)
	opt.Trace, opt.Strict = verbose, *strict
	opt.Checkpoints = opt.Checkpoints && *ckpts
	s := New(opt)
	fails := s.Run()
	if verbose {
		t.Log(s.Trace())
	}
	if len(fails) == 0 {
		return true
	}
	msg := fmt.Sprintf("seed %d (%+v) failed:", seed, opt)
	for i, f := range fails {
		if i == 10 {
			msg += fmt.Sprintf("\n  ... and %d more", len(fails)-10)
			break
		}
		msg += "\n  " + f
	}
	flags := ""
	if !*strict {
		flags = " -sim.strict=false"
	}
	if !*ckpts {
		flags += " -sim.checkpoints=false"
	}
	t.Errorf("%s\nreplay: go test ./registry/internal/dirsim -run TestSimulation -sim.seed=%d%s -v", msg, seed, flags)
	return false
}
