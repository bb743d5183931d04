package shoal_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFrontDoorPullsNoKubernetes builds the module graph of a program
// that imports only the front door, as an embedder's would be, and
// finds no Kubernetes module in it: Kubernetes discovery is a module of
// its own. The same program importing discovery/all (which brings
// Kubernetes discovery) does list k8s.io, so the check can fail.
func TestFrontDoorPullsNoKubernetes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two module graphs with the go command")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	frontDoor := `package main

import (
	"context"

	"github.com/shoalhq/shoal"
)

func main() {
	n, err := shoal.Start(context.Background(), shoal.Config{Name: "a"})
	if err == nil {
		_ = n.Stop(context.Background())
	}
}
`
	mods := moduleGraph(t, root, frontDoor, false)
	for _, m := range mods {
		if strings.HasPrefix(m, "k8s.io/") || strings.HasPrefix(m, "sigs.k8s.io/") {
			t.Errorf("a program importing only github.com/shoalhq/shoal has %s in its module graph", m)
		}
	}
	t.Logf("checked: the front door's module graph has %d modules, none from k8s.io", len(mods))

	withKube := strings.Replace(frontDoor, `"github.com/shoalhq/shoal"
`, `"github.com/shoalhq/shoal"
	_ "github.com/shoalhq/shoal/discovery/all"
`, 1)
	found := false
	for _, m := range moduleGraph(t, root, withKube, true) {
		if strings.HasPrefix(m, "k8s.io/client-go ") {
			found = true
		}
	}
	if !found {
		t.Error("a program importing discovery/all has no k8s.io/client-go in its module graph: the check above cannot fail")
	}
}

// moduleGraph writes a module holding main.go, requiring this checkout
// (and, with all, the discovery/all and discovery/kubernetes modules),
// tidies it and returns `go list -m all`, one "path version" a line.
func moduleGraph(t *testing.T, root, main string, all bool) []string {
	t.Helper()
	dir := t.TempDir()
	gomod := "module example.com/embedder\n\ngo 1.26.0\n\n" +
		"require github.com/shoalhq/shoal v0.0.0\n\n" +
		"replace github.com/shoalhq/shoal => " + root + "\n"
	if all {
		gomod += "replace github.com/shoalhq/shoal/discovery/all => " + filepath.Join(root, "discovery", "all") + "\n" +
			"replace github.com/shoalhq/shoal/discovery/kubernetes => " + filepath.Join(root, "discovery", "kubernetes") + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	return strings.Split(strings.TrimSpace(run("list", "-m", "all")), "\n")
}
