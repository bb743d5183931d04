package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalhq/shoal/internal/syncbuf"
	"github.com/shoalhq/shoal/internal/testport"
)

// TestSetupIsShort: the code that meets Shoal (setup) stays within 40
// lines.
func TestSetupIsShort(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "setup" {
			lines := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			t.Logf("setup is %d lines", lines)
			if lines > 40 {
				t.Fatalf("setup is %d lines, more than 40", lines)
			}
			return
		}
	}
	t.Fatal("no func setup in main.go")
}

// freePort returns a loopback port for a node to bind (package testport:
// not one an outgoing connection may take meanwhile).
func freePort(t *testing.T) int { return testport.Free(t) }

// node is one sessions process.
type node struct {
	cmd    *exec.Cmd
	http   string
	logs   *syncbuf.Buffer
	exited chan error
}

// TestThreeProcesses runs the command as the README does: three
// processes on loopback. 1,000 sessions get a write each through random
// nodes; one node stops (SIGTERM); every session still holds its write,
// read through the two others.
func TestThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three processes")
	}
	bin := filepath.Join(t.TempDir(), "sessions")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var nodes []*node
	first := 0
	for i := range 3 {
		port, httpPort := freePort(t), freePort(t)
		if i == 0 {
			first = port
		}
		args := []string{"-name", fmt.Sprintf("s%d@127.0.0.1", i), "-port", strconv.Itoa(port), "-http", "127.0.0.1:" + strconv.Itoa(httpPort)}
		if i > 0 {
			args = append(args, "-join", "127.0.0.1:"+strconv.Itoa(first))
		}
		n := &node{cmd: exec.Command(bin, args...), http: "http://127.0.0.1:" + strconv.Itoa(httpPort), logs: &syncbuf.Buffer{}, exited: make(chan error, 1)}
		n.cmd.Env = append(os.Environ(), "SESSIONS_SECRET=a secret the three share")
		n.cmd.Stderr = n.logs
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { n.exited <- n.cmd.Wait() }()
		t.Cleanup(func() { _ = n.cmd.Process.Kill() })
		nodes = append(nodes, n)
		waitHealthy(t, n) // the next joins a node that serves
	}
	for _, n := range nodes {
		waitHealthy(t, n)
	}
	const sessions = 1000
	each(t, sessions, func(i int) error {
		url := fmt.Sprintf("%s/sessions/user%d/n", nodes[i%3].http, i)
		req, _ := http.NewRequest(http.MethodPut, url, bytes.NewBufferString(strconv.Itoa(i)))
		_, err := call(req, 1)
		return err
	})
	start := time.Now()
	if err := nodes[2].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-nodes[2].exited:
		if err != nil {
			t.Fatalf("s2 after SIGTERM: %v\n%s", err, nodes[2].logs)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("s2 did not stop after SIGTERM\n%s", nodes[2].logs)
	}
	t.Logf("s2 stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	each(t, sessions, func(i int) error {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/sessions/user%d", nodes[i%2].http, i), nil)
		st, err := call(req, 1)
		if err == nil && st.Values["n"] != strconv.Itoa(i) {
			err = fmt.Errorf("user%d: %+v, want n=%d", i, st, i)
		}
		return err
	})
}

// waitHealthy waits until n answers /healthz.
func waitHealthy(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(n.http + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never healthy: %v\n%s", n.http, err, n.logs)
		}
		time.Sleep(20 * time.Millisecond) // polling period
	}
}

// call sends req and decodes the session it answers, checking its
// writes.
func call(req *http.Request, writes int) (State, error) {
	var st State
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return st, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, err
	}
	if st.Writes != writes {
		return st, fmt.Errorf("%s %s: %d writes, want %d", req.Method, req.URL, st.Writes, writes)
	}
	return st, nil
}

// each runs f(0..n-1), 16 at a time, and fails the test at the first
// error.
func each(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
