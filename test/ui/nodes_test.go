package ui

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer collects a node's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// node is one houseparty process.
type node struct {
	name   string // basename
	http   string // host:port
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
	logs   *syncBuffer
}

// freePort returns a port free on 127.0.0.1 for TCP and UDP (membership
// takes both) that it has not given before, below the kernel's range of
// ephemeral ports: a port from that range, free when asked, can be taken
// by any outgoing connection (the nodes' own) before the node that was
// given it binds it.
func (c *cluster) freePort() int {
	t := c.t
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if c.given[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		c.given[port] = true
		return port
	}
	t.Fatal("no free port between 20000 and 32000")
	return 0
}

// outDir is where the screenshots go: $UI_OUT, or bin/ui at the
// repository's root.
func outDir(t *testing.T) string {
	dir := os.Getenv("UI_OUT")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin", "ui")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// build compiles cmd/houseparty once per test binary.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "houseparty")
	// cmd/houseparty is a module of its own (it brings Kubernetes discovery).
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "..", "cmd", "houseparty")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/houseparty: %v\n%s", err, out)
	}
	return bin
}

// cluster is the nodes of one test and what they share.
type cluster struct {
	t      *testing.T
	bin    string
	cookie string
	peers  string       // static discovery: every node's membership address
	ports  []int        // membership ports, one per node the test may start
	given  map[int]bool // every port handed out (a node's may be bound late)
}

func newCluster(t *testing.T, bin string, size int) *cluster {
	b := make([]byte, 24)
	if _, err := crand.Read(b); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, cookie: hex.EncodeToString(b), given: map[int]bool{}}
	var addrs []string
	for range size {
		p := c.freePort()
		c.ports = append(c.ports, p)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	c.peers = "static:" + strings.Join(addrs, ",")
	return c
}

// start runs node i (from 1) and waits until it answers /readyz.
func (c *cluster) start(i int) *node {
	t := c.t
	t.Helper()
	n := &node{name: "node" + strconv.Itoa(i), http: "127.0.0.1:" + strconv.Itoa(c.freePort()), exited: make(chan struct{}), logs: &syncBuffer{}}
	n.cmd = exec.Command(c.bin)
	n.cmd.Env = append(os.Environ(),
		"PORT="+strings.TrimPrefix(n.http, "127.0.0.1:"),
		"HOUSEPARTY_HTTP_HOST=127.0.0.1",
		"SHOAL_BASENAME="+n.name,
		"SHOAL_HOST=127.0.0.1",
		"SHOAL_CLUSTER_PORT="+strconv.Itoa(c.ports[i-1]),
		"SHOAL_COOKIE="+c.cookie,
		"SHOAL_DISCOVERY="+c.peers,
		"HOUSEPARTY_ADMIN_TOKEN="+token,
	)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.name, err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("%s's log:\n%s", n.name, n.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + n.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case <-n.exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", n.name, n.err, n.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready in 30 s (last: %v)\n%s", n.name, err, n.logs.String())
		}
	}
}

// stop sends SIGTERM to the node.
func (n *node) stop(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", n.name, err)
	}
}

// waitExit waits (up to 30 s) for the node to exit, cleanly.
func (n *node) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-n.exited:
		if n.err != nil {
			t.Errorf("%s exited with %v after SIGTERM\n%s", n.name, n.err, n.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30 s after SIGTERM", n.name)
	}
}
