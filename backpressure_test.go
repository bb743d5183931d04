package shoal_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/process"
)

// slow handles 1,000 casts a second.
type slow struct{ handled *atomic.Int64 }

func (s slow) HandleCall(context.Context, process.Self, any) (any, error) {
	return s.handled.Load(), nil
}
func (s slow) HandleCast(context.Context, process.Self, any) {
	time.Sleep(time.Millisecond)
	s.handled.Add(1)
}
func (s slow) HandleInfo(context.Context, process.Self, any) {}

// heapBound is what the test allows the heap of both nodes (one
// process) to hold above what it held before the flood: the receiver's
// mailbox (at most twice its 1,000 messages), the sender's queue to the
// other node (at most twice remote.Config.MaxQueue, 16 MiB, while a batch
// is written), the links' buffers, and the garbage between two
// collections.
const heapBound = 96 << 20

// TestBackpressureBoundsMemory: a sender casting as fast as it can to a
// process on another node that handles 1,000 messages a second (a
// bounded mailbox of 1,000) keeps the heap under heapBound for 30 s
// (SHOAL_FLOOD_SECONDS; 5 with -short). Without bounds the mailbox took
// every message the link carried.
func TestBackpressureBoundsMemory(t *testing.T) {
	seconds := 30
	if testing.Short() {
		seconds = 5
	}
	if v, err := strconv.Atoi(os.Getenv("SHOAL_FLOOD_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second+time.Minute)
	defer cancel()
	var handled atomic.Int64
	nodes := startNodes(t, ctx, "b", 2, func(_ int, cfg *shoal.Config) {
		cfg.Kinds = process.NewKinds()
		_ = cfg.Kinds.RegisterWith("slow", func([]byte) (process.Behavior, error) { return slow{&handled}, nil }, process.KindOptions{
			Mailbox: process.MailboxOptions{Size: 1000},
		})
		cfg.CodecCheck = shoal.CodecCheckNever
	})
	p, err := nodes[1].Runtime().Spawn(ctx, process.Spec{Kind: "slow"}, process.SpawnOptions{Name: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	ref := p.Ref()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stop := make(chan struct{})
	var sent, failed atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		payload := make([]byte, 64)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := nodes[0].Runtime().Cast(ref, payload); err != nil {
				failed.Add(1)
			} else {
				sent.Add(1)
			}
		}
	}()
	var peak uint64
	end := time.Now().Add(time.Duration(seconds) * time.Second)
	for time.Now().Before(end) {
		time.Sleep(200 * time.Millisecond) // sampling period
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		if ms.HeapAlloc > base+heapBound {
			close(stop)
			<-done
			t.Fatalf("heap %d MiB above the %d MiB before the flood, past the %d MiB bound (sent %d, handled %d)",
				(ms.HeapAlloc-base)>>20, base>>20, heapBound>>20, sent.Load(), handled.Load())
		}
	}
	close(stop)
	<-done
	refused := uint64(0)
	for _, ps := range nodes[1].Remote().Peers() {
		refused += ps.Refused
	}
	t.Logf("%d s: sent %d casts (%d failed: queue full), handled %d, refused %d (mailbox full); heap peak %d MiB above %d MiB (bound %d MiB)",
		seconds, sent.Load(), failed.Load(), handled.Load(), refused, (peak-min(peak, base))>>20, base>>20, heapBound>>20)
	if handled.Load() == 0 || sent.Load() < int64(seconds)*1000 {
		t.Fatalf("the flood did not flow: sent %d, handled %d", sent.Load(), handled.Load())
	}
}
