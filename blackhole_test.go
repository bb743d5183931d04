package shoal_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/internal/netnstest"
	"github.com/shoalhq/shoal/process"
)

// TestStopWithBlackholedPeer: in a private network namespace, the packets
// to one node of two are dropped (iptables) while the other floods it
// with casts until its writer is stuck and its queue full; a graceful
// Stop of the sender still returns within its budget (drain, leave and
// shutdown, 2 s each). The writer used to sit in its write forever, and
// Stop with it.
func TestStopWithBlackholedPeer(t *testing.T) {
	if !netnstest.InChild(t) {
		netnstest.Run(t, 2*time.Minute)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var handled atomic.Int64
	const budget = 2 * time.Second
	nodes := startNodes(t, ctx, "h", 2, func(_ int, cfg *shoal.Config) {
		cfg.Kinds = process.NewKinds()
		_ = cfg.Kinds.Register("slow", func([]byte) (process.Behavior, error) { return slow{&handled}, nil })
		cfg.DrainTimeout, cfg.LeaveTimeout, cfg.ShutdownTimeout = budget, budget, budget
		cfg.CodecCheck = shoal.CodecCheckNever
	})
	sender, peer := nodes[0], nodes[1]
	for i := range 20 { // processes the sender must try to hand over
		if _, err := sender.Register(ctx, "h-"+string(rune('a'+i)), process.Spec{Kind: "slow"}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := peer.Runtime().Spawn(ctx, process.Spec{Kind: "slow"}, process.SpawnOptions{Name: "sink"})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{peer.Address(), peer.Cluster().LinkAddr()} {
		_, port, _ := net.SplitHostPort(addr)
		for _, proto := range []string{"tcp", "udp"} {
			netnstest.Cmd(t, "iptables", "-A", "INPUT", "-p", proto, "--dport", port, "-j", "DROP")
		}
	}
	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		payload := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if sender.Runtime().Cast(p.Ref(), payload) == nil {
				sent.Add(1)
			}
		}
	}()
	// Wait until the casts stall: the writer is stuck, the queue full.
	deadline := time.Now().Add(30 * time.Second)
	for last := int64(-1); ; {
		time.Sleep(300 * time.Millisecond) // polling period
		now := sent.Load()
		if now == last {
			break
		}
		last = now
		if time.Now().After(deadline) {
			t.Fatalf("the casts never stalled (%d sent)", now)
		}
	}
	start := time.Now()
	err = sender.Stop(context.Background())
	took := time.Since(start)
	close(stop)
	<-done
	t.Logf("%d casts went out before the queue filled; Stop took %v (%v)", sent.Load(), took.Round(time.Millisecond), err)
	if limit := 3*budget + time.Second; took > limit {
		t.Fatalf("Stop took %v with a peer whose packets are dropped, past its budget (%v)", took, limit)
	}
}
