package dirsim

import (
	"flag"
	"fmt"
	"testing"
)

var (
	schedules = flag.Int("sim.schedules", 300, "random schedules to run")
	firstSeed = flag.Uint64("sim.first", 1, "seed of the first schedule")
	oneSeed   = flag.Uint64("sim.seed", 0, "run only this seed, with its trace")
)

// TestSimulation runs seeded schedules of faults against the directory
// and checks the invariants once they stop. A failure prints the seed and
// the command that replays it.
func TestSimulation(t *testing.T) {
	if *oneSeed != 0 {
		runSeed(t, *oneSeed, true)
		return
	}
	for i := range *schedules {
		if !runSeed(t, *firstSeed+uint64(i), false) {
			return
		}
	}
}

func runSeed(t *testing.T, seed uint64, verbose bool) bool {
	t.Helper()
	opt := DefaultOptions(seed)
	opt.Trace = verbose
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
	t.Errorf("%s\nreplay: go test ./registry/internal/dirsim -run TestSimulation -sim.seed=%d -v", msg, seed)
	return false
}
