package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/houseparty"
	"github.com/shoalhq/shoal/houseparty/httpapi"
	"github.com/shoalhq/shoal/internal/httpget"
	"github.com/shoalhq/shoal/process"
)

func newServer(t *testing.T, greeting string) *httptest.Server {
	t.Helper()
	return newServerReady(t, greeting, nil)
}

func newServerReady(t *testing.T, greeting string, ready func() error) *httptest.Server {
	t.Helper()
	return newServerWith(t, func(c *httpapi.Config) { c.Greeting, c.Ready = greeting, ready })
}

func newServerWith(t *testing.T, configure func(*httpapi.Config)) *httptest.Server {
	t.Helper()
	reg := clustertest.Alone(t, process.Config{Node: "houseparty@127.0.0.1"}, nil)
	party, err := houseparty.New(houseparty.DefaultConfig(), reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.DefaultConfig()
	configure(&cfg)
	api, err := httpapi.New(cfg, party, httpapi.SingleNode("houseparty@127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, jsonAccept bool) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if jsonAccept {
		req.Header.Set("Accept", "application/json")
	}
	return httpget.Do(t, req)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	code, _, body := do(t, http.MethodGet, url, false)
	return code, body
}

type tldr struct {
	Self  string         `json:"self"`
	Nodes []string       `json:"nodes"`
	Stats map[string]any `json:"stats"`
}

func getTLDR(t *testing.T, url string) tldr {
	t.Helper()
	code, hdr, body := do(t, http.MethodGet, url, true)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s (json) = %d %q: %s", url, code, hdr.Get("Content-Type"), body)
	}
	var out tldr
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("decode %s: %v\n%s", url, err, body)
	}
	if out.Nodes == nil {
		t.Fatalf("nodes is not an array: %s", body)
	}
	for _, k := range []string{"total_people", "total_rooms", "people_waiting_to_enter_party", "people_in_rooms",
		"people_left_party", "avg_wanderlust_completion", "avg_fullness", "person_count", "person_max", "room_count", "room_max"} {
		if _, ok := out.Stats[k]; !ok {
			t.Fatalf("stats lack %s: %s", k, body)
		}
	}
	return out
}

func TestHello(t *testing.T) {
	for greeting, want := range map[string]string{"": "world", "v2": "v2"} {
		srv := newServer(t, greeting)
		if code, body := get(t, srv.URL+"/hello"); code != 200 || body != want {
			t.Fatalf("GET /hello = %d %q; want 200 %q", code, body, want)
		}
	}
}

func TestProbes(t *testing.T) {
	var notReady atomic.Pointer[error]
	srv := newServerReady(t, "", func() error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	})
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("GET /healthz = %d %q; want 200 ok", code, body)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 200 || body != "ready" {
		t.Fatalf("GET /readyz = %d %q; want 200 ready", code, body)
	}
	why := errors.New("registry not yet synced: waiting for n1")
	notReady.Store(&why)
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, why.Error()) {
		t.Fatalf("GET /readyz = %d %q; want 503 naming %q", code, body, why)
	}
	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("GET /healthz while not ready = %d; want 200 (alive all the same)", code)
	}
}

func TestTLDRTextAndJSON(t *testing.T) {
	srv := newServer(t, "")
	code, body := get(t, srv.URL+"/stats/tldr")
	want := "self: houseparty@127.0.0.1\nnodes: []\n\n%{avg_fullness: 0.0, avg_wanderlust_completion: 0.0, " +
		"people_in_rooms: 0, people_left_party: 0, people_waiting_to_enter_party: 0, total_people: 0, total_rooms: 0}\n"
	if code != 200 || body != want {
		t.Fatalf("GET /stats/tldr = %d\n%s\nwant\n%s", code, body, want)
	}
	out := getTLDR(t, srv.URL+"/stats/tldr")
	if out.Self != "houseparty@127.0.0.1" || len(out.Nodes) != 0 || out.Stats["total_people"] != 0.0 {
		t.Fatalf("json tldr = %+v", out)
	}
}

func TestScenarios(t *testing.T) {
	srv := newServer(t, "")
	code, body := get(t, srv.URL+"/scenario/small")
	if code != 200 || !strings.Contains(body, "total_people: 100, total_rooms: 5") || !strings.HasPrefix(body, "self: ") {
		t.Fatalf("GET /scenario/small = %d %s", code, body)
	}
	out := getTLDR(t, srv.URL+"/scenario/big")
	if out.Stats["total_people"] != 2000.0 || out.Stats["total_rooms"] != 50.0 || out.Stats["room_max"] != 1250.0 {
		t.Fatalf("big scenario stats %+v", out.Stats)
	}
	out = getTLDR(t, srv.URL+"/scenario/custom?rooms=3&room_max=4&people=7&person_max=2&delay_ms=3600000")
	if out.Stats["total_people"] != 7.0 || out.Stats["total_rooms"] != 3.0 || out.Stats["person_max"] != 14.0 ||
		out.Stats["people_waiting_to_enter_party"] != 7.0 {
		t.Fatalf("custom scenario stats %+v", out.Stats)
	}
}

func TestCustomScenarioValidation(t *testing.T) {
	srv := newServer(t, "")
	// A running party that a bad request must leave alone.
	getTLDR(t, srv.URL+"/scenario/custom?rooms=2&room_max=1&people=3&person_max=1&delay_ms=3600000")
	for query, name := range map[string]string{
		"rooms=1":               "rooms",
		"rooms=x":               "rooms",
		"room_max=0":            "room_max",
		"room_max=100001":       "room_max",
		"people=-1":             "people",
		"people=1.5":            "people",
		"person_max=0":          "person_max",
		"delay_ms=5":            "delay_ms",
		"delay_ms=99999999999":  "delay_ms",
		"delay_ms=":             "delay_ms",
		"rooms=3&rooms=4":       "rooms",
		"colour=blue":           "colour",
		"rooms=3&peeple=10":     "peeple",
		"person_max=1e3":        "person_max",
		"people=100001&rooms=2": "people",
		"rooms=%ZZ":             "malformed",
		"rooms=3;people=7":      "malformed",
	} {
		code, body := get(t, srv.URL+"/scenario/custom?"+query)
		if code != http.StatusBadRequest || !strings.Contains(body, name) {
			t.Errorf("?%s = %d %q; want 400 naming %s", query, code, body, name)
		}
	}
	out := getTLDR(t, srv.URL+"/stats/tldr")
	if out.Stats["total_people"] != 3.0 || out.Stats["total_rooms"] != 2.0 {
		t.Fatalf("a bad request changed the party: %+v", out.Stats)
	}
}

func TestPeopleAndRooms(t *testing.T) {
	srv := newServer(t, "")
	get(t, srv.URL+"/scenario/custom?rooms=2&room_max=3&people=4&person_max=1&delay_ms=3600000")
	code, hdr, body := do(t, http.MethodGet, srv.URL+"/people", false)
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /people = %d %s", code, body)
	}
	var people []map[string]any
	if err := json.Unmarshal([]byte(body), &people); err != nil {
		t.Fatal(err)
	}
	if len(people) != 4 || people[0]["name"] != "person_1" || people[3]["name"] != "person_4" {
		t.Fatalf("people = %v", people)
	}
	for _, p := range people {
		if room, ok := p["room"]; !ok || room != nil {
			t.Fatalf("person before entering must have room null: %v", p)
		}
		if p["node"] != "houseparty@127.0.0.1" || p["count"] != 0.0 || p["max"] != 1.0 {
			t.Fatalf("person fields: %v", p)
		}
	}
	code, body = get(t, srv.URL+"/rooms")
	var rooms []map[string]any
	if err := json.Unmarshal([]byte(body), &rooms); err != nil || code != 200 {
		t.Fatalf("GET /rooms = %d %s (%v)", code, body, err)
	}
	if len(rooms) != 2 || rooms[0]["name"] != "room_1" || rooms[0]["max"] != 3.0 || rooms[0]["count"] != 0.0 ||
		rooms[0]["node"] != "houseparty@127.0.0.1" {
		t.Fatalf("rooms = %v", rooms)
	}
	if ppl, ok := rooms[0]["people"].([]any); !ok || len(ppl) != 0 {
		t.Fatalf("room people must be an empty array: %v", rooms[0])
	}
}

func TestPeopleLeftPartyRoom(t *testing.T) {
	srv := newServer(t, "")
	get(t, srv.URL+"/scenario/custom?rooms=2&room_max=3&people=2&person_max=1&delay_ms=10")
	deadline := time.Now().Add(20 * time.Second)
	for {
		var people []map[string]any
		_, body := get(t, srv.URL+"/people")
		if err := json.Unmarshal([]byte(body), &people); err != nil {
			t.Fatal(err)
		}
		if people[0]["room"] == "left_party" && people[1]["room"] == "left_party" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("people never left: %v", people)
		}
		time.Sleep(10 * time.Millisecond) // polling period
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	srv := newServer(t, "")
	for _, path := range []string{"/", "/nope", "/hello/", "/stats", "/scenario/huge", "/HELLO"} {
		if code, body := get(t, srv.URL+path); code != 404 || body != "not found" {
			t.Errorf("GET %s = %d %q; want 404 not found", path, code, body)
		}
	}
	for _, path := range []string{"/hello", "/scenario/small", "/scenario/big", "/scenario/custom", "/stats/tldr", "/people", "/rooms", "/cluster"} {
		allow := "GET, HEAD"
		methods := []string{http.MethodPost, http.MethodPut, http.MethodDelete}
		if strings.HasPrefix(path, "/scenario/") {
			allow = "GET" // HEAD must not start a party
			methods = append(methods, http.MethodHead)
		}
		for _, m := range methods {
			code, hdr, _ := do(t, m, srv.URL+path, false)
			if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != allow {
				t.Errorf("%s %s = %d allow %q; want 405 allow %q", m, path, code, hdr.Get("Allow"), allow)
			}
		}
	}
	// POST to an unknown path is still 404.
	if code, _, body := do(t, http.MethodPost, srv.URL+"/nope", false); code != 404 || body != "not found" {
		t.Errorf("POST /nope = %d %q", code, body)
	}
	if code, _, _ := do(t, http.MethodHead, srv.URL+"/hello", false); code != 200 {
		t.Errorf("HEAD /hello = %d", code)
	}
}

func TestClusterSingleNode(t *testing.T) {
	srv := newServer(t, "")
	code, hdr, body := do(t, http.MethodGet, srv.URL+"/cluster", false)
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /cluster = %d %s", code, body)
	}
	var out struct {
		Self    string `json:"self"`
		Members []struct {
			Name, Address, Status string
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	if out.Self != "houseparty@127.0.0.1" || len(out.Members) != 1 || out.Members[0].Status != "alive" || out.Members[0].Name != out.Self {
		t.Fatalf("/cluster = %s", body)
	}
}

func TestProcessesPerNode(t *testing.T) {
	srv := newServer(t, "")
	if code, body := get(t, srv.URL+"/scenario/custom?rooms=3&room_max=5&people=7&person_max=2&delay_ms=1000"); code != 200 {
		t.Fatalf("start = %d %s", code, body)
	}
	code, body := get(t, srv.URL+"/cluster")
	var cl struct {
		Members []struct {
			Name      string `json:"name"`
			Processes int    `json:"processes"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(body), &cl); err != nil || code != 200 || len(cl.Members) != 1 || cl.Members[0].Processes != 10 {
		t.Fatalf("GET /cluster = %d %s; want one member running 10 processes", code, body)
	}
	code, body = get(t, srv.URL+"/processes?node=houseparty@127.0.0.1")
	var one struct {
		Node  string   `json:"node"`
		Count int      `json:"count"`
		Names []string `json:"names"`
	}
	if err := json.Unmarshal([]byte(body), &one); err != nil || code != 200 || one.Count != 10 || len(one.Names) != 10 || one.Names[0] != "person_1" {
		t.Fatalf("GET /processes?node= = %d %s", code, body)
	}
	if code, body := get(t, srv.URL+"/processes?node=nobody@nowhere"); code != 404 || !strings.Contains(body, "nobody@nowhere") {
		t.Fatalf("unknown node = %d %s; want 404 naming it", code, body)
	}
	code, body = get(t, srv.URL+"/processes")
	var all []struct {
		Node  string `json:"node"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal([]byte(body), &all); err != nil || code != 200 || len(all) != 1 || all[0].Count != 10 {
		t.Fatalf("GET /processes = %d %s", code, body)
	}
}

// TestAdminToken: with an admin token the routes that change the party
// answer 401 unless the request carries it as a bearer token; the others
// stay open.
func TestAdminToken(t *testing.T) {
	const token = "an-operator-chose-this-token"
	srv := newServerWith(t, func(c *httpapi.Config) { c.AdminToken = token })
	call := func(path, auth string) (int, http.Header, string) {
		t.Helper()
		return httpget.Get(t, srv.URL+path, auth)
	}
	for _, path := range []string{"/scenario/small", "/scenario/big", "/scenario/custom?people=3&rooms=1"} {
		for _, auth := range []string{"", "Bearer wrong-token", token, "Basic " + token, "Bearer " + token + "x"} {
			code, hdr, body := call(path, auth)
			if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("GET %s with Authorization %q = %d %q (WWW-Authenticate %q); want 401", path, auth, code, body, hdr.Get("WWW-Authenticate"))
			}
		}
	}
	if code, _, body := call("/scenario/small", "Bearer "+token); code != http.StatusOK {
		t.Fatalf("GET /scenario/small with the token = %d %s", code, body)
	}
	for _, path := range []string{"/hello", "/stats/tldr", "/people", "/rooms", "/healthz"} {
		if code, _, body := call(path, ""); code != http.StatusOK {
			t.Errorf("GET %s without a token = %d %s; want 200 (only the routes that change the party are protected)", path, code, body)
		}
	}
}
