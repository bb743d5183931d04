package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoalhq/shoal/admin"
	"github.com/shoalhq/shoal/admin/api"
	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/internal/httpget"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

const token = "a-test-admin-token-0123"

type members []cluster.Member

func (m members) Members() []cluster.Member { return m }

type idle struct{}

func (idle) HandleCall(context.Context, process.Self, any) (any, error) { return nil, nil }
func (idle) HandleCast(context.Context, process.Self, any)              {}
func (idle) HandleInfo(context.Context, process.Self, any)              {}

// newAPI serves the API of a single node whose registry holds "x" (kind
// k) and "y" (kind j).
func newAPI(t *testing.T) *httptest.Server {
	t.Helper()
	kinds := process.NewKinds()
	for _, k := range []string{"k", "j"} {
		if err := kinds.Register(k, func([]byte) (process.Behavior, error) { return idle{}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	reg := clustertest.Alone(t, process.Config{Node: "hp@127.0.0.1"}, kinds)
	for name, kind := range map[string]string{"x": "k", "y": "j"} {
		if _, err := reg.Register(context.Background(), name, process.Spec{Kind: kind}); err != nil {
			t.Fatal(err)
		}
	}
	api, err := admin.New(admin.Config{Token: token, Registry: reg,
		Members: members{{Name: "hp@127.0.0.1", Status: cluster.StatusAlive, Self: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	code, _, body := httpget.Get(t, url, auth)
	return code, body
}

func TestEveryRouteNeedsTheToken(t *testing.T) {
	srv := newAPI(t)
	for _, path := range []string{"/admin/members", "/admin/whereis?name=x", "/admin/registered", "/admin/stats", "/admin/inspect?name=x", "/debug/pprof/", "/debug/pprof/cmdline", "/admin/nope"} {
		for _, auth := range []string{"", "Bearer", "Bearer wrong-token-wrong-token", token, "Basic " + token} {
			if code, body := get(t, srv.URL+path, auth); code != http.StatusUnauthorized {
				t.Errorf("GET %s with Authorization %q = %d %q; want 401", path, auth, code, body)
			}
		}
		if code, body := get(t, srv.URL+path, "Bearer "+token); code == http.StatusUnauthorized {
			t.Errorf("GET %s with the token = 401 %q", path, body)
		}
	}
}

// post asks POST url with the Authorization header auth.
func post(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// The drain (a POST: it changes the cluster) needs the token too.
func TestDrainNeedsTheToken(t *testing.T) {
	srv := newAPI(t)
	url := srv.URL + "/admin/drain?node=hp@127.0.0.1"
	for _, auth := range []string{"", "Bearer", "Bearer wrong-token-wrong-token", token, "Basic " + token} {
		if code, body := post(t, url, auth); code != http.StatusUnauthorized {
			t.Errorf("POST drain with Authorization %q = %d %q; want 401", auth, code, body)
		}
	}
	if code, body := post(t, url, "Bearer "+token); code != http.StatusOK {
		t.Errorf("POST drain with the token = %d %q", code, body)
	}
}

func TestRoutes(t *testing.T) {
	srv := newAPI(t)
	auth := "Bearer " + token
	decode := func(path string, want int, v any) {
		t.Helper()
		code, body := get(t, srv.URL+path, auth)
		if code != want {
			t.Fatalf("GET %s = %d %s; want %d", path, code, body, want)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(body), v); err != nil {
				t.Fatalf("GET %s: %v: %s", path, err, body)
			}
		}
	}
	var ms []cluster.Member
	decode("/admin/members", 200, &ms)
	if len(ms) != 1 || ms[0].Name != "hp@127.0.0.1" || ms[0].Status != cluster.StatusAlive {
		t.Fatalf("members %+v", ms)
	}
	var loc api.Location
	decode("/admin/whereis?name=x", 200, &loc)
	if loc.Name != "x" || loc.Node != "hp@127.0.0.1" || loc.ID == 0 {
		t.Fatalf("whereis x: %+v", loc)
	}
	decode("/admin/whereis?name=nobody", 404, nil)
	decode("/admin/whereis", 400, nil)
	for path, want := range map[string]int{"/admin/registered": 2, "/admin/registered?kind=k": 1, "/admin/registered?node=hp@127.0.0.1&kind=j": 1, "/admin/registered?node=other": 0} {
		var rs []api.Registered
		decode(path, 200, &rs)
		if len(rs) != want {
			t.Errorf("%s: %d names %+v, want %d", path, len(rs), rs, want)
		}
	}
	var st api.Stats
	decode("/admin/stats", 200, &st)
	if st.Node != "hp@127.0.0.1" || st.Local != 2 || st.Processes < 2 || st.Members != 1 || st.Synced != "yes" || st.Goroutines == 0 || st.HeapBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	var in api.Inspection
	decode("/admin/inspect?name=x", 200, &in)
	if in.Name != "x" || in.Node != "hp@127.0.0.1" || in.ID != loc.ID || in.Kind != "k" || in.Described || in.Mailbox != 0 {
		t.Fatalf("inspect x: %+v", in)
	}
	decode("/admin/inspect?name=nobody", 404, nil)
	decode("/admin/inspect", 400, nil)
	decode("/admin/drain?node=hp@127.0.0.1", 405, nil) // a GET
	if code, body := post(t, srv.URL+"/admin/drain", auth); code != 400 {
		t.Fatalf("POST /admin/drain without a node = %d %s", code, body)
	}
	var d api.Drained
	if code, body := post(t, srv.URL+"/admin/drain?node=hp@127.0.0.1", auth); code != 200 || json.Unmarshal([]byte(body), &d) != nil || d.Node != "hp@127.0.0.1" {
		t.Fatalf("POST /admin/drain = %d %s", code, body)
	}
	if code, body := post(t, srv.URL+"/admin/drain?node=other@x", auth); code != http.StatusServiceUnavailable || !strings.Contains(body, "single-node") {
		t.Fatalf("POST /admin/drain of a stranger = %d %s", code, body)
	}
	if code, body := get(t, srv.URL+"/debug/pprof/", auth); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ = %d", code)
	}
}

func TestConfigAndToken(t *testing.T) {
	for _, cfg := range []admin.Config{
		{Token: "short", Members: members{}, Registry: &registry.Registry{}},
		{Token: token, Registry: &registry.Registry{}},
		{Token: token, Members: members{}},
	} {
		if _, err := admin.New(cfg); !errors.Is(err, admin.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	a, _ := cookie.Parse("one-cluster-cookie-0123")
	b, _ := cookie.Parse("another-cluster-cookie")
	if api.Token(a) != api.Token(a) || api.Token(a) == api.Token(b) || len(api.Token(a)) != 64 {
		t.Fatalf("tokens %q %q: want the same from one cookie, another from another, 64 hex digits", api.Token(a), api.Token(b))
	}
}
