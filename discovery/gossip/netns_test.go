package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal/internal/netnstest"

	"golang.org/x/net/ipv4"

	"github.com/shoalhq/shoal/discovery"
)

// The multicast tests must not send a packet on the host's networks: each
// scenario runs in a private network namespace whose only interface is a
// loopback (package internal/netnstest re-executes the test binary under
// `unshare --net`), with multicast on. The namespace vanishes with the
// child process, so there is nothing to clean up.
const testSourceIP = "198.18.0.1" // in 198.18.0.0/15, the range set aside for tests, on the namespace's lo

// netnsScenario is one test that runs inside the private namespace.
type netnsScenario struct {
	name string
	run  func(t *testing.T)
}

func netnsScenarios() []netnsScenario {
	return []netnsScenario{
		{"discover", scenarioDiscover},
		{"foreign_cookie", scenarioForeignCookie},
		{"stale_peer_drops_out", scenarioStalePeer},
		{"groups_are_separate", scenarioGroupsSeparate},
		{"close_stops_goroutines", scenarioCloseStopsGoroutines},
	}
}

func TestMulticastInNetns(t *testing.T) {
	if netnstest.InChild(t) {
		enterChild(t)
		for _, sc := range netnsScenarios() {
			t.Run(sc.name, sc.run)
		}
		return
	}
	for _, sc := range netnsScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			netnstest.Run(t, 3*time.Minute)
		})
	}
}

// enterChild prepares the namespace's loopback (netnstest brought it up)
// for multicast, or skips saying why.
func enterChild(t *testing.T) {
	for _, args := range [][]string{
		{"link", "set", "lo", "multicast", "on"},
		{"route", "add", "224.0.0.0/4", "dev", "lo"},
		// A global-scope address, so heartbeats get a source address as
		// on a LAN (lo's 127.0.0.1 is host-scope, never chosen for a
		// link-scope route, and the source would be 0.0.0.0).
		{"addr", "add", testSourceIP + "/24", "dev", "lo"},
	} {
		netnstest.Cmd(t, "ip", args...)
	}
}

// node is one strategy under test with its log.
type node struct {
	*Strategy
	log *logRecorder
}

// startNode starts a strategy on lo announcing self, closed at cleanup.
func startNode(t *testing.T, name string, cfg Config) node {
	t.Helper()
	rec := newLogRecorder(t, name)
	cfg.Interface = "lo"
	cfg.Logger = slog.New(rec)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("%s: Start: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	})
	return node{Strategy: s, log: rec}
}

// peers is Discover's answer, or its error as a string.
func (n node) peers() []string {
	got, err := n.Discover(context.Background())
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	return got
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s; last state: %s", what, within, state)
		}
		<-tick.C
	}
}

// converged reports whether every node lists exactly the others.
func converged(nodes map[string]node) (bool, string) {
	var state []string
	ok := true
	for self, n := range nodes {
		var want []string
		for other := range nodes {
			if other != self {
				want = append(want, other)
			}
		}
		slices.Sort(want)
		got := n.peers()
		if !slices.Equal(got, want) {
			ok = false
		}
		state = append(state, fmt.Sprintf("%s sees %v", self, got))
	}
	slices.Sort(state)
	return ok, strings.Join(state, "; ")
}

const waitLong = 30 * time.Second // generous: the machine may be busy

func scenarioDiscover(t *testing.T) {
	c := testCookie(t, "cluster")
	nodes := map[string]node{}
	for _, self := range []string{"198.18.1.1:7946", "198.18.1.2:7946", "node-3.example:7946"} {
		nodes[self] = startNode(t, self, testConfig(t, self, c))
	}
	waitFor(t, waitLong, "three nodes discover each other", func() (bool, string) { return converged(nodes) })
	for self, n := range nodes {
		n.mu.Lock()
		p := ipv4.NewPacketConn(n.run.send)
		n.mu.Unlock()
		ttl, err := p.MulticastTTL()
		if err != nil || ttl != DefaultTTL {
			t.Errorf("%s: sender multicast TTL = %d, %v; want %d", self, ttl, err, DefaultTTL)
		}
	}
}

func scenarioForeignCookie(t *testing.T) {
	c := testCookie(t, "cluster")
	a := startNode(t, "a", testConfig(t, "198.18.1.1:7946", c))
	b := startNode(t, "b", testConfig(t, "198.18.1.2:7946", c))
	f := startNode(t, "foreign", testConfig(t, "198.18.9.1:7946", testCookie(t, "another cluster")))
	leak := func() string {
		if got := f.peers(); len(got) != 0 {
			return fmt.Sprintf("the foreign node discovered %v", got)
		}
		for _, n := range []node{a, b} {
			if slices.Contains(n.peers(), "198.18.9.1:7946") {
				return fmt.Sprintf("the foreign node was discovered: %v", n.peers())
			}
		}
		return ""
	}
	waitFor(t, waitLong, "a and b discover each other, and many foreign packets are rejected", func() (bool, string) {
		if l := leak(); l != "" {
			t.Fatal(l)
		}
		ok, state := converged(map[string]node{"198.18.1.1:7946": a, "198.18.1.2:7946": b})
		da, db, df := a.dropped.Load(), b.dropped.Load(), f.dropped.Load()
		return ok && da >= 5 && db >= 5 && df >= 10, fmt.Sprintf("%s; rejected a=%d b=%d foreign=%d", state, da, db, df)
	})
	if l := leak(); l != "" {
		t.Fatal(l)
	}
	// Every node here sends from the same source IP, so each logs exactly
	// one rejection however many packets it dropped.
	for name, n := range map[string]node{"a": a, "b": b, "foreign": f} {
		if got := n.log.count(slog.LevelWarn, "rejected: it does not share our cookie"); got != 1 {
			t.Errorf("%s logged the cookie rejection %d times; want once", name, got)
		}
		if got := n.log.count(slog.LevelWarn, "multicast heartbeat from "+testSourceIP+" rejected: it does not share our cookie"); got != 1 {
			t.Errorf("%s did not name the source %s in its warning", name, testSourceIP)
		}
	}
}

func scenarioStalePeer(t *testing.T) {
	c := testCookie(t, "cluster")
	nodes := map[string]node{}
	for _, self := range []string{"198.18.1.1:7946", "198.18.1.2:7946", "198.18.1.3:7946"} {
		nodes[self] = startNode(t, self, testConfig(t, self, c))
	}
	waitFor(t, waitLong, "three nodes discover each other", func() (bool, string) { return converged(nodes) })
	if err := nodes["198.18.1.3:7946"].Close(); err != nil {
		t.Fatal(err)
	}
	delete(nodes, "198.18.1.3:7946")
	waitFor(t, waitLong, "the stopped node drops out", func() (bool, string) { return converged(nodes) })
}

func scenarioGroupsSeparate(t *testing.T) {
	c := testCookie(t, "cluster")
	spec := func(s, self string) Config {
		sp, err := discovery.ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		st, err := FromSpec(sp[0], discovery.Defaults{}, self, c)
		if err != nil {
			t.Fatal(err)
		}
		return st.cfg
	}
	// Same port, different groups: Linux would cross-deliver without
	// onlyJoinedGroups.
	g1 := map[string]node{}
	g2 := map[string]node{}
	for _, self := range []string{"198.18.1.1:7946", "198.18.1.2:7946"} {
		g1[self] = startNode(t, "g1-"+self, spec("gossip:239.255.1.1:45000?interval=100ms&if=lo&ttl=1", self))
	}
	for _, self := range []string{"198.18.2.1:7946", "198.18.2.2:7946"} {
		g2[self] = startNode(t, "g2-"+self, spec("gossip:239.255.1.2:45000?interval=100ms&if=lo", self))
	}
	waitFor(t, waitLong, "each group converges on its own, over many heartbeats", func() (bool, string) {
		ok1, s1 := converged(g1)
		ok2, s2 := converged(g2)
		enough := true
		for _, n := range []map[string]node{g1, g2} {
			for _, x := range n {
				enough = enough && x.accepted.Load() >= 10
			}
		}
		return ok1 && ok2 && enough, s1 + "; " + s2
	})
	if ok, s := converged(g1); !ok {
		t.Errorf("group 1 heard group 2: %s", s)
	}
	if ok, s := converged(g2); !ok {
		t.Errorf("group 2 heard group 1: %s", s)
	}
}

// strategyGoroutines counts the goroutines running this package's loops,
// so that goroutines of the test machinery coming and going do not count.
func strategyGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "gossip.(*Strategy).receiveLoop") + strings.Count(string(buf), "gossip.(*Strategy).sendLoop")
}

func scenarioCloseStopsGoroutines(t *testing.T) {
	baseline := strategyGoroutines()
	c := testCookie(t, "cluster")
	a := startNode(t, "a", testConfig(t, "198.18.1.1:7946", c))
	b := startNode(t, "b", testConfig(t, "198.18.1.2:7946", c))
	waitFor(t, waitLong, "two nodes discover each other", func() (bool, string) {
		return converged(map[string]node{"198.18.1.1:7946": a, "198.18.1.2:7946": b})
	})
	if err := a.Start(t.Context()); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v; want ErrStarted", err)
	}
	if n := strategyGoroutines(); n != baseline+4 {
		t.Errorf("%d strategy goroutines running, baseline %d: expected two per node", n, baseline)
	}
	for _, n := range []node{a, b} {
		if err := n.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := n.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := n.Discover(t.Context()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Discover after Close = %v; want ErrClosed", err)
		}
		if err := n.Start(t.Context()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Start after Close = %v; want ErrClosed", err)
		}
	}
	waitFor(t, 10*time.Second, "strategy goroutines return to the baseline", func() (bool, string) {
		n := strategyGoroutines()
		return n == baseline, fmt.Sprintf("%d strategy goroutines, baseline %d", n, baseline)
	})
}
