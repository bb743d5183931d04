package main

import (
	"bytes"
	"context"
	"errors"
	"io"
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
		code := run(context.Background(), env(map[string]string{"PORT": port, "HOUSEPARTY_HTTP_HOST": "127.0.0.1"}), &stderr, nil)
		out := stderr.String()
		if code == 0 || !strings.Contains(out, want) || strings.Count(out, "\n") != 1 {
			t.Errorf("PORT=%s: exit %d, stderr %q; want non-zero and one line containing %q", port, code, out, want)
		}
	}
}

func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var stderr syncBuffer
	port := freePort(t)
	go func() {
		done <- run(ctx, env(map[string]string{
			"PORT": port, "HOUSEPARTY_HTTP_HOST": "127.0.0.1", "HOUSEPARTY_GREETING": "hi there",
			"SHOAL_BASENAME": "hp", "SHOAL_HOST": "127.0.0.9",
		}), &stderr, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("run exited %d: %s", code, stderr.String())
	}
	if code, body, err := httpGet(t, "http://"+addr+"/hello"); err != nil || code != 200 || body != "hi there" {
		t.Fatalf("/hello = %d %q %v", code, body, err)
	}
	if code, body, err := httpGet(t, "http://"+addr+"/stats/tldr"); err != nil || code != 200 || !strings.HasPrefix(body, "self: hp@127.0.0.9\n") {
		t.Fatalf("/stats/tldr = %d %q %v", code, body, err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d after stop: %s", code, stderr.String())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
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
	cmd.Env = append(os.Environ(), "PORT="+port, "HOUSEPARTY_HTTP_HOST=127.0.0.1", "SHOAL_HOST=127.0.0.1")
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
