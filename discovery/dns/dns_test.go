package dns_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/internal/syncbuf"

	mdns "github.com/miekg/dns"

	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/dns"
)

// discover runs one Discover with a generous deadline.
func discover(t *testing.T, s discovery.Strategy) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Discover(ctx)
}

// expect checks that Discover returns exactly want.
func expect(t *testing.T, s discovery.Strategy, want ...string) {
	t.Helper()
	got, err := discover(t, s)
	if err != nil {
		t.Fatalf("%s: Discover: %v", s.Name(), err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: Discover = %q; want %q", s.Name(), got, want)
	}
}

// expectErr checks that Discover fails with an error matching target and
// naming the strategy's name and server.
func expectErr(t *testing.T, s discovery.Strategy, target error, mentions ...string) error {
	t.Helper()
	got, err := discover(t, s)
	if err == nil {
		t.Fatalf("%s: Discover = %q, nil; want error", s.Name(), got)
	}
	if got != nil {
		t.Errorf("%s: Discover returned %q with its error", s.Name(), got)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("%s: Discover error %v; want one wrapping %v", s.Name(), err, target)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not mention %q", s.Name(), err, m)
		}
	}
	return err
}

func newA(t *testing.T, cfg dns.AConfig) *dns.A {
	t.Helper()
	a, err := dns.NewA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newSRV(t *testing.T, cfg dns.SRVConfig) *dns.SRV {
	t.Helper()
	s, err := dns.NewSRV(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goResolver is a system-style resolver whose queries all go to addr.
func goResolver(addr string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

func TestAFollowsScaling(t *testing.T) {
	z := &zone{}
	z.set(t,
		"hp.test. 0 IN A 10.0.0.2",
		"hp.test. 0 IN A 10.0.0.1",
		"hp.test. 0 IN A 10.0.0.1", // duplicate
		"other.test. 0 IN A 10.9.9.9",
	)
	addr := startServer(t, z)
	a := newA(t, dns.AConfig{Name: "hp.test", Port: 7946, Server: addr})
	if a.Name() != "dns:hp.test:7946" || a.Interval() != discovery.DefaultInterval {
		t.Fatalf("Name %q Interval %v", a.Name(), a.Interval())
	}

	expect(t, a, "10.0.0.1:7946", "10.0.0.2:7946")

	// Scale up to three pods, one of them dual-stack.
	z.set(t,
		"hp.test. 0 IN A 10.0.0.1",
		"hp.test. 0 IN A 10.0.0.2",
		"hp.test. 0 IN A 10.0.0.3",
		"hp.test. 0 IN AAAA fd00::3",
	)
	expect(t, a, "10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946", "[fd00::3]:7946")

	// Scale down to one.
	z.set(t, "hp.test. 0 IN A 10.0.0.2")
	expect(t, a, "10.0.0.2:7946")

	// Scale to zero: the headless service's name is gone.
	z.set(t)
	expectErr(t, a, dns.ErrNoRecords, a.Name(), addr, "NXDOMAIN")

	// And back.
	z.set(t, "HP.test. 0 IN A 10.0.0.4")
	expect(t, a, "10.0.0.4:7946")
}

func TestSRVFollowsScaling(t *testing.T) {
	for _, extra := range []bool{true, false} {
		t.Run(fmt.Sprintf("additional=%v", extra), func(t *testing.T) {
			z := &zone{}
			z.setNoExtra(!extra)
			z.set(t,
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-1.hp.test.",
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-2.hp.test.",
				"pod-1.hp.test. 0 IN A 10.0.0.1",
				"pod-2.hp.test. 0 IN A 10.0.0.2",
			)
			addr := startServer(t, z)
			s := newSRV(t, dns.SRVConfig{Name: "_cluster._tcp.hp.test", Server: addr, Interval: time.Second})
			if s.Name() != "dnssrv:_cluster._tcp.hp.test" || s.Interval() != time.Second {
				t.Fatalf("Name %q Interval %v", s.Name(), s.Interval())
			}

			expect(t, s, "10.0.0.1:7946", "10.0.0.2:7946")

			// Scale up; the new pod is dual-stack and on another port,
			// and pod-2 is listed twice (two ports).
			z.set(t,
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-1.hp.test.",
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-2.hp.test.",
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7947 pod-2.hp.test.",
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7948 pod-3.hp.test.",
				"pod-1.hp.test. 0 IN A 10.0.0.1",
				"pod-2.hp.test. 0 IN A 10.0.0.2",
				"pod-3.hp.test. 0 IN A 10.0.0.3",
				"pod-3.hp.test. 0 IN AAAA fd00::3",
			)
			expect(t, s, "10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.2:7947", "10.0.0.3:7948", "[fd00::3]:7948")

			// Scale down to one.
			z.set(t,
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-2.hp.test.",
				"pod-2.hp.test. 0 IN A 10.0.0.2",
			)
			expect(t, s, "10.0.0.2:7946")

			// A target that does not resolve is skipped.
			z.set(t,
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-2.hp.test.",
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 gone.hp.test.",
				"pod-2.hp.test. 0 IN A 10.0.0.2",
			)
			expect(t, s, "10.0.0.2:7946")

			// No target resolves.
			z.set(t, "_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 gone.hp.test.")
			expectErr(t, s, dns.ErrNoRecords, s.Name(), addr)

			// The service says it is unavailable (target ".").
			z.set(t, "_cluster._tcp.hp.test. 0 IN SRV 0 0 0 .")
			expectErr(t, s, dns.ErrNoRecords, s.Name(), addr)

			// Scale to zero.
			z.set(t)
			expectErr(t, s, dns.ErrNoRecords, s.Name(), addr, "NXDOMAIN")
		})
	}
}

func TestNoData(t *testing.T) {
	z := &zone{}
	z.set(t,
		`hp.test. 0 IN TXT "not an address"`,
		"_cluster._tcp.hp.test. 0 IN A 10.0.0.1",
	)
	addr := startServer(t, z)
	a := newA(t, dns.AConfig{Name: "hp.test", Port: 7946, Server: addr})
	expectErr(t, a, dns.ErrNoRecords, "hp.test", addr)
	s := newSRV(t, dns.SRVConfig{Name: "_cluster._tcp.hp.test", Server: addr})
	expectErr(t, s, dns.ErrNoRecords, "_cluster._tcp.hp.test", addr)
}

func TestCNAMEFollowed(t *testing.T) {
	z := &zone{}
	z.set(t,
		"alias.test. 0 IN CNAME hp.test.",
		"hp.test. 0 IN A 10.0.0.1",
		"hp.test. 0 IN AAAA fd00::1",
		"loop.test. 0 IN CNAME loop2.test.",
		"loop2.test. 0 IN CNAME loop.test.",
		"far.test. 0 IN CNAME f1.test.",
		"f1.test. 0 IN CNAME f2.test.",
		"f2.test. 0 IN CNAME f3.test.",
		"f3.test. 0 IN CNAME f4.test.",
		"f4.test. 0 IN CNAME f5.test.",
		"f5.test. 0 IN CNAME f6.test.",
		"f6.test. 0 IN CNAME f7.test.",
		"f7.test. 0 IN CNAME f8.test.",
		"f8.test. 0 IN CNAME f9.test.",
		"f9.test. 0 IN A 10.0.0.9",
	)
	addr := startServer(t, z)
	expect(t, newA(t, dns.AConfig{Name: "alias.test", Port: 1, Server: addr}), "10.0.0.1:1", "[fd00::1]:1")
	for _, name := range []string{"loop.test", "far.test"} {
		err := expectErr(t, newA(t, dns.AConfig{Name: name, Port: 1, Server: addr}), nil, name, "CNAME chain")
		if errors.Is(err, dns.ErrNoRecords) {
			t.Errorf("%s: over-long CNAME chain reported as no records: %v", name, err)
		}
	}
}

func TestServerErrors(t *testing.T) {
	for _, rc := range []int{mdns.RcodeServerFailure, mdns.RcodeRefused} {
		t.Run(mdns.RcodeToString[rc], func(t *testing.T) {
			z := &zone{}
			z.set(t,
				"hp.test. 0 IN A 10.0.0.1",
				"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 hp.test.",
			)
			z.setRcode(rc)
			addr := startServer(t, z)
			a := newA(t, dns.AConfig{Name: "hp.test", Port: 7946, Server: addr})
			s := newSRV(t, dns.SRVConfig{Name: "_cluster._tcp.hp.test", Server: addr})
			for _, st := range []discovery.Strategy{a, s} {
				err := expectErr(t, st, dns.ErrResponse, st.Name(), addr, mdns.RcodeToString[rc])
				if errors.Is(err, dns.ErrNoRecords) {
					t.Errorf("%s: server failure reported as no records: %v", st.Name(), err)
				}
			}

			// The server recovers.
			z.setRcode(0)
			expect(t, a, "10.0.0.1:7946")
			expect(t, s, "10.0.0.1:7946")
		})
	}
}

func TestSilentServerHonoursDeadline(t *testing.T) {
	silent := startSilent(t)
	a := newA(t, dns.AConfig{Name: "hp.test", Port: 7946, Server: silent.addr, QueryTimeout: time.Hour})
	s := newSRV(t, dns.SRVConfig{Name: "_cluster._tcp.hp.test", Server: silent.addr, QueryTimeout: time.Hour})
	for _, st := range []discovery.Strategy{a, s} {
		const deadline = 300 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		start := time.Now()
		got, err := st.Discover(ctx)
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Fatalf("%s: Discover = %q, nil; want error", st.Name(), got)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: error %v; want context.DeadlineExceeded", st.Name(), err)
		}
		if !strings.Contains(err.Error(), silent.addr) || !strings.Contains(err.Error(), "hp.test") {
			t.Errorf("%s: error %q does not name the name and server", st.Name(), err)
		}
		// The query timeout is an hour: only ctx can have ended it. The
		// slack allows for a loaded machine.
		if took > deadline+10*time.Second {
			t.Errorf("%s: Discover took %v with a %v deadline", st.Name(), took, deadline)
		}
	}
	if silent.packets.Load() == 0 {
		t.Error("the silent server received no query")
	}
}

func TestSilentServerHonoursCancel(t *testing.T) {
	silent := startSilent(t)
	a := newA(t, dns.AConfig{Name: "hp.test", Port: 7946, Server: silent.addr, QueryTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		addrs []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		addrs, err := a.Discover(ctx)
		done <- result{addrs, err}
	}()
	waitFor(t, "queries to reach the silent server", func() bool { return silent.packets.Load() >= 2 })
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("Discover = %q, %v; want context.Canceled", r.addrs, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Discover ignored cancellation")
	}
}

func TestQueryTimeout(t *testing.T) {
	silent := startSilent(t)
	a := newA(t, dns.AConfig{Name: "hp.test", Port: 7946, Server: silent.addr, QueryTimeout: 200 * time.Millisecond})
	err := expectErr(t, a, nil, a.Name(), silent.addr)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("error %v; want a timeout", err)
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	z := &zone{}
	var records, want []string
	for i := range 300 {
		ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		records = append(records, "big.test. 0 IN A "+ip)
		want = append(want, ip+":7946")
	}
	slices.Sort(want)
	z.set(t, records...)
	addr := startServer(t, z)
	expect(t, newA(t, dns.AConfig{Name: "big.test", Port: 7946, Server: addr}), want...)
	if z.tcpQueries.Load() == 0 {
		t.Fatal("a 300-record answer did not go over TCP")
	}
}

func TestSystemResolver(t *testing.T) {
	z := &zone{}
	z.set(t,
		"hp.test. 0 IN A 10.0.0.1",
		"hp.test. 0 IN A 10.0.0.2",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-1.hp.test.",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-2.hp.test.",
		"pod-1.hp.test. 0 IN A 10.0.0.1",
		"pod-2.hp.test. 0 IN A 10.0.0.2",
	)
	addr := startServer(t, z)
	r := goResolver(addr)
	// Rooted names, so the machine's search domains do not apply.
	a := newA(t, dns.AConfig{Name: "hp.test.", Port: 7946, Resolver: r})
	s := newSRV(t, dns.SRVConfig{Name: "_cluster._tcp.hp.test.", Resolver: r})

	expect(t, a, "10.0.0.1:7946", "10.0.0.2:7946")
	expect(t, s, "10.0.0.1:7946", "10.0.0.2:7946")

	z.set(t,
		"hp.test. 0 IN A 10.0.0.1",
		"hp.test. 0 IN A 10.0.0.2",
		"hp.test. 0 IN AAAA fd00::3",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-1.hp.test.",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-2.hp.test.",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7947 pod-3.hp.test.",
		"pod-1.hp.test. 0 IN A 10.0.0.1",
		"pod-2.hp.test. 0 IN A 10.0.0.2",
		"pod-3.hp.test. 0 IN AAAA fd00::3",
	)
	expect(t, a, "10.0.0.1:7946", "10.0.0.2:7946", "[fd00::3]:7946")
	expect(t, s, "10.0.0.1:7946", "10.0.0.2:7946", "[fd00::3]:7947")

	z.set(t,
		"hp.test. 0 IN A 10.0.0.2",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-2.hp.test.",
		"pod-2.hp.test. 0 IN A 10.0.0.2",
	)
	expect(t, a, "10.0.0.2:7946")
	expect(t, s, "10.0.0.2:7946")

	z.set(t)
	expectErr(t, a, dns.ErrNoRecords, a.Name(), "system resolver")
	expectErr(t, s, dns.ErrNoRecords, s.Name(), "system resolver")

	z.set(t, `hp.test. 0 IN TXT "x"`, `_cluster._tcp.hp.test. 0 IN TXT "x"`)
	expectErr(t, a, dns.ErrNoRecords)
	expectErr(t, s, dns.ErrNoRecords)

	z.setRcode(mdns.RcodeServerFailure)
	for _, st := range []discovery.Strategy{a, s} {
		if err := expectErr(t, st, nil, st.Name(), "system resolver"); errors.Is(err, dns.ErrNoRecords) {
			t.Errorf("%s: SERVFAIL reported as no records: %v", st.Name(), err)
		}
	}
}

func TestConcurrentDiscover(t *testing.T) {
	z := &zone{}
	z.set(t,
		"hp.test. 0 IN A 10.0.0.1",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 hp.test.",
	)
	addr := startServer(t, z)
	a := newA(t, dns.AConfig{Name: "hp.test", Port: 7946, Server: addr})
	s := newSRV(t, dns.SRVConfig{Name: "_cluster._tcp.hp.test", Server: addr})
	var wg sync.WaitGroup
	for i := range 8 {
		st := discovery.Strategy(a)
		if i%2 == 1 {
			st = s
		}
		wg.Go(func() {
			for range 20 {
				got, err := discover(t, st)
				if err != nil || !slices.Equal(got, []string{"10.0.0.1:7946"}) {
					t.Errorf("%s: Discover = %q, %v", st.Name(), got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// syncBuffer is a buffer loggers may write to concurrently.
type syncBuffer = syncbuf.Buffer

func TestPartialFailureReturnsWhatResolved(t *testing.T) {
	z := &zone{}
	z.setNoExtra(true)
	z.set(t,
		"hp.test. 0 IN A 10.0.0.1",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-1.hp.test.",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-2.hp.test.",
		"_cluster._tcp.hp.test. 0 IN SRV 0 50 7946 pod-3.hp.test.",
		"pod-1.hp.test. 0 IN A 10.0.0.1",
		"pod-2.hp.test. 0 IN A 10.0.0.2",
		"pod-3.hp.test. 0 IN A 10.0.0.3",
	)
	addr := startServer(t, z)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	a := newA(t, dns.AConfig{Name: "hp.test", Port: 7946, Server: addr, Logger: logger})
	s := newSRV(t, dns.SRVConfig{Name: "_cluster._tcp.hp.test", Server: addr, Logger: logger})

	// A name without AAAA records is normal: no warning.
	expect(t, a, "10.0.0.1:7946")
	expect(t, s, "10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946")
	if l := logs.String(); l != "" {
		t.Fatalf("warnings for a healthy zone:\n%s", l)
	}

	// AAAA fails, A answers: the A addresses, and a warning.
	z.fail("hp.test", mdns.TypeAAAA)
	expect(t, a, "10.0.0.1:7946")
	if l := logs.String(); !strings.Contains(l, "SERVFAIL") || !strings.Contains(l, "strategy=dns:hp.test:7946") {
		t.Fatalf("no warning naming the failure and the strategy:\n%s", l)
	}

	// One SRV target fails entirely, another half: the rest, and warnings.
	z.fail("pod-2.hp.test", mdns.TypeA)
	z.fail("pod-2.hp.test", mdns.TypeAAAA)
	z.fail("pod-3.hp.test", mdns.TypeAAAA)
	expect(t, s, "10.0.0.1:7946", "10.0.0.3:7946")
	if l := logs.String(); !strings.Contains(l, "pod-2.hp.test") || !strings.Contains(l, "pod-3.hp.test") {
		t.Fatalf("no warnings naming the failed targets:\n%s", l)
	}

	// Every target fails: a failure, not "no records".
	z.fail("pod-1.hp.test", mdns.TypeA)
	z.fail("pod-3.hp.test", mdns.TypeA)
	err := expectErr(t, s, dns.ErrResponse, s.Name(), addr, "SERVFAIL")
	if errors.Is(err, dns.ErrNoRecords) {
		t.Fatalf("failed targets reported as no records: %v", err)
	}
}
