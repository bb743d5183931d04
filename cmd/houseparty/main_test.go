package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalhq/shoal/internal/syncbuf"
	"github.com/shoalhq/shoal/internal/testport"

	"github.com/shoalhq/shoal/admin/api"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/internal/httpget"
	"github.com/shoalhq/shoal/process"
)

// syncBuffer is a buffer loggers may write to concurrently.
type syncBuffer = syncbuf.Buffer

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestBadPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	for port, want := range map[string]string{
		"abc":    `PORT "abc" is not a number`,
		"4001x":  `PORT "4001x" is not a number`,
		"0":      "PORT 0 is out of range",
		"70000":  "PORT 70000 is out of range",
		"-1":     "PORT -1 is out of range",
		busyPort: "PORT " + busyPort + ": cannot listen: bind: address already in use",
	} {
		var stderr syncBuffer
		code := run(context.Background(), nil, env(map[string]string{"PORT": port, "HOUSEPARTY_HTTP_HOST": "127.0.0.1"}), &stderr, nil)
		out := stderr.String()
		if code == 0 || !strings.Contains(out, want) || strings.Count(out, "\n") != 1 {
			t.Errorf("PORT=%s: exit %d, stderr %q; want non-zero and one line containing %q", port, code, out, want)
		}
	}
}

func TestRunServesAndStops(t *testing.T) {
	n := runNode(t, nil, map[string]string{
		"HOUSEPARTY_GREETING": "hi there", "SHOAL_BASENAME": "hp", "SHOAL_HOST": "127.0.0.9",
	})
	if code, body, err := httpGet(t, "http://"+n.http+"/hello"); err != nil || code != 200 || body != "hi there" {
		t.Fatalf("/hello = %d %q %v", code, body, err)
	}
	if code, body, err := httpGet(t, "http://"+n.http+"/stats/tldr"); err != nil || code != 200 || !strings.HasPrefix(body, "self: hp@127.0.0.9\n") {
		t.Fatalf("/stats/tldr = %d %q %v", code, body, err)
	}
	n.stop(t)
}

// freePort returns a loopback port for a node to bind (package testport:
// not one an outgoing connection may take meanwhile).
func freePort(t *testing.T) string {
	t.Helper()
	return strconv.Itoa(testport.Free(t))
}

func httpGet(t *testing.T, url string) (int, string, error) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestBinary builds the real binary, runs it, talks to it over HTTP and
// stops it with SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "houseparty")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	bad := exec.Command(bin)
	bad.Env = append(os.Environ(), "PORT=nope")
	out, err := bad.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || strings.TrimSpace(string(out)) != `houseparty: PORT "nope" is not a number` {
		t.Fatalf("bad PORT: err %v, output %q", err, out)
	}

	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port, "HOUSEPARTY_HTTP_HOST=127.0.0.1", "SHOAL_HOST=127.0.0.1", "SHOAL_CLUSTER_PORT="+freePort(t))
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body, err := httpGet(t, base+"/hello")
		if err == nil && code == 200 && body == "world" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary never answered /hello: %v %d %q\n%s", err, code, body, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // polling period
	}
	code, body, err := httpGet(t, base+"/scenario/small")
	if err != nil || code != 200 || !strings.Contains(body, "self: houseparty@127.0.0.1") || !strings.Contains(body, "total_people: 100") {
		t.Fatalf("/scenario/small = %d %q %v", code, body, err)
	}
	// The operator command is in the binary: "houseparty shoal ...".
	ops := exec.Command(bin, "shoal", "--addr", "127.0.0.1:"+port, "stats")
	ops.Env = append(os.Environ(), "SHOAL_ADMIN_TOKEN=", "SHOAL_COOKIE=", "SHOAL_COOKIE_FILE=")
	if out, err := ops.CombinedOutput(); !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "no token") {
		t.Fatalf("houseparty shoal stats without a token: %v %q; want exit 1, no token", err, out)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Fatalf("no graceful stop logged:\n%s", logs.String())
	}
}

func TestBadSettings(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"SHOAL_COOKIE": "short"}, nil, "SHOAL_COOKIE: cookie too short"},
		{map[string]string{"SHOAL_CLUSTER_PORT": "x"}, nil, `SHOAL_CLUSTER_PORT "x" is not a number`},
		{map[string]string{"SHOAL_HOST": "localhost"}, nil, `SHOAL_HOST "localhost" is not an IP address (nor "auto")`},
		{map[string]string{"SHOAL_DISCOVERY": "pigeon:coop"}, nil, `SHOAL_DISCOVERY: invalid discovery spec: unknown strategy "pigeon"`},
		{map[string]string{"SHOAL_PROBE_INTERVAL": "1ms"}, nil, "SHOAL_PROBE_INTERVAL"},
		{map[string]string{"SHOAL_REPLICAS": "-1"}, nil, `SHOAL_REPLICAS "-1" must be a number from 0 to 5`},
		{map[string]string{"SHOAL_PLACEMENT": "quorum:0"}, nil, `SHOAL_PLACEMENT "quorum:0" must be any or quorum:M`},
		{nil, []string{"-placement", "majority"}, `SHOAL_PLACEMENT "majority" must be any or quorum:M`},
		{map[string]string{"HOUSEPARTY_CHECKPOINTS": "always"}, nil, `HOUSEPARTY_CHECKPOINTS "always" must be sync, async or off`},
		{map[string]string{"SHOAL_STRICT_CODEC": "maybe"}, nil, `SHOAL_STRICT_CODEC "maybe" must be true or false`},
		{map[string]string{"HOUSEPARTY_ADMIN_TOKEN": "short"}, nil, "HOUSEPARTY_ADMIN_TOKEN must be at least 16 characters"},
		{nil, []string{"-admin-token", "sixteen chars with spaces"}, "HOUSEPARTY_ADMIN_TOKEN must be at least 16 characters, without spaces"},
		{map[string]string{"SHOAL_ADMIN_TOKEN": "tiny"}, nil, "SHOAL_ADMIN_TOKEN must be at least 16 characters"},
		{map[string]string{"SHOAL_LOG_LEVEL": "verbose"}, nil, `SHOAL_LOG_LEVEL "verbose" must be debug, info, warn or error`},
		{nil, []string{"-log-format", "xml"}, `SHOAL_LOG_FORMAT "xml" must be text or json`},
		{nil, []string{"-port", "99999"}, "PORT 99999 is out of range"},
		{nil, []string{"-nope"}, "flag provided but not defined: -nope"},
	} {
		var stderr syncBuffer
		e := map[string]string{"HOUSEPARTY_HTTP_HOST": "127.0.0.1", "PORT": freePort(t)}
		for k, v := range c.env {
			e[k] = v
		}
		code := run(context.Background(), c.args, env(e), &stderr, nil)
		if code == 0 || !strings.Contains(stderr.String(), c.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v %v: exit %d, %q; want one line with %q", c.env, c.args, code, stderr.String(), c.want)
		}
	}
}

// SHOAL_HOST=auto takes this machine's first non-loopback address (a
// container's address on its network).
func TestAutoHost(t *testing.T) {
	s, err := readSettings(nil, env(map[string]string{"SHOAL_HOST": "auto"}))
	if err != nil {
		if strings.Contains(err.Error(), "no interface that is up") {
			t.Skip("this machine has no non-loopback address:", err)
		}
		t.Fatal(err)
	}
	ip := net.ParseIP(s.host)
	if ip == nil || ip.IsLoopback() || !ip.IsGlobalUnicast() {
		t.Fatalf("SHOAL_HOST=auto gave %q, want a non-loopback unicast address", s.host)
	}
	if want := "houseparty@" + s.host; s.node() != want {
		t.Fatalf("node name %q, want %q", s.node(), want)
	}
}

// runningNode is a node run by run in the test's process.
type runningNode struct {
	http   string // HTTP address
	gossip string // membership address, if startNode chose it
	cancel context.CancelFunc
	done   chan int
	logs   *syncBuffer
}

// runNode runs a node with args and e over the defaults (free ports of
// loopback) and waits until it serves HTTP; the test's cleanup stops it.
func runNode(t *testing.T, args []string, e map[string]string) *runningNode {
	t.Helper()
	vars := map[string]string{"PORT": freePort(t), "HOUSEPARTY_HTTP_HOST": "127.0.0.1", "SHOAL_CLUSTER_PORT": freePort(t)}
	for k, v := range e {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &runningNode{cancel: cancel, done: make(chan int, 1), logs: &syncBuffer{}}
	ready := make(chan string, 1)
	go func() { n.done <- run(ctx, args, env(vars), n.logs, ready) }()
	select {
	case n.http = <-ready:
	case code := <-n.done:
		cancel()
		t.Fatalf("%v %v exited %d: %s", args, e, code, n.logs.String())
	}
	t.Cleanup(func() {
		cancel()
		<-n.done
	})
	return n
}

// stop stops the node and fails the test unless it exits 0.
func (n *runningNode) stop(t *testing.T) {
	t.Helper()
	n.cancel()
	code := <-n.done
	n.done <- code // for the cleanup
	if code != 0 {
		t.Fatalf("exit code %d after stop: %s", code, n.logs.String())
	}
}

// startNode runs a cluster node called name.
func startNode(t *testing.T, name, cookie, discovery string) *runningNode {
	t.Helper()
	gport := freePort(t)
	n := runNode(t, []string{"-basename", name, "-cluster-port", gport}, map[string]string{"SHOAL_COOKIE": cookie, "SHOAL_DISCOVERY": discovery})
	n.gossip = "127.0.0.1:" + gport
	return n
}

// startThree runs nodes a, b and c of one cluster (static discovery).
func startThree(t *testing.T, cookie string) (a, b, c *runningNode) {
	t.Helper()
	a = startNode(t, "a", cookie, "")
	b = startNode(t, "b", cookie, "static:"+a.gossip)
	c = startNode(t, "c", cookie, "static:"+a.gossip+","+b.gossip)
	return a, b, c
}

// TestThreeNodeCluster runs three nodes the way the README's local cluster
// does (static discovery, one cookie) and checks /cluster and /stats/tldr.
func TestThreeNodeCluster(t *testing.T) {
	const cookie = "readme-local-cluster-cookie"
	a, b, c := startThree(t, cookie)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body, err := httpGet(t, "http://"+c.http+"/cluster")
		if err == nil && code == 200 && strings.Count(body, `"status":"alive"`) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster never formed: %d %s %v", code, body, err)
		}
		time.Sleep(20 * time.Millisecond) // polling period
	}
	// Each node is ready once it has looked for its peers and holds
	// their registrations.
	waitReady(t, deadline, a, b, c)
	_, body, _ := httpGet(t, "http://"+a.http+"/stats/tldr")
	if !strings.HasPrefix(body, "self: a@127.0.0.1\nnodes: [b@127.0.0.1, c@127.0.0.1]\n") {
		t.Fatalf("/stats/tldr on a:\n%s", body)
	}
	// A party started on one node spreads over all three, and every node
	// sees all of it.
	if code, body, err := httpGet(t, "http://"+b.http+"/scenario/small"); err != nil || code != 200 {
		t.Fatalf("start on b: %d %s %v", code, body, err)
	}
	for {
		m := perNode(t, a)
		if total(m) == 105 && m["a@127.0.0.1"] > 0 && m["b@127.0.0.1"] > 0 && m["c@127.0.0.1"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the small party (105 processes) is not spread over 3 nodes: %v", m)
		}
		time.Sleep(20 * time.Millisecond) // polling period
	}
	if _, body, _ := httpGet(t, "http://"+c.http+"/stats/tldr"); !strings.Contains(body, "total_people: 100") {
		t.Fatalf("/stats/tldr on c does not count the whole party:\n%s", body)
	}
	// c leaves gracefully: its processes move to a and b; the others see
	// it as left.
	c.cancel()
	if code := <-c.done; code != 0 {
		t.Fatalf("c exit code %d: %s", code, c.logs.String())
	}
	c.done <- 0 // for the cleanup
	for {
		_, body, _ := httpGet(t, "http://"+a.http+"/cluster")
		if strings.Contains(body, `"name":"c@127.0.0.1","address":"`) && strings.Contains(body, `"status":"left"`) {
			if m := perNode(t, a); total(m) != 105 {
				t.Fatalf("after c left gracefully, %d of 105 processes run: %v", total(m), m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c never reported left: %s", body)
		}
		time.Sleep(20 * time.Millisecond) // polling period
	}
}

// waitReady waits until every node's /readyz answers 200 "ready".
func waitReady(t *testing.T, deadline time.Time, nodes ...*runningNode) {
	t.Helper()
	for _, n := range nodes {
		for {
			code, body, err := httpGet(t, "http://"+n.http+"/readyz")
			if err == nil && code == 200 && body == "ready" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz never 200: %d %s %v", code, body, err)
			}
			time.Sleep(20 * time.Millisecond) // polling period
		}
	}
}

// perNode asks node's /cluster how many registered processes each live
// member runs.
func perNode(t *testing.T, node *runningNode) map[string]int {
	t.Helper()
	_, body, _ := httpGet(t, "http://"+node.http+"/cluster")
	var out struct {
		Members []struct {
			Name      string `json:"name"`
			Status    string `json:"status"`
			Processes int    `json:"processes"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("/cluster: %v: %s", err, body)
	}
	m := map[string]int{}
	for _, mb := range out.Members {
		if mb.Status == "alive" {
			m[mb.Name] = mb.Processes
		}
	}
	return m
}

func total(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// TestStopEveryNode stops every node of a 3-node cluster running a party
// (scale to zero, compose down): each must exit 0, whoever stops last.
// "together" cancels all three at once, so hand-offs race with peers that
// are leaving too; "last one" stops a and b first and c once it runs the
// whole party, so c has no node left to hand anything to and must say how
// many processes stop with it.
func TestStopEveryNode(t *testing.T) {
	const cookie = "stop-every-node-cookie"
	for _, together := range []bool{true, false} {
		name := map[bool]string{true: "together", false: "last one"}[together]
		t.Run(name, func(t *testing.T) {
			a, b, c := startThree(t, cookie)
			deadline := time.Now().Add(20 * time.Second)
			waitReady(t, deadline, a, b, c)
			if code, body, err := httpGet(t, "http://"+a.http+"/scenario/small"); err != nil || code != 200 {
				t.Fatalf("start the party: %d %s %v", code, body, err)
			}
			a.cancel()
			b.cancel()
			if !together {
				// a and b hand their processes to c, the one node that
				// stays, after telling it they are leaving.
				for m := perNode(t, c); m["c@127.0.0.1"] != 105; m = perNode(t, c) {
					if time.Now().After(deadline) {
						t.Fatalf("c never ran the whole party (105 processes): %v", m)
					}
					time.Sleep(20 * time.Millisecond) // polling period
				}
			}
			c.cancel()
			start := time.Now()
			for _, n := range []*runningNode{a, b, c} {
				code := <-n.done
				n.done <- code // for the cleanup
				if code != 0 {
					t.Errorf("exit code %d:\n%s", code, n.logs.String())
				}
			}
			t.Logf("every node stopped %v after the last was told to", time.Since(start).Round(time.Millisecond))
			if !together && !strings.Contains(c.logs.String(), `msg="no node left to hand processes to (every other node is stopping too); they stop with this node" node=c@127.0.0.1 processes=105`) {
				t.Errorf("c did not log that its 105 processes stop with it:\n%s", c.logs.String())
			}
		})
	}
}

// The checkpoint and codec settings: sync and tolerant by default.
func TestCheckpointAndCodecSettings(t *testing.T) {
	for _, c := range []struct {
		env    map[string]string
		args   []string
		mode   process.CheckpointMode
		strict bool
	}{
		{nil, nil, process.CheckpointSync, false},
		{map[string]string{"HOUSEPARTY_CHECKPOINTS": "off", "SHOAL_STRICT_CODEC": "true"}, nil, process.CheckpointOff, true},
		{map[string]string{"HOUSEPARTY_CHECKPOINTS": "off"}, []string{"-checkpoints", "async"}, process.CheckpointAsync, false},
	} {
		s, err := readSettings(c.args, env(c.env))
		if err != nil {
			t.Fatalf("%v %v: %v", c.env, c.args, err)
		}
		if s.checkpoints != c.mode || s.strictCodec != c.strict {
			t.Errorf("%v %v: checkpoints %v strict %v; want %v %v", c.env, c.args, s.checkpoints, s.strictCodec, c.mode, c.strict)
		}
	}
}

// The registry settings reach the registry's configuration.
func TestRegistrySettings(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "replicas=1 quorum=0"},
		{map[string]string{"SHOAL_REPLICAS": "0", "SHOAL_PLACEMENT": "quorum:2"}, "replicas=-1 quorum=2"},
		{map[string]string{"SHOAL_REPLICAS": "2"}, "replicas=2 quorum=0"},
	} {
		s, err := readSettings(nil, env(c.env))
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		cfg := s.nodeConfig(nil, "", nil, nil)
		got := fmt.Sprintf("replicas=%d quorum=%d", cfg.Replicas, cfg.Quorum)
		if got != c.want {
			t.Errorf("%v: %s; want %s", c.env, got, c.want)
		}
	}
}

// TestLogSettings: SHOAL_LOG_LEVEL and SHOAL_LOG_FORMAT (or their flags)
// set the level and the format; at debug each HTTP request is logged, at
// info it is not.
func TestLogSettings(t *testing.T) {
	for _, c := range []struct {
		env   map[string]string
		args  []string
		level slog.Level
		json  bool
	}{
		{nil, nil, slog.LevelInfo, false},
		{map[string]string{"SHOAL_LOG_LEVEL": "DEBUG", "SHOAL_LOG_FORMAT": "json"}, nil, slog.LevelDebug, true},
		{map[string]string{"SHOAL_LOG_LEVEL": "debug"}, []string{"-log-level", "warn", "-log-format", "text"}, slog.LevelWarn, false},
		{nil, []string{"-log-level", "error"}, slog.LevelError, false},
	} {
		s, err := readSettings(c.args, env(c.env))
		if err != nil {
			t.Fatalf("%v %v: %v", c.env, c.args, err)
		}
		if s.logLevel != c.level || s.logJSON != c.json {
			t.Errorf("%v %v: level %v json %v; want %v %v", c.env, c.args, s.logLevel, s.logJSON, c.level, c.json)
		}
	}
	for _, level := range []string{"debug", "info"} {
		t.Run(level, func(t *testing.T) {
			n := runNode(t, nil, map[string]string{"SHOAL_HOST": "127.0.0.9", "SHOAL_LOG_LEVEL": level, "SHOAL_LOG_FORMAT": "json"})
			if code, _, err := httpGet(t, "http://"+n.http+"/hello"); err != nil || code != 200 {
				t.Fatalf("/hello = %d %v", code, err)
			}
			n.stop(t)
			stderr := n.logs
			var requests int
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("a log line is not JSON: %q: %v", line, err)
				}
				if rec["msg"] == "http request" {
					requests++
					if rec["path"] != "/hello" || rec["status"] != float64(200) || rec["level"] != "DEBUG" {
						t.Errorf("request log %v; want path /hello, status 200, level DEBUG", rec)
					}
				}
			}
			if want := map[string]int{"debug": 1, "info": 0}[level]; requests != want {
				t.Errorf("at %s: %d request lines, want %d:\n%s", level, requests, want, stderr.String())
			}
		})
	}
}

// TestAdminTokenSetting: HOUSEPARTY_ADMIN_TOKEN protects /scenario/*.
func TestAdminTokenSetting(t *testing.T) {
	const token = "a-token-of-the-operator"
	n := runNode(t, nil, map[string]string{"SHOAL_HOST": "127.0.0.9", "HOUSEPARTY_ADMIN_TOKEN": token})
	if code, _, err := httpGet(t, "http://"+n.http+"/scenario/small"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("/scenario/small without the token = %d %v; want 401", code, err)
	}
	if code, _, body := httpget.Get(t, "http://"+n.http+"/scenario/small", "Bearer "+token); code != http.StatusOK {
		t.Fatalf("/scenario/small with the token = %d %s; want 200", code, body)
	}
	n.stop(t)
}

// TestOperatorAPI: /admin/ and /debug/pprof/ answer 401 without the
// token, which is SHOAL_ADMIN_TOKEN if set, else derived from the cookie.
func TestOperatorAPI(t *testing.T) {
	const cookieSecret = "operator-api-test-cookie"
	c, err := cookie.Parse(cookieSecret)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		env   map[string]string
		token string
	}{
		"set":     {map[string]string{"SHOAL_ADMIN_TOKEN": "an-operator-api-token", "SHOAL_COOKIE": cookieSecret}, "an-operator-api-token"},
		"derived": {map[string]string{"SHOAL_COOKIE": cookieSecret}, api.Token(c)},
	} {
		t.Run(name, func(t *testing.T) {
			c.env["SHOAL_HOST"] = "127.0.0.9"
			n := runNode(t, nil, c.env)
			for _, path := range []string{"/admin/stats", "/admin/members", "/debug/pprof/"} {
				for auth, want := range map[string]int{"": 401, "Bearer wrong-token-of-someone": 401, "Bearer " + c.token: 200} {
					if code, _, _ := httpget.Get(t, "http://"+n.http+path, auth); code != want {
						t.Errorf("GET %s with %q = %d, want %d", path, auth, code, want)
					}
				}
			}
			if code, _, err := httpGet(t, "http://"+n.http+"/hello"); err != nil || code != 200 {
				t.Errorf("/hello = %d %v: the party's routes are not the operator API's", code, err)
			}
			n.stop(t)
		})
	}
}
