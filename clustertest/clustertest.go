// Package clustertest starts in-process Shoal nodes on loopback for tests,
// each started by the front door (shoal.Start) as a real node is, with
// faults: netsplits (Partition, Heal), lost links (CutLinks), crashes
// (Kill), restarts at the same address (Restart). It takes a T, which
// *testing.T is and a program outside go test can be. Nodes stop
// through t.Cleanup; Kill stops one early, without leaving, as a crash.
package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/metrics"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
	"github.com/shoalhq/shoal/remote"
)

// T is what the harness needs of its caller: *testing.T and *testing.B
// are ones, and a program outside go test (a benchmark, a soak) can give
// its own. Fatal and Fatalf must not return (end the goroutine or panic);
// Cleanup's functions run when the caller is done, last first.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(f func())
}

var _ T = (testing.TB)(nil)

// DefaultSecret is the cookie nodes share unless Options say otherwise.
const DefaultSecret = "clustertest-shared-cookie-0123"

// Options shape a node.
type Options struct {
	// Secret is the cookie; empty means DefaultSecret.
	Secret string
	// Kinds is the node's kind table; nil means an empty one. Give each
	// node its own table.
	Kinds func() *process.Kinds
	// Codec builds the node's codec; nil means codec.New. The registry
	// adds its types to it.
	Codec func(T) *codec.Codec
	// GossipPort and LinkPort, if not 0, are the node's membership and
	// link ports on 127.0.0.1 (Restart uses the old node's).
	GossipPort, LinkPort int
	// NoRegistry starts the node without a registry (shoal.WithoutRegistry):
	// processes reached by ref only, and no registry traffic between nodes.
	NoRegistry bool
	// Replicas and Quorum are the registry's (registry Config).
	Replicas, Quorum int
	// Partitions is the directory's partition count; 0 means 256 (tests
	// under the race detector run faster than with the registry's 1,024).
	Partitions int
	// Metrics gives the node its metrics (package metrics), watching its
	// parts and observing its registry operations and remote calls.
	Metrics bool
}

// logger returns a logger to stderr when SHOAL_TEST_LOG is set (to read
// what nodes did in a failing test), else nil (discard). Its level is
// debug, or what SHOAL_TEST_LOG names: trace (the directory's decisions
// too), info or warn.
func logger(name string) *slog.Logger {
	level := slog.LevelDebug
	switch os.Getenv("SHOAL_TEST_LOG") {
	case "":
		return nil
	case "trace":
		level = slog.LevelDebug - 4
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	if sub := os.Getenv("SHOAL_TEST_LOG_GREP"); sub != "" {
		h = grepHandler{h, sub}
	}
	return slog.New(h) // Shoal adds the node to its lines
}

// grepHandler keeps the records whose message contains sub
// (SHOAL_TEST_LOG_GREP: follow one name or partition in a trace).
type grepHandler struct {
	slog.Handler
	sub string
}

func (g grepHandler) Handle(ctx context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, g.sub) {
		return nil
	}
	return g.Handler.Handle(ctx, r)
}

func (g grepHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return grepHandler{g.Handler.WithAttrs(as), g.sub}
}

func (g grepHandler) WithGroup(name string) slog.Handler {
	return grepHandler{g.Handler.WithGroup(name), g.sub}
}

// Node is one in-process node, started by the front door (shoal.Start);
// its parts are there for tests that reach below it.
type Node struct {
	Name     string
	Node     *shoal.Node
	Runtime  *process.Runtime
	Remote   *remote.Remote
	Cluster  *cluster.Cluster
	Registry *registry.Registry              // nil with Options.NoRegistry
	Metrics  *metrics.Metrics                // nil unless Options.Metrics
	cut      atomic.Pointer[map[string]bool] // addresses traffic to is dropped
}

// Start starts a node called name; join, if not empty, is the membership
// address of a node to join.
func Start(t T, name, join string, o Options) *Node {
	t.Helper()
	secret := o.Secret
	if secret == "" {
		secret = DefaultSecret
	}
	cfg := shoal.Config{
		Name:       name,
		Secret:     secret,
		Port:       o.GossipPort,
		LinkPort:   o.LinkPort,
		Logger:     logger(name),
		Replicas:   o.Replicas,
		Quorum:     o.Quorum,
		Partitions: 256,
		// Tests bound a graceful stop with their context.
		DrainTimeout:    time.Hour,
		ShutdownTimeout: 10 * time.Second,
	}
	if o.Partitions > 0 {
		cfg.Partitions = o.Partitions
	}
	if o.Codec != nil {
		cfg.Codec = o.Codec(t)
	}
	if o.Kinds != nil {
		cfg.Kinds = o.Kinds()
	}
	if join != "" {
		cfg.Join = []string{join}
	}
	n := &Node{Name: name}
	opts := []shoal.Option{shoal.DropTraffic(func(addr string) bool {
		cut := n.cut.Load()
		return cut != nil && (*cut)[addr]
	})}
	if o.NoRegistry {
		opts = append(opts, shoal.WithoutRegistry())
	}
	if o.Metrics {
		var err error
		if n.Metrics, err = metrics.New(name); err != nil {
			t.Fatal(err)
		}
		opts = append(opts, shoal.ObserveCalls(n.Metrics.ObserveCall), shoal.ObserveOps(n.Metrics.ObserveOp))
	}
	node, err := shoal.Start(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Kill)
	n.Node, n.Runtime, n.Remote, n.Cluster, n.Registry = node, node.Runtime(), node.Remote(), node.Cluster(), node.Registry()
	if n.Metrics != nil {
		if err := n.Metrics.Watch(metrics.Sources{Members: n.Cluster, Runtime: n.Runtime, Registry: n.Registry, Remote: n.Remote}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// StartCluster starts size nodes named n0@127.0.0.1 ... and waits until
// every node sees every other.
func StartCluster(t T, size int, o Options) []*Node {
	t.Helper()
	first := Start(t, "n0@127.0.0.1", "", o)
	nodes := []*Node{first}
	for i := 1; i < size; i++ {
		nodes = append(nodes, Start(t, fmt.Sprintf("n%d@127.0.0.1", i), first.Cluster.Address(), o))
	}
	Eventually(t, 20*time.Second, "membership to converge", func() bool {
		for _, n := range nodes {
			if len(n.Cluster.Nodes()) != size-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// Partition cuts the network between the sides: from then on no node
// sends anything (gossip, links) to a node on another side, as in a
// netsplit. Each side goes on alone once it sees the others as failed.
func Partition(sides ...[]*Node) {
	for i, side := range sides {
		cut := map[string]bool{}
		for j, other := range sides {
			if j == i {
				continue
			}
			for _, o := range other {
				cut[o.Cluster.Address()] = true
				cut[o.Cluster.LinkAddr()] = true
			}
		}
		for _, n := range side {
			n.cut.Store(&cut)
		}
	}
}

// CutLinks drops the links (not the gossip) between n and others, both
// ways: membership still sees every node alive, but no process message
// crosses. Heal restores them.
func (n *Node) CutLinks(others ...*Node) {
	add := func(to *Node, addr string) {
		cut := map[string]bool{}
		if old := to.cut.Load(); old != nil {
			maps.Copy(cut, *old)
		}
		cut[addr] = true
		to.cut.Store(&cut)
	}
	for _, o := range others {
		add(n, o.Cluster.LinkAddr())
		add(o, n.Cluster.LinkAddr())
	}
}

// Heal restores the network between nodes and has each join the others,
// as discovery would.
func Heal(t T, nodes ...*Node) {
	t.Helper()
	var addrs []string
	for _, n := range nodes {
		n.cut.Store(nil)
		addrs = append(addrs, n.Cluster.Address())
	}
	for _, n := range nodes {
		if _, err := n.Cluster.Join(context.Background(), addrs); err != nil {
			t.Logf("%s: rejoin after heal: %v", n.Name, err)
		}
	}
}

// Stop stops the node gracefully, as on SIGTERM (shoal.Node.Stop): the
// registry hands every process off, then the node leaves the cluster and
// stops. Idempotent.
func (n *Node) Stop(ctx context.Context) error { return n.Node.Stop(ctx) }

// Restart kills n, if it runs, and at once starts a new incarnation of
// it with the same name, membership address and link address (what
// Kubernetes does to a container that was OOM-killed: the pod IP stays),
// joining join.
func Restart(t T, n *Node, join string, o Options) *Node {
	t.Helper()
	o.GossipPort, o.LinkPort = port(t, n.Cluster.Address()), port(t, n.Cluster.LinkAddr())
	n.Kill()
	return Start(t, n.Name, join, o)
}

func port(t T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	v, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return v
}

// Kill stops the node without leaving the cluster: the others see a crash.
// Idempotent.
func (n *Node) Kill() { n.Node.Kill() }

// Eventually polls cond every 10ms until it holds, failing the test after d.
func Eventually(t T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Alone starts a node without a cluster: a runtime configured by cfg,
// running kinds (a new, empty set if nil), and its single-node registry.
// The runtime stops when the test ends.
func Alone(t T, cfg process.Config, kinds *process.Kinds) *registry.Registry {
	t.Helper()
	if kinds == nil {
		kinds = process.NewKinds()
	}
	rt, err := process.NewRuntime(cfg, kinds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	reg, err := registry.New(registry.DefaultConfig(), rt)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
