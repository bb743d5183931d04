package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal/admin"
	"github.com/shoalhq/shoal/admin/api"
	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/process"
)

type idle struct{}

func (idle) HandleCall(context.Context, process.Self, any) (any, error) { return nil, nil }
func (idle) HandleCast(context.Context, process.Self, any)              {}
func (idle) HandleInfo(context.Context, process.Self, any)              {}

// startCluster starts 3 nodes holding 10 names of kind "room" and 5 of kind
// "person", each node serving its operator API with the token derived
// from the cluster's cookie; it returns the APIs' addresses.
func startCluster(t *testing.T) []string {
	t.Helper()
	nodes := clustertest.StartCluster(t, 3, clustertest.Options{Kinds: func() *process.Kinds {
		k := process.NewKinds()
		for _, kind := range []string{"room", "person"} {
			_ = k.Register(kind, func([]byte) (process.Behavior, error) { return idle{}, nil })
		}
		return k
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 15 {
		kind, name := "room", fmt.Sprintf("room-%d", i)
		if i >= 10 {
			kind, name = "person", fmt.Sprintf("person-%d", i)
		}
		if _, err := nodes[i%3].Registry.Register(ctx, name, process.Spec{Kind: kind}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := cookie.Parse(clustertest.DefaultSecret)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, n := range nodes {
		api, err := admin.New(admin.Config{Token: api.Token(c), Members: n.Cluster, Registry: n.Registry})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api.Handler())
		t.Cleanup(srv.Close)
		addrs = append(addrs, strings.TrimPrefix(srv.URL, "http://"))
	}
	clustertest.Eventually(t, 30*time.Second, "every node lists the 15 names", func() bool {
		for _, n := range nodes {
			if es, err := n.Registry.Registered(ctx); err != nil || len(es) != 15 {
				return false
			}
		}
		return true
	})
	return addrs
}

func shoal(env map[string]string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandsAgainstACluster(t *testing.T) {
	addrs := startCluster(t)
	right := map[string]string{"SHOAL_COOKIE": clustertest.DefaultSecret, "SHOAL_ADDR": addrs[1]}
	wrong := map[string]string{"SHOAL_ADMIN_TOKEN": "not-the-cluster-token", "SHOAL_ADDR": addrs[1]}
	for _, c := range []struct {
		args []string
		want func(out string) bool
	}{
		{[]string{"members"}, func(out string) bool {
			return strings.Count(out, "alive") == 3 && strings.Contains(out, "(asked)") && strings.HasPrefix(out, "NODE")
		}},
		{[]string{"whereis", "room-4"}, func(out string) bool { return strings.HasPrefix(out, "room-4 runs on ") }},
		{[]string{"registered", "--count"}, func(out string) bool { return out == "15\n" }},
		{[]string{"registered", "--kind", "person", "--count"}, func(out string) bool { return out == "5\n" }},
		{[]string{"registered", "--kind", "person"}, func(out string) bool { return strings.Count(out, "person-") == 5 }},
		{[]string{"stats"}, func(out string) bool { return strings.Contains(out, "SYNCED") && strings.Contains(out, " yes ") }},
		{[]string{"--json", "registered"}, func(out string) bool {
			var rs []api.Registered
			return json.Unmarshal([]byte(out), &rs) == nil && len(rs) == 15
		}},
		{[]string{"inspect", "room-4"}, func(out string) bool {
			return strings.Contains(out, "kind         room\n") && strings.Contains(out, "mailbox      0\n") &&
				strings.Contains(out, "(its kind does not describe itself)")
		}},
		{[]string{"--json", "inspect", "person-12"}, func(out string) bool {
			var in api.Inspection
			return json.Unmarshal([]byte(out), &in) == nil && in.Name == "person-12" && in.Kind == "person" && in.Generation == 1
		}},
		{[]string{"--json", "whereis", "person-12"}, func(out string) bool {
			var loc api.Location
			return json.Unmarshal([]byte(out), &loc) == nil && loc.Name == "person-12" && loc.ID != 0
		}},
	} {
		code, out, errOut := shoal(right, c.args...)
		t.Logf("shoal %s:\n%s", strings.Join(c.args, " "), out)
		if code != 0 || !c.want(out) {
			t.Errorf("shoal %v: exit %d\n%s%s", c.args, code, out, errOut)
		}
		code, out, errOut = shoal(wrong, c.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, "refused the token (401)") {
			t.Errorf("shoal %v with a wrong token: exit %d, %q %q; want 1 and the refusal", c.args, code, out, errOut)
		}
	}
	// The registered names' nodes, by node.
	code, out, _ := shoal(right, "--json", "registered")
	var rs []api.Registered
	if code != 0 || json.Unmarshal([]byte(out), &rs) != nil {
		t.Fatalf("registered: %d %s", code, out)
	}
	perNode := 0
	for _, addr := range []string{rs[0].Node} {
		code, out, _ := shoal(right, "registered", "--node", addr, "--count")
		if code != 0 {
			t.Fatalf("registered --node: %d", code)
		}
		_, _ = fmt.Sscan(out, &perNode)
	}
	if perNode < 1 || perNode > 15 {
		t.Errorf("registered --node %s --count = %d", rs[0].Node, perNode)
	}
	if code, _, errOut := shoal(right, "whereis", "nobody"); code != 1 || !strings.Contains(errOut, "not registered") {
		t.Errorf("whereis nobody: %d %q", code, errOut)
	}
	if code, _, errOut := shoal(right, "inspect", "nobody"); code != 1 || !strings.Contains(errOut, "not registered") {
		t.Errorf("inspect nobody: %d %q", code, errOut)
	}

	// Drain the node that holds rs[0] (asked of another), last: it
	// changes the cluster.
	victim := rs[0].Node
	if code, out, errOut := shoal(wrong, "drain", victim); code != 1 || out != "" || !strings.Contains(errOut, "refused the token (401)") {
		t.Errorf("drain with a wrong token: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut := shoal(right, "drain", victim)
	if code != 0 || !strings.HasPrefix(out, victim+" drained in ") {
		t.Fatalf("shoal drain %s: exit %d\n%s%s", victim, code, out, errOut)
	}
	t.Logf("shoal drain %s:\n%s", victim, out)
	if code, out, _ := shoal(right, "registered", "--node", victim, "--count"); code != 0 || out != "0\n" {
		t.Errorf("names on %s after its drain: %q", victim, out)
	}
	if code, out, _ := shoal(right, "registered", "--count"); code != 0 || out != "15\n" {
		t.Errorf("names after the drain: %q", out)
	}
}

func TestUsage(t *testing.T) {
	env := map[string]string{"SHOAL_ADMIN_TOKEN": "some-token-some-token"}
	for _, args := range [][]string{nil, {"dance"}, {"whereis"}, {"members", "x"}, {"registered", "--color"}, {"--nope", "members"}, {"inspect"}, {"drain"}, {"drain", "a", "b"}} {
		if code, _, errOut := shoal(env, args...); code != 2 || !strings.Contains(errOut, "usage: shoal") {
			t.Errorf("shoal %v: exit %d %q; want 2 with the usage", args, code, errOut)
		}
	}
	if code, _, errOut := shoal(nil, "members"); code != 1 || !strings.Contains(errOut, "no token") {
		t.Errorf("without a token: %d %q", code, errOut)
	}
	if code, _, errOut := shoal(map[string]string{"SHOAL_COOKIE": "short"}, "members"); code != 1 || !strings.Contains(errOut, "SHOAL_COOKIE") {
		t.Errorf("with a bad cookie: %d %q", code, errOut)
	}
	if code, _, errOut := shoal(map[string]string{"SHOAL_ADMIN_TOKEN": "some-token-some-token", "SHOAL_ADDR": "127.0.0.1:1"}, "members"); code != 1 || !strings.Contains(errOut, "ask http://127.0.0.1:1") {
		t.Errorf("no node there: %d %q", code, errOut)
	}
}
