// Package netnstest runs a test in a private network namespace (Linux,
// unshare --net), where it may bring interfaces up and drop packets with
// iptables without touching the host's networks: the test binary runs
// itself again as a child in the namespace, which vanishes with it.
package netnstest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// childEnv marks the child process.
const childEnv = "SHOAL_NETNS_CHILD"

// skipMark prefixes the reason a child skipped, for the parent to repeat.
const skipMark = "NETNS-SKIP: "

// InChild reports whether this is the child. In the child it first
// checks that the namespace is private (its one interface is lo) and
// brings lo up; it skips the test, saying why, if it cannot.
func InChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) != "1" {
		return false
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatalf("listing interfaces: %v", err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("%s is set but this is not a private network namespace (%d interfaces); refusing to change the network", childEnv, len(ifs))
	}
	Cmd(t, "ip", "link", "set", "lo", "up")
	return true
}

// Cmd runs a command in the child (ip, iptables, ...), skipping the test
// if the command is missing or refused.
func Cmd(t *testing.T, name string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf(skipMark+"%s is not installed", name)
	}
	if out, err := exec.CommandContext(t.Context(), path, args...).CombinedOutput(); err != nil {
		t.Skipf(skipMark+"`%s %s` refused: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// Run runs the calling test (t.Name()) again in a private network
// namespace and fails if it fails there; it skips, saying why, where
// namespaces are not available.
func Run(t *testing.T, timeout time.Duration) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("needs Linux network namespaces; this is %s", runtime.GOOS)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if out, err := exec.CommandContext(t.Context(), unshare, "--net", "--", "true").CombinedOutput(); err != nil {
		t.Skipf("the kernel refused a private network namespace (unshare --net needs CAP_SYS_ADMIN): %v: %s", err, bytes.TrimSpace(out))
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--net", "--", exe,
		"-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout="+timeout.String())
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if i := bytes.Index(out, []byte(skipMark)); i >= 0 {
		line, _, _ := bytes.Cut(out[i+len(skipMark):], []byte("\n"))
		t.Skipf("in the namespace: %s", line)
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name()+" ")) {
		t.Fatalf("%s in its namespace: %v\n%s", t.Name(), err, out)
	}
	t.Logf("in its namespace:\n%s", out)
}
