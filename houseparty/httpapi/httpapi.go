// Package httpapi serves House Party over HTTP: the seed's routes (/hello,
// /scenario/small, /scenario/big, /stats/tldr) in plain text or JSON, and
// beyond the seed a custom scenario and JSON lists of people and rooms.
//
// Every route answers GET (and HEAD); another method gets 405 with an Allow
// header, and an unknown path gets 404 with the body "not found". With
// Config.AdminToken set, the routes that change the party (/scenario/*)
// answer 401 to a request without "Authorization: Bearer <token>".
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/houseparty"
)

// Cluster tells the API which node it runs on and which nodes it is
// connected to. *cluster.Cluster implements it.
type Cluster interface {
	// Name returns this node's name.
	Name() string
	// Nodes returns the names of the other connected nodes.
	Nodes() []string
	// Members returns every member known, this node included.
	Members() []cluster.Member
}

var _ Cluster = (*cluster.Cluster)(nil)

// SingleNode is a Cluster of one node, named by the string.
type SingleNode string

// Name returns the node's name.
func (s SingleNode) Name() string { return string(s) }

// Nodes returns no nodes.
func (SingleNode) Nodes() []string { return nil }

// Members returns the node itself.
func (s SingleNode) Members() []cluster.Member {
	return []cluster.Member{{Name: string(s), Status: cluster.StatusAlive, Self: true}}
}

// Config configures the API.
type Config struct {
	// Greeting is the body of GET /hello; empty means "world".
	Greeting string
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// RequestTimeout bounds the work of one request; 0 means 30s.
	RequestTimeout time.Duration
	// Ready answers GET /readyz: nil means the node may take traffic
	// (200 "ready"), an error is why not (503 with the error). Nil means
	// always ready.
	Ready func() error
	// AdminToken, if set, protects the routes that change the party
	// (/scenario/*): a request must carry "Authorization: Bearer
	// <AdminToken>", or it is answered 401. Empty leaves them open, as
	// the seed's were.
	AdminToken string
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{Greeting: "world", RequestTimeout: 30 * time.Second}
}

// API is the House Party HTTP API. Its handler is safe for concurrent use.
type API struct {
	greeting string
	log      *slog.Logger
	timeout  time.Duration
	party    *houseparty.Party
	cluster  Cluster
	ready    func() error
	admin    string // Config.AdminToken
	routes   map[string]route
}

// route is a handler and whether it changes state (then HEAD is refused:
// a HEAD must not start a party).
type route struct {
	h       http.HandlerFunc
	changes bool
}

// New returns the API for party on cluster.
func New(cfg Config, party *houseparty.Party, cluster Cluster) (*API, error) {
	if party == nil || cluster == nil {
		return nil, errors.New("new http api: party and cluster are required")
	}
	a := &API{
		greeting: cfg.Greeting,
		log:      cfg.Logger,
		timeout:  cfg.RequestTimeout,
		party:    party,
		cluster:  cluster,
		ready:    cfg.Ready,
		admin:    cfg.AdminToken,
	}
	if a.ready == nil {
		a.ready = func() error { return nil }
	}
	if a.greeting == "" {
		a.greeting = "world"
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.timeout <= 0 {
		a.timeout = 30 * time.Second
	}
	a.routes = map[string]route{
		"/hello":           {h: a.hello},
		"/healthz":         {h: a.healthz},
		"/readyz":          {h: a.readyz},
		"/scenario/small":  {h: a.scenario(func(url.Values) (houseparty.Scenario, error) { return houseparty.Small, nil }), changes: true},
		"/scenario/big":    {h: a.scenario(func(url.Values) (houseparty.Scenario, error) { return houseparty.Big, nil }), changes: true},
		"/scenario/custom": {h: a.scenario(parseCustom), changes: true},
		"/stats/tldr":      {h: a.tldr},
		"/people":          {h: a.people},
		"/rooms":           {h: a.rooms},
		"/cluster":         {h: a.members},
		"/processes":       {h: a.processes},
	}
	return a, nil
}

// Handler returns the API's HTTP handler.
func (a *API) Handler() http.Handler { return http.HandlerFunc(a.serve) }

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	rt, ok := a.routes[r.URL.Path]
	if !ok {
		text(w, http.StatusNotFound, "not found")
		return
	}
	if rt.changes && !a.admitted(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="houseparty"`)
		text(w, http.StatusUnauthorized, "unauthorized: this route needs Authorization: Bearer <HOUSEPARTY_ADMIN_TOKEN>")
		return
	}
	allowed := r.Method == http.MethodGet || (r.Method == http.MethodHead && !rt.changes)
	if !allowed {
		if rt.changes {
			w.Header().Set("Allow", "GET")
		} else {
			w.Header().Set("Allow", "GET, HEAD")
		}
		text(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	// A party being set up must not be cut short by a client that goes
	// away: the work runs to its own deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.timeout)
	defer cancel()
	rt.h(w, r.WithContext(ctx))
}

// admitted reports whether r may use a route that changes the party:
// always without an admin token, else only with it (compared in
// constant time).
func (a *API) admitted(r *http.Request) bool {
	if a.admin == "" {
		return true
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(token), []byte(a.admin)) == 1
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("request failed", "path", r.URL.Path, "err", err)
	text(w, http.StatusInternalServerError, "internal error: "+err.Error())
}

func (a *API) hello(w http.ResponseWriter, _ *http.Request) {
	text(w, http.StatusOK, a.greeting)
}

// healthz is the liveness probe: the node's HTTP server answers.
func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	text(w, http.StatusOK, "ok")
}

// readyz is the readiness probe: Config.Ready.
func (a *API) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := a.ready(); err != nil {
		text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	text(w, http.StatusOK, "ready")
}

func (a *API) scenario(parse func(url.Values) (houseparty.Scenario, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			text(w, http.StatusBadRequest, "malformed query: "+err.Error())
			return
		}
		s, err := parse(q)
		if err == nil {
			err = s.Validate()
		}
		if err != nil {
			text(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := a.party.Start(r.Context(), s); err != nil {
			a.fail(w, r, err)
			return
		}
		a.tldr(w, r)
	}
}

// Custom scenario parameters and their defaults (the small scenario's).
var customParams = []string{"rooms", "room_max", "people", "person_max", "delay_ms"}

func parseCustom(q url.Values) (houseparty.Scenario, error) {
	for k := range q {
		known := false
		for _, p := range customParams {
			known = known || k == p
		}
		if !known {
			return houseparty.Scenario{}, fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(customParams, ", "))
		}
	}
	s := houseparty.Small
	delayMS := int(s.WanderDelay.Milliseconds())
	for _, f := range []struct {
		name string
		dst  *int
	}{
		{"rooms", &s.Rooms}, {"room_max", &s.RoomMax}, {"people", &s.People},
		{"person_max", &s.PersonMax}, {"delay_ms", &delayMS},
	} {
		vs, ok := q[f.name]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return houseparty.Scenario{}, fmt.Errorf("parameter %s given %d times", f.name, len(vs))
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil {
			return houseparty.Scenario{}, fmt.Errorf("parameter %s: %q is not a whole number", f.name, vs[0])
		}
		*f.dst = n
	}
	if delayMS < int(houseparty.MinWanderDelay.Milliseconds()) || delayMS > int(houseparty.MaxWanderDelay.Milliseconds()) {
		return houseparty.Scenario{}, fmt.Errorf("%w: delay_ms must be between %d and %d, got %d", houseparty.ErrInvalidScenario,
			houseparty.MinWanderDelay.Milliseconds(), houseparty.MaxWanderDelay.Milliseconds(), delayMS)
	}
	s.WanderDelay = time.Duration(delayMS) * time.Millisecond
	return s, nil
}

// tldrJSON is the JSON form of /stats/tldr.
type tldrJSON struct {
	Self  string           `json:"self"`
	Nodes []string         `json:"nodes"`
	Stats houseparty.Stats `json:"stats"`
}

func (a *API) tldr(w http.ResponseWriter, r *http.Request) {
	st, err := a.party.Stats(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	nodes := a.cluster.Nodes()
	if nodes == nil {
		nodes = []string{}
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, tldrJSON{Self: a.cluster.Name(), Nodes: nodes, Stats: st})
		return
	}
	text(w, http.StatusOK, TLDRText(a.cluster.Name(), nodes, st))
}

// TLDRText renders the stats as the seed's plain text: this node, the
// connected nodes, and the stats as one map, keys in alphabetical order.
func TLDRText(self string, nodes []string, st houseparty.Stats) string {
	return fmt.Sprintf("self: %s\nnodes: [%s]\n\n%%{avg_fullness: %.1f, avg_wanderlust_completion: %.1f, "+
		"people_in_rooms: %d, people_left_party: %d, people_waiting_to_enter_party: %d, "+
		"total_people: %d, total_rooms: %d}\n",
		self, strings.Join(nodes, ", "),
		st.AvgFullness, st.AvgWanderlustCompletion,
		st.PeopleInRooms, st.PeopleLeftParty, st.PeopleWaitingToEnterParty,
		st.TotalPeople, st.TotalRooms)
}

func (a *API) people(w http.ResponseWriter, r *http.Request) {
	people, err := a.party.People(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, people)
}

func (a *API) rooms(w http.ResponseWriter, r *http.Request) {
	rooms, err := a.party.Rooms(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rooms)
}

// clusterJSON is the JSON form of /cluster.
type clusterJSON struct {
	Self    string       `json:"self"`
	Members []memberJSON `json:"members"`
}

// memberJSON is a member with the number of registered processes it runs.
type memberJSON struct {
	cluster.Member
	Processes int `json:"processes"`
}

func (a *API) members(w http.ResponseWriter, r *http.Request) {
	byNode, err := a.party.Placement(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := clusterJSON{Self: a.cluster.Name(), Members: []memberJSON{}}
	for _, m := range a.cluster.Members() {
		out.Members = append(out.Members, memberJSON{Member: m, Processes: len(byNode[m.Name])})
	}
	writeJSON(w, http.StatusOK, out)
}

// processesJSON is the JSON form of /processes?node=NAME.
type processesJSON struct {
	Node  string   `json:"node"`
	Count int      `json:"count"`
	Names []string `json:"names"`
}

// processes lists the registered names a node runs (?node=NAME), or, with
// no node given, every node's.
func (a *API) processes(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		text(w, http.StatusBadRequest, "bad query: "+err.Error())
		return
	}
	byNode, err := a.party.Placement(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !q.Has("node") {
		all := []processesJSON{}
		for _, m := range a.cluster.Members() {
			all = append(all, processesJSON{Node: m.Name, Count: len(byNode[m.Name]), Names: orEmpty(byNode[m.Name])})
		}
		writeJSON(w, http.StatusOK, all)
		return
	}
	node := q.Get("node")
	names, known := byNode[node]
	if !known {
		for _, m := range a.cluster.Members() {
			known = known || m.Name == node
		}
	}
	if !known {
		text(w, http.StatusNotFound, fmt.Sprintf("no node %q in the cluster (see /cluster)", node))
		return
	}
	writeJSON(w, http.StatusOK, processesJSON{Node: node, Count: len(names), Names: orEmpty(names)})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
