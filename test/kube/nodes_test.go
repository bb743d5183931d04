package kube_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
)

const nodeCookie = "kube-test-cluster-cookie-0123"

// startNode runs a real Shoal cluster node bound to ip:port whose only
// discovery is strategy.
func (f *fixture) startNode(name, ip string, s discovery.Strategy) *cluster.Cluster {
	f.t.Helper()
	c, err := cookie.Parse(nodeCookie)
	if err != nil {
		f.t.Fatal(err)
	}
	cfg := cluster.DefaultConfig(name+"@"+ip, c)
	cfg.BindAddr, cfg.BindPort = ip, port
	cfg.Strategies = []discovery.Strategy{s}
	cfg.Logger = slog.New(slog.NewTextHandler(f.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := cluster.New(cfg)
	if err != nil {
		f.t.Fatalf("start node %s: %v", name, err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

func aliveCount(n *cluster.Cluster) int {
	k := 0
	for _, m := range n.Members() {
		if m.Status == cluster.StatusAlive {
			k++
		}
	}
	return k
}

// formed waits until every node sees want alive members.
func (f *fixture) formed(nodes []*cluster.Cluster, want int, what string) {
	f.t.Helper()
	f.eventually(30*time.Second, what, func() (bool, string) {
		var state []string
		ok := true
		for _, n := range nodes {
			k := aliveCount(n)
			ok = ok && k == want
			state = append(state, fmt.Sprintf("%s sees %d", n.Name(), k))
		}
		return ok, strings.Join(state, ", ")
	})
	f.t.Logf("checked: %s", what)
}

// TestNodesFindEachOtherThroughPods runs three real nodes on loopback
// addresses, each discovering the others only through Pod objects (with
// the discovery ServiceAccount's token), and checks they form one cluster
// while no pod is Ready yet, as in a fresh Deployment (a node is Ready
// only once it has joined); a pod being deleted leaves the discovered
// set, and its node, once stopped, is reported down.
func TestNodesFindEachOtherThroughPods(t *testing.T) {
	f := newFixture(t)
	ips := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"}
	for i, ip := range ips {
		name := "node-" + strconv.Itoa(i)
		f.createPod(name, podOpts{labels: map[string]string{"app": "shoal-node"}, hold: true})
		f.setPodStatus(name, ip, false)
	}
	spec := "kubernetes:app=shoal-node?interval=300ms"
	var nodes []*cluster.Cluster
	for i, ip := range ips {
		nodes = append(nodes, f.startNode("node-"+strconv.Itoa(i), ip, f.strategy(spec)))
	}
	f.formed(nodes, 3, "three nodes formed one cluster through Running, not yet Ready pods listed with the discovery token")

	f.deletePod("node-2") // held by the finalizer: terminating
	f.converge(f.strategy(spec), []string{ips[0] + ":7946", ips[1] + ":7946"}, "a terminating pod leaves the discovered set")
	if err := nodes[2].Shutdown(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.formed(nodes[:2], 2, "the stopped node's peers see two alive members")

	// A new pod's node joins by itself, before it is Ready.
	f.createPod("node-3", podOpts{labels: map[string]string{"app": "shoal-node"}})
	f.setPodStatus("node-3", "127.0.0.24", false)
	n3 := f.startNode("node-3", "127.0.0.24", f.strategy(spec))
	f.formed([]*cluster.Cluster{nodes[0], nodes[1], n3}, 3, "a node scaled up later joins by itself")
}

// testNet adds addresses on a veth pair this test creates (and removes),
// because the API refuses loopback addresses in EndpointSlices. Traffic to
// them stays on this machine.
func testNet(t *testing.T, addrs ...string) {
	t.Helper()
	a, b := fmt.Sprintf("shk%d", time.Now().UnixNano()%100000), ""
	b = a + "p"
	if out, err := exec.Command("ip", "link", "add", a, "type", "veth", "peer", "name", b).CombinedOutput(); err != nil {
		t.Skipf("cannot create a test network (veth): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", a).Run() })
	for _, cmd := range [][]string{{"link", "set", a, "up"}, {"link", "set", b, "up"}} {
		if out, err := exec.Command("ip", cmd...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", cmd, err, out)
		}
	}
	for _, addr := range addrs {
		if out, err := exec.Command("ip", "addr", "add", addr+"/32", "dev", a).CombinedOutput(); err != nil {
			t.Fatalf("ip addr add %s: %v: %s", addr, err, out)
		}
	}
	// Wait until the addresses can be bound (duplicate address detection
	// does not apply to IPv4, but the link must be up).
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range addrs {
		for {
			ln, err := net.Listen("tcp", addr+":0")
			if err == nil {
				ln.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("test address %s never usable: %v", addr, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestNodesFindEachOtherThroughEndpointSlices runs three real nodes on
// addresses of a test network and has them discover each other through
// EndpointSlices of a Service that carry those addresses, not yet ready.
func TestNodesFindEachOtherThroughEndpointSlices(t *testing.T) {
	f := newFixture(t)
	ips := []string{"198.18.7.1", "198.18.7.2", "198.18.7.3"}
	testNet(t, ips...)
	// Not ready yet (a fresh Service's endpoints): peers all the same.
	ready := false
	s := slice("hp-nodes", "hp-nodes", nil,
		endpoint(ips[0], &ready, ""), endpoint(ips[1], &ready, ""), endpoint(ips[2], &ready, ""))
	if _, err := f.admin.DiscoveryV1().EndpointSlices(f.ns).Create(f.ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpointslice: %v", err)
	}
	spec := "kubernetes:?source=endpointslices&service=hp-nodes&interval=300ms"
	var nodes []*cluster.Cluster
	for i, ip := range ips {
		nodes = append(nodes, f.startNode("node-"+strconv.Itoa(i), ip, f.strategy(spec)))
	}
	f.formed(nodes, 3, "three nodes on a test network formed one cluster through EndpointSlices")
}
