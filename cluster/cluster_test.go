package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/static"
	"github.com/shoalhq/shoal/transport"
)

const secret = "cluster-test-cookie-0123456789"

// testLog sends a node's logs to t.Log and keeps them for assertions.
type testLog struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
	all  strings.Builder
}

func newTestLog(t *testing.T) *testLog {
	l := &testLog{t: t}
	t.Cleanup(func() { l.mu.Lock(); l.done = true; l.mu.Unlock() })
	return l
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	if !l.done && testing.Verbose() {
		l.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

type node struct {
	*cluster.Cluster
	log *testLog
}

func start(t *testing.T, name, secret string, mutate func(*cluster.Config)) *node {
	t.Helper()
	c, err := cookie.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	lg := newTestLog(t)
	cfg := cluster.LoopbackConfig(name, c)
	cfg.Logger = slog.New(slog.NewTextHandler(lg, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if mutate != nil {
		mutate(&cfg)
	}
	cl, err := cluster.New(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.Shutdown(ctx); err != nil {
			t.Errorf("shutdown %s: %v", name, err)
		}
	})
	return &node{Cluster: cl, log: lg}
}

func staticTo(t *testing.T, addrs ...string) []discovery.Strategy {
	t.Helper()
	s, err := static.New(addrs, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return []discovery.Strategy{s}
}

var waitFor = clustertest.Eventually

func alive(n *node) int {
	k := 0
	for _, m := range n.Members() {
		if m.Status == cluster.StatusAlive {
			k++
		}
	}
	return k
}

func startCluster(t *testing.T, size int) []*node {
	t.Helper()
	seed := start(t, "n0@127.0.0.1", secret, nil)
	nodes := []*node{seed}
	for i := 1; i < size; i++ {
		nodes = append(nodes, start(t, fmt.Sprintf("n%d@127.0.0.1", i), secret, func(c *cluster.Config) {
			c.Strategies = staticTo(t, seed.Address())
		}))
	}
	waitFor(t, 20*time.Second, fmt.Sprintf("%d nodes to converge", size), func() bool {
		for _, n := range nodes {
			if alive(n) != size {
				return false
			}
		}
		return true
	})
	return nodes
}

func TestFiveNodesConvergeAndDetectFailure(t *testing.T) {
	nodes := startCluster(t, 5)
	for _, n := range nodes {
		if got := len(n.Nodes()); got != 4 {
			t.Fatalf("%s sees %d other nodes; want 4", n.Name(), got)
		}
	}
	subs := make([]cluster.Subscription, 0, 4)
	for _, n := range nodes[:4] {
		subs = append(subs, n.Subscribe())
	}
	victim := nodes[4]
	killed := time.Now()
	if err := victim.Shutdown(context.Background()); err != nil { // no leave: a crash
		t.Fatal(err)
	}
	// Until it is declared dead, the node that probed it lists it as suspect.
	var sawSuspect atomic.Bool
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			for _, n := range nodes[:4] {
				for _, m := range n.Members() {
					if m.Name == victim.Name() && m.Status == cluster.StatusSuspect {
						sawSuspect.Store(true)
					}
				}
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	const limit = 5 * time.Second
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() {
			timeout := time.After(limit + time.Second)
			for {
				select {
				case ev := <-s.Events():
					if ev.Member.Name != victim.Name() {
						continue
					}
					if ev.Type != cluster.EventDown {
						t.Errorf("%s: event %v for the killed node; want down", nodes[i].Name(), ev.Type)
						return
					}
					if took := ev.At.Sub(killed); took > limit {
						t.Errorf("%s noticed the crash after %v; want within %v", nodes[i].Name(), took, limit)
					} else {
						t.Logf("%s noticed the crash after %v", nodes[i].Name(), took.Round(time.Millisecond))
					}
					return
				case <-timeout:
					t.Errorf("%s never reported %s down", nodes[i].Name(), victim.Name())
					return
				}
			}
		})
	}
	wg.Wait()
	close(stopWatch)
	<-watched
	if !sawSuspect.Load() {
		t.Error("no survivor ever listed the crashed node as suspect")
	}
	for _, n := range nodes[:4] {
		var st cluster.Status
		for _, m := range n.Members() {
			if m.Name == victim.Name() {
				st = m.Status
			}
		}
		if st != cluster.StatusDead {
			t.Fatalf("%s lists the killed node as %q; want dead", n.Name(), st)
		}
	}
}

func TestGracefulLeaveIsReportedLeft(t *testing.T) {
	nodes := startCluster(t, 3)
	subs := []cluster.Subscription{nodes[0].Subscribe(), nodes[1].Subscribe()}
	for _, s := range subs {
		defer s.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := nodes[2].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	// Leave waits for every member to answer its notice, so each of them
	// knew the node was leaving before memberlist said it was gone.
	if strings.Contains(nodes[2].log.String(), "leaving notice unanswered") {
		t.Errorf("a member did not answer the leaving notice:\n%s", nodes[2].log.String())
	}
	timeout := time.After(10 * time.Second)
	for i, s := range subs {
	wait:
		for {
			select {
			case ev := <-s.Events():
				if ev.Member.Name != nodes[2].Name() {
					continue
				}
				if ev.Type != cluster.EventLeft {
					t.Fatalf("%s: event %v; want left", nodes[i].Name(), ev.Type)
				}
				for _, m := range nodes[i].Members() {
					if m.Name == nodes[2].Name() && m.Status != cluster.StatusLeft {
						t.Fatalf("%s: status %q; want left", nodes[i].Name(), m.Status)
					}
				}
				break wait
			case <-timeout:
				t.Fatalf("%s: leave never reported", nodes[i].Name())
			}
		}
	}
	if err := nodes[2].Leave(ctx); err != nil {
		t.Fatalf("second leave: %v", err)
	}
}

// A member that cannot answer the leaving notice holds Leave up for a
// bounded time only, and the leaver says which member it was.
func TestLeaveDoesNotWaitForeverForAnswers(t *testing.T) {
	var mute atomic.Value // the address node 1 no longer sends to
	mute.Store("")
	nodes := []*node{start(t, "n0@127.0.0.1", secret, nil)}
	nodes = append(nodes, start(t, "n1@127.0.0.1", secret, func(c *cluster.Config) {
		c.Strategies = staticTo(t, nodes[0].Address())
		c.Drop = func(addr string) bool { return addr == mute.Load().(string) }
	}))
	nodes = append(nodes, start(t, "n2@127.0.0.1", secret, func(c *cluster.Config) {
		c.Strategies = staticTo(t, nodes[0].Address())
	}))
	waitFor(t, 20*time.Second, "3 nodes to converge", func() bool {
		return alive(nodes[0]) == 3 && alive(nodes[1]) == 3 && alive(nodes[2]) == 3
	})
	mute.Store(nodes[2].Address())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := nodes[2].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 4*time.Second {
		t.Errorf("Leave took %v with one member silent; want under 4s", took)
	}
	var line string
	for _, l := range strings.Split(nodes[2].log.String(), "\n") {
		if strings.Contains(l, "leaving notice unanswered") {
			line = l
		}
	}
	if !strings.Contains(line, nodes[1].Name()) || strings.Contains(line, nodes[0].Name()) {
		t.Errorf("the leaver's warning %q should name %s only", line, nodes[1].Name())
	}
}

func TestWrongCookieCannotJoin(t *testing.T) {
	nodes := startCluster(t, 2)
	intruder := start(t, "intruder@127.0.0.1", "some-other-cookie-entirely!!", func(c *cluster.Config) {
		c.Strategies = staticTo(t, nodes[0].Address())
		c.CookieHint = "check MY_COOKIE"
	})
	// The intruder is told why, in one clear line (with its own hint of
	// where the cookie is set; the library names no variable of its own),
	// and keeps trying quietly.
	waitFor(t, 10*time.Second, "intruder to log the cookie mismatch", func() bool {
		return strings.Contains(intruder.log.String(), "does not share our cookie (check MY_COOKIE)")
	})
	waitFor(t, 10*time.Second, "good node to log the rejected gossip", func() bool {
		return strings.Contains(nodes[0].log.String(), "rejected: it does not share our cookie")
	})
	if strings.Contains(nodes[0].log.String(), "SHOAL_COOKIE") {
		t.Errorf("the library names cmd/houseparty's variable:\n%s", nodes[0].log.String())
	}
	// Give it more discovery rounds (200ms each); nothing may change.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if len(intruder.Members()) != 1 {
			t.Fatalf("intruder sees %v", intruder.Members())
		}
		for _, n := range nodes {
			for _, m := range n.Members() {
				if m.Name == "intruder@127.0.0.1" {
					t.Fatalf("%s lists the intruder", n.Name())
				}
			}
		}
		time.Sleep(50 * time.Millisecond) // observation period
	}
	if n := strings.Count(intruder.log.String(), "does not share our cookie"); n != 1 {
		t.Fatalf("mismatch logged %d times; want once\n%s", n, intruder.log.String())
	}
	if _, err := intruder.Join(context.Background(), []string{nodes[0].Address()}); !errors.Is(err, transport.ErrCookieMismatch) {
		t.Fatalf("explicit join = %v; want ErrCookieMismatch", err)
	}
	// Good nodes go on.
	if alive(nodes[0]) != 2 || alive(nodes[1]) != 2 {
		t.Fatal("good nodes lost each other")
	}
}

func TestLinksBetweenMembers(t *testing.T) {
	got := make(chan string, 1)
	a := start(t, "a@127.0.0.1", secret, nil)
	b := start(t, "b@127.0.0.1", secret, func(c *cluster.Config) {
		c.Strategies = staticTo(t, a.Address())
		c.OnLink = func(l *transport.Link) {
			f, err := l.Recv()
			if err == nil {
				got <- l.Peer() + ":" + string(f)
			}
		}
	})
	waitFor(t, 10*time.Second, "a and b to meet", func() bool { return alive(a) == 2 && alive(b) == 2 })
	m, err := a.Member(b.Name())
	if err != nil || m.LinkAddress != b.LinkAddr() {
		t.Fatalf("member b = %+v, %v; want link address %s", m, err, b.LinkAddr())
	}
	l, err := a.DialLink(context.Background(), b.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "a@127.0.0.1:hi" {
			t.Fatalf("b got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("link frame never arrived")
	}
	if _, err := a.DialLink(context.Background(), "nobody@127.0.0.1"); !errors.Is(err, cluster.ErrUnknownMember) {
		t.Fatalf("dial unknown = %v", err)
	}
}

// flaky fails its first rounds, then finds its peer.
type flaky struct {
	calls atomic.Int64
	fails int64
	peer  string
}

func (f *flaky) Name() string            { return "flaky" }
func (f *flaky) Interval() time.Duration { return 100 * time.Millisecond }
func (f *flaky) Discover(context.Context) ([]string, error) {
	if f.calls.Add(1) <= f.fails {
		return nil, errors.New("dns is down")
	}
	return []string{f.peer}, nil
}

func TestFailingStrategyLogsOnceAndRecovers(t *testing.T) {
	a := start(t, "a@127.0.0.1", secret, nil)
	f := &flaky{fails: 4, peer: a.Address()}
	b := start(t, "b@127.0.0.1", secret, func(c *cluster.Config) { c.Strategies = []discovery.Strategy{f} })
	waitFor(t, 20*time.Second, "b to join after the strategy recovers", func() bool { return alive(b) == 2 })
	logs := b.log.String()
	if n := strings.Count(logs, "discovery failed"); n != 1 {
		t.Fatalf("failure logged %d times; want once\n%s", n, logs)
	}
	if !strings.Contains(logs, "discovery recovered") {
		t.Fatalf("recovery not logged\n%s", logs)
	}
	if got := b.Discovered()["flaky"]; len(got) != 1 || got[0] != a.Address() {
		t.Fatalf("discovered = %v", got)
	}
}

func TestNoCookieRunsAlone(t *testing.T) {
	lg := newTestLog(t)
	cfg := cluster.LoopbackConfig("alone@127.0.0.1", cookie.Random())
	cfg.Logger = slog.New(slog.NewTextHandler(lg, nil))
	other := start(t, "other@127.0.0.1", secret, nil)
	cfg.Strategies = staticTo(t, other.Address())
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	if !strings.Contains(lg.String(), "running as a single node") || !strings.Contains(lg.String(), "discovery disabled") {
		t.Fatalf("single-node mode not announced:\n%s", lg.String())
	}
	if len(c.Members()) != 1 {
		t.Fatalf("members = %v", c.Members())
	}
}

func TestConfigValidation(t *testing.T) {
	c, _ := cookie.Parse(secret)
	for name, mut := range map[string]func(*cluster.Config){
		"name":      func(cfg *cluster.Config) { cfg.Name = "" },
		"bind":      func(cfg *cluster.Config) { cfg.BindAddr = "localhost" },
		"port":      func(cfg *cluster.Config) { cfg.BindPort = 70000 },
		"cookie":    func(cfg *cluster.Config) { cfg.Cookie = cookie.Cookie{} },
		"advertise": func(cfg *cluster.Config) { cfg.AdvertiseAddr = "nope" },
	} {
		cfg := cluster.LoopbackConfig("x@127.0.0.1", c)
		mut(&cfg)
		if err := cfg.Validate(); !errors.Is(err, cluster.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestRestartInPlaceIsDownThenUp kills a node and starts it again at once
// with the same name and address (a container restarted in place: the
// pod IP stays). Failure detection may never see it go, but it is a new
// incarnation and what the old one ran is gone: every other node must
// report the old incarnation down, then the new one up.
func TestRestartInPlaceIsDownThenUp(t *testing.T) {
	nodes := startCluster(t, 3)
	victim := nodes[2]
	name, addr, oldInc := victim.Name(), victim.Address(), victim.Incarnation()
	_, portText, _ := strings.Cut(addr, ":")
	var port int
	if _, err := fmt.Sscan(portText, &port); err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	subs := []cluster.Subscription{nodes[0].Subscribe(), nodes[1].Subscribe()}
	for _, s := range subs {
		defer s.Close()
	}
	if err := victim.Shutdown(context.Background()); err != nil { // a crash: no leave
		t.Fatal(err)
	}
	restarted := start(t, name, secret, func(c *cluster.Config) {
		c.BindPort = port
		c.Strategies = staticTo(t, nodes[0].Address())
	})
	if restarted.Incarnation() == oldInc || restarted.Incarnation() == 0 {
		t.Fatalf("restarted with incarnation %x; want a new, non-zero one (old %x)", restarted.Incarnation(), oldInc)
	}
	for i, s := range subs {
		var got []string
		deadline := time.After(15 * time.Second)
		for len(got) < 2 {
			select {
			case ev := <-s.Events():
				if ev.Member.Name != name || ev.Type == cluster.EventUpdate {
					continue
				}
				got = append(got, fmt.Sprintf("%v %x", ev.Type, ev.Member.Incarnation))
			case <-deadline:
				t.Fatalf("%s saw %v for the restarted node; want down (old), then up (new)", nodes[i].Name(), got)
			}
		}
		want := []string{fmt.Sprintf("%v %x", cluster.EventDown, oldInc), fmt.Sprintf("%v %x", cluster.EventUp, restarted.Incarnation())}
		if got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("%s saw %v; want %v", nodes[i].Name(), got, want)
		}
	}
	waitFor(t, 10*time.Second, "every node to list the new incarnation", func() bool {
		for _, n := range nodes[:2] {
			m, err := n.Member(name)
			if err != nil || m.Incarnation != restarted.Incarnation() {
				return false
			}
		}
		return true
	})
}

// TestRefutedSuspicionClearsAtOnce: a member this node suspected (a probe
// went unanswered) that refutes the suspicion and answers the next probe is
// listed alive again at once, not for a fixed window after the failed probe
// (a member still listed suspect long after a heal held make e2e's heal
// check for ~10 s).
func TestRefutedSuspicionClearsAtOnce(t *testing.T) {
	var cut atomic.Bool
	var target atomic.Value // membership address of b, set once b runs
	target.Store("")
	a := start(t, "a@127.0.0.1", secret, func(c *cluster.Config) {
		c.Drop = func(addr string) bool { return cut.Load() && addr == target.Load().(string) }
	})
	b := start(t, "b@127.0.0.1", secret, func(c *cluster.Config) {
		c.Strategies = staticTo(t, a.Address())
	})
	target.Store(b.Address())
	waitFor(t, 20*time.Second, "two nodes to converge", func() bool { return alive(a) == 2 && alive(b) == 2 })
	sub := a.Subscribe()
	defer sub.Close()

	status := func() cluster.Status {
		for _, m := range a.Members() {
			if m.Name == b.Name() {
				return m.Status
			}
		}
		return ""
	}
	// a's probes of b (and its fallback over TCP) are lost: a suspects b.
	// With two members there is no one to ask for an indirect probe.
	cut.Store(true)
	waitFor(t, 10*time.Second, "a to suspect b", func() bool { return status() == cluster.StatusSuspect })
	cut.Store(false)
	healed := time.Now()
	// b hears the suspicion (gossip a queued while cut), refutes it, and
	// answers a's next probe, every 400 ms with two members.
	const within = 2 * time.Second
	waitFor(t, 10*time.Second, "a to list b alive again", func() bool { return status() == cluster.StatusAlive })
	took := time.Since(healed)
drain:
	for {
		select {
		case ev := <-sub.Events():
			if ev.Member.Name == b.Name() {
				t.Fatalf("a reported %v for b: the suspicion was not refuted, the test proves nothing", ev.Type)
			}
		default:
			break drain
		}
	}
	if took > within {
		t.Fatalf("a listed b suspect for %v after b answered again; want within %v", took.Round(time.Millisecond), within)
	}
	t.Logf("a listed b alive again %v after the link came back", took.Round(time.Millisecond))
}

// A clean leave logs no error or warning (memberlist's goroutines failing
// on its closed sockets while it stops are expected), and nothing at all
// once Leave has returned, in a second of watching.
func TestCleanLeaveIsQuiet(t *testing.T) {
	nodes := startCluster(t, 3)
	leaver := nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leaver.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	after := leaver.log.String()
	for _, line := range strings.Split(after, "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
			t.Errorf("a clean leave logged: %s", line)
		}
	}
	time.Sleep(time.Second) // a window of watching, not synchronisation
	if more := strings.TrimPrefix(leaver.log.String(), after); more != "" {
		t.Errorf("logged after Leave returned:\n%s", more)
	}
}

// A node without OnLink closes the links others open to it and says so,
// once per peer, naming the missing setting (the dialer only saw its
// writes fail).
func TestNoOnLinkIsNamed(t *testing.T) {
	a := start(t, "a@127.0.0.1", secret, nil)
	b := start(t, "b@127.0.0.1", secret, func(c *cluster.Config) { c.Strategies = staticTo(t, a.Address()) })
	waitFor(t, 10*time.Second, "a and b to meet", func() bool { return alive(a) == 2 && alive(b) == 2 })
	const want = "link from a@127.0.0.1 closed: this node takes no messages (cluster.Config.OnLink is nil"
	for range 2 {
		l, err := a.DialLink(context.Background(), b.Name())
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "b to say why it closed the link", func() bool { return strings.Contains(b.log.String(), want) })
		l.Close()
	}
	if n := strings.Count(b.log.String(), want); n != 1 {
		t.Fatalf("said %d times for one peer, want once:\n%s", n, b.log.String())
	}
}
