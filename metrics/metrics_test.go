package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/metrics"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

type idle struct{}

func (idle) HandleCall(context.Context, process.Self, any) (any, error) { return "ok", nil }
func (idle) HandleCast(context.Context, process.Self, any)              {}
func (idle) HandleInfo(context.Context, process.Self, any)              {}

func get(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewNeedsANode(t *testing.T) {
	if _, err := metrics.New(""); err == nil {
		t.Fatal("New accepted an empty node name")
	}
}

// The hooks' series carry the node, the operation or the peer, and the
// result.
func TestObservers(t *testing.T) {
	m, err := metrics.New("a@127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveOp(registry.OpRegister, time.Millisecond, nil)
	m.ObserveOp(registry.OpWhereis, time.Microsecond, errors.New("not found"))
	m.ObserveOp("no such op", time.Second, nil) // ignored
	m.ObserveCall("b@127.0.0.1", 2*time.Millisecond, nil)
	m.ObserveCall("b@127.0.0.1", 3*time.Millisecond, errors.New("unreachable"))
	out := get(t, m)
	for _, want := range []string{
		`shoal_registry_operations_total{node="a@127.0.0.1",op="register",result="ok"} 1`,
		`shoal_registry_operations_total{node="a@127.0.0.1",op="whereis",result="error"} 1`,
		`shoal_registry_operation_seconds_count{node="a@127.0.0.1",op="register"} 1`,
		`shoal_remote_call_seconds_count{node="a@127.0.0.1",peer="b@127.0.0.1"} 2`,
		`shoal_remote_call_errors_total{node="a@127.0.0.1",peer="b@127.0.0.1"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "no such op") {
		t.Error("an unknown operation made a series")
	}
}

// Watch reads a node's parts at each scrape: members, processes, the
// registry's counts and partitions, each peer's link traffic, mailboxes.
func TestWatch(t *testing.T) {
	kinds := func() *process.Kinds {
		k := process.NewKinds()
		_ = k.Register("idle", func([]byte) (process.Behavior, error) { return idle{}, nil })
		return k
	}
	nodes := clustertest.StartCluster(t, 2, clustertest.Options{Kinds: kinds})
	n := nodes[0]
	m, err := metrics.New(n.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Watch(metrics.Sources{Members: n.Cluster, Runtime: n.Runtime, Registry: n.Registry, Remote: n.Remote}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		name := "p" + string(rune('a'+i))
		if _, err := nodes[i%2].Registry.Register(ctx, name, process.Spec{Kind: "idle"}); err != nil {
			t.Fatal(err)
		}
	}
	peer := nodes[1].Name
	clustertest.Eventually(t, 10*time.Second, "n0's metrics show the cluster", func() bool {
		out := get(t, m)
		local := n.Registry.Local()
		for _, want := range []string{
			`shoal_members{node="` + n.Name + `",status="alive"} 2`,
			`shoal_registered_processes{node="` + n.Name + `"} ` + strconv.Itoa(local),
			`shoal_registry_partitions{node="` + n.Name + `",role="primary"}`,
			`shoal_link_frames_total{direction="in",node="` + n.Name + `",peer="` + peer + `"}`,
			`shoal_mailbox_depth_bucket{node="` + n.Name + `",le="0"}`,
			`shoal_mailbox_depth_max{node="` + n.Name + `"} 0`,
			`shoal_handoffs_total{direction="in",node="` + n.Name + `"} 0`,
		} {
			if !strings.Contains(out, want) {
				t.Logf("no %q yet", want)
				return false
			}
		}
		return local > 0 && strings.Contains(out, `shoal_registrations_total{node="`+n.Name+`"} `+strconv.Itoa(local))
	})
}
