// Package e2e_test runs House Party as a cluster of Docker containers
// (deploy/compose.yaml, the image `make image` builds) and puts it through
// what a rollout and the network do to it: scale-out, a rolling update
// with SIGTERM, a SIGKILL, a SIGKILL followed at once by a restart at the
// same address, a partition and its heal, all while a party runs. It runs
// only when SHOAL_E2E=1 (`make e2e` sets it, after building the image);
// otherwise it skips.
//
// Traffic goes only to the containers, at their addresses on the test's
// own Docker network. Everything the test created is removed when it ends,
// pass or fail.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The party: 50 rooms, 2,000 people who each try personMax rooms, one move
// every wanderMS on average: a few minutes, long enough for everything
// below to happen while it runs.
const (
	rooms     = 50
	roomMax   = 50
	people    = 2000
	personMax = 60
	wanderMS  = 3000
	processes = rooms + people
)

// Images: the one `make image` built, and a v2 (built with the tag
// houseparty_v2: a person's state has a field more; another greeting).
const (
	imageV1 = "shoal/houseparty:latest"
	imageV2 = "shoal/houseparty:e2e-v2"
)

// env is one test's compose project.
type env struct {
	t       *testing.T
	root    string // repository root
	project string
	port    string   // the entry node's published HTTP port, on 127.0.0.1
	vars    []string // compose variables
	netName string
	http    *http.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Getenv("SHOAL_E2E") != "1" {
		t.Skip("SHOAL_E2E is not 1: run `make e2e`, which builds the image first")
	}
	for _, tool := range []string{"docker", "docker-compose"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	project := fmt.Sprintf("shoale2e%x", suffix)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cookieEnv := filepath.Join(t.TempDir(), "cookie.env")
	if err := os.WriteFile(cookieEnv, []byte("SHOAL_COOKIE="+base64.StdEncoding.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	e := &env{
		t: t, root: root, project: project, netName: project + "_party", port: port,
		vars: []string{
			"HOUSEPARTY_COOKIE_ENV=" + cookieEnv,
			"HOUSEPARTY_PORT=" + port,
			// A subnet of its own, picked from the suffix, so that runs
			// left behind do not collide; in 198.18.0.0/15, the range
			// set aside for tests (see deploy/compose.yaml).
			fmt.Sprintf("HOUSEPARTY_SUBNET=198.19.%d.0/24", 100+int(suffix[0])%100),
		},
		http: &http.Client{Timeout: 10 * time.Second},
	}
	t.Cleanup(e.down)
	return e
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// run runs a command with the compose variables, bounded in time, and
// returns its output; a failure fails the test.
func (e *env) run(timeout time.Duration, image string, name string, args ...string) string {
	e.t.Helper()
	out, err := e.try(timeout, image, name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) try(timeout time.Duration, image string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Env = append(append(os.Environ(), e.vars...), "HOUSEPARTY_IMAGE="+image)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (e *env) compose(image string, args ...string) string {
	e.t.Helper()
	return e.run(3*time.Minute, image, "docker-compose", append([]string{"-f", "deploy/compose.yaml", "-p", e.project}, args...)...)
}

// down removes every container, network and volume of the project. If
// SHOAL_E2E_LOGS names a directory, each container's whole log is written
// there first (as NAME.log), pass or fail.
func (e *env) down() {
	if dir := os.Getenv("SHOAL_E2E_LOGS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e.t.Errorf("logs: %v", err)
		}
		for _, c := range e.containers(true) {
			out, _ := e.try(time.Minute, imageV1, "docker", "logs", c.id)
			if err := os.WriteFile(filepath.Join(dir, c.name+".log"), []byte(out), 0o644); err != nil {
				e.t.Errorf("logs: %v", err)
			}
		}
		e.t.Logf("the containers' logs are in %s", dir)
	}
	if e.t.Failed() {
		for _, c := range e.containers(true) {
			out, _ := e.try(time.Minute, imageV1, "docker", "logs", "--tail", "30", c.id)
			e.t.Logf("last logs of %s (%s):\n%s", c.name, c.ip, out)
		}
	}
	out, err := e.try(3*time.Minute, imageV1, "docker-compose", "-f", "deploy/compose.yaml", "-p", e.project, "down", "-v", "--remove-orphans", "-t", "5")
	if err != nil {
		e.t.Errorf("tear down: %v\n%s", err, out)
	}
}

// container is one node's container.
type container struct {
	id, name, ip, image, service string
}

func (c container) url(path string) string { return "http://" + net.JoinHostPort(c.ip, "4001") + path }
func (c container) node() string           { return "houseparty@" + c.ip }

// containers lists the project's running containers (all of them with
// stopped true), sorted by name.
func (e *env) containers(stopped bool) []container {
	args := []string{"ps", "-q", "--filter", "label=com.docker.compose.project=" + e.project}
	if stopped {
		args = append(args, "-a")
	}
	out, err := e.try(time.Minute, imageV1, "docker", args...)
	if err != nil {
		e.t.Logf("docker ps: %v %s", err, out)
		return nil
	}
	var cs []container
	for _, id := range strings.Fields(out) {
		format := `{{.Name}}|{{.Config.Image}}|{{index .Config.Labels "com.docker.compose.service"}}|{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}`
		info, err := e.try(time.Minute, imageV1, "docker", "inspect", "-f", format, id)
		if err != nil {
			continue // gone meanwhile
		}
		f := strings.Split(strings.TrimSpace(info), "|")
		if len(f) != 4 {
			continue
		}
		cs = append(cs, container{id: id, name: strings.TrimPrefix(f[0], "/"), image: f[1], service: f[2], ip: f[3]})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	return cs
}

// get fetches url and decodes JSON into v (when not nil); it returns the
// body and status.
func (e *env) get(url string, v any) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, string(b), fmt.Errorf("decode %s: %w", url, err)
		}
	}
	return resp.StatusCode, string(b), nil
}

// eventually polls cond until it holds or d passes, and returns how long
// it took; on timeout the test fails with cond's last word.
func (e *env) eventually(d time.Duration, what string, cond func() (bool, string)) time.Duration {
	e.t.Helper()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > d {
			e.t.Fatalf("%s: not after %v: %s", what, d, state)
		}
		time.Sleep(200 * time.Millisecond) // polling period
	}
}

type member struct {
	Name        string `json:"name"`
	Status      string `json:"status"`
	Incarnation uint64 `json:"incarnation"`
	Processes   int    `json:"processes"`
}

// members returns the members c knows, itself included.
func (e *env) members(c container) ([]member, error) {
	var out struct {
		Members []member `json:"members"`
	}
	code, body, err := e.get(c.url("/cluster"), &out)
	if err != nil || code != 200 {
		return nil, fmt.Errorf("/cluster on %s: %d %s %v", c.name, code, body, err)
	}
	return out.Members, nil
}

// incarnation returns the incarnation of node that c sees alive (0 if it
// does not see node alive).
func (e *env) incarnation(c container, node string) (uint64, error) {
	ms, err := e.members(c)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		if m.Name == node && m.Status == "alive" {
			return m.Incarnation, nil
		}
	}
	return 0, nil
}

// alive returns the members c sees alive.
func (e *env) alive(c container) ([]string, error) {
	ms, err := e.members(c)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range ms {
		if m.Status == "alive" {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// formed reports whether every container in cs sees exactly cs alive and
// is ready.
func (e *env) formed(cs []container) (bool, string) {
	var want []string
	for _, c := range cs {
		want = append(want, c.node())
	}
	slices.Sort(want)
	for _, c := range cs {
		got, err := e.alive(c)
		if err != nil {
			return false, err.Error()
		}
		if !slices.Equal(got, want) {
			return false, fmt.Sprintf("%s sees %v, want %v", c.name, got, want)
		}
		if code, body, err := e.get(c.url("/readyz"), nil); code != 200 {
			return false, fmt.Sprintf("%s /readyz: %d %s %v", c.name, code, body, err)
		}
	}
	return true, ""
}

// local asks each container which registered processes it runs itself.
// It returns, by name, the nodes running it.
func (e *env) local(cs []container) (map[string][]string, error) {
	where := map[string][]string{}
	for _, c := range cs {
		var out struct {
			Names []string `json:"names"`
		}
		code, body, err := e.get(c.url("/processes?node="+c.node()), &out)
		if err != nil || code != 200 {
			return nil, fmt.Errorf("/processes on %s: %d %s %v", c.name, code, body, err)
		}
		for _, n := range out.Names {
			where[n] = append(where[n], c.node())
		}
	}
	return where, nil
}

// onePerName reports whether the containers together run exactly one
// process for each of the party's names.
func (e *env) onePerName(cs []container) (bool, string) {
	where, err := e.local(cs)
	if err != nil {
		return false, err.Error()
	}
	var dup []string
	for n, nodes := range where {
		if len(nodes) > 1 {
			dup = append(dup, fmt.Sprintf("%s on %v", n, nodes))
		}
	}
	if len(dup) > 0 {
		return false, fmt.Sprintf("%d names run twice, e.g. %v", len(dup), dup[:min(3, len(dup))])
	}
	if len(where) != processes {
		return false, fmt.Sprintf("%d processes run, want %d%s", len(where), processes, e.whereMissing(cs, where))
	}
	return true, ""
}

// whereMissing says, for a few names that no container runs, where the
// first container's registry places them (a node it still lists, or
// nowhere).
func (e *env) whereMissing(cs []container, where map[string][]string) string {
	var all []struct {
		Node  string   `json:"node"`
		Names []string `json:"names"`
	}
	if code, _, err := e.get(cs[0].url("/processes"), &all); err != nil || code != 200 {
		return ""
	}
	at := map[string]string{}
	for _, n := range all {
		for _, name := range n.Names {
			at[name] = n.Node
		}
	}
	var out []string
	for i := range processes {
		name := fmt.Sprintf("person_%d", i+1)
		if i >= people {
			name = fmt.Sprintf("room_%d", i-people+1)
		}
		if _, ok := where[name]; ok {
			continue
		}
		node := at[name]
		if node == "" {
			node = "no node"
		}
		out = append(out, fmt.Sprintf("%s on %s", name, node))
		if len(out) == 5 {
			break
		}
	}
	return fmt.Sprintf("; %s lists %d names, missing e.g. %v", cs[0].name, len(at), out)
}

// spread reports whether the containers run one process per name, and
// every one of them some.
func (e *env) spread(cs []container) (bool, string) {
	if ok, why := e.onePerName(cs); !ok {
		return false, why
	}
	where, err := e.local(cs)
	if err != nil {
		return false, err.Error()
	}
	per := map[string]int{}
	for _, nodes := range where {
		per[nodes[0]]++
	}
	return len(per) == len(cs), fmt.Sprintf("processes per node: %v", per)
}

// listsAll reports whether every container's registry lists every one of
// the party's names (on the node that runs it).
func (e *env) listsAll(cs []container) (bool, string) {
	for _, c := range cs {
		var all []struct {
			Count int `json:"count"`
		}
		code, body, err := e.get(c.url("/processes"), &all)
		if err != nil || code != 200 {
			return false, fmt.Sprintf("/processes on %s: %d %s %v", c.name, code, body, err)
		}
		n := 0
		for _, p := range all {
			n += p.Count
		}
		if n != processes {
			return false, fmt.Sprintf("%s lists %d names, want %d", c.name, n, processes)
		}
	}
	return true, ""
}

// answers reports whether every name answers a call from every container:
// /people and /rooms call each person and each room by name (the
// registry's MultiCall over the group) and fail if one does not answer.
// The containers are asked at the same time.
func (e *env) answers(cs []container) (bool, string) {
	why := make([]string, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			var ps []person
			if code, body, err := e.get(c.url("/people"), &ps); err != nil || code != 200 {
				why[i] = fmt.Sprintf("/people on %s: %d %s %v", c.name, code, strings.TrimSpace(body), err)
				return
			}
			var rs []room
			if code, body, err := e.get(c.url("/rooms"), &rs); err != nil || code != 200 {
				why[i] = fmt.Sprintf("/rooms on %s: %d %s %v", c.name, code, strings.TrimSpace(body), err)
				return
			}
			if len(ps) != people || len(rs) != rooms {
				why[i] = fmt.Sprintf("%s: %d people and %d rooms answered, want %d and %d", c.name, len(ps), len(rs), people, rooms)
			}
		})
	}
	wg.Wait()
	for _, w := range why {
		if w != "" {
			return false, w
		}
	}
	return true, ""
}

// settled reports whether cs form one cluster, run one process per name,
// every node's registry lists every name, and every name answers from
// every node; what is still wrong is prefixed with the check that failed.
func (e *env) settled(cs []container) (bool, string) {
	checks := []struct {
		what string
		cond func([]container) (bool, string)
	}{
		{"formed", e.formed},
		{"one per name", e.onePerName},
		{"every node lists every name", e.listsAll},
		{"every name answers", e.answers},
	}
	for _, c := range checks {
		if ok, why := c.cond(cs); !ok {
			return false, c.what + ": " + why
		}
	}
	return true, ""
}

// within polls cond (with eventually, for up to limit) from t0 and returns
// how long after t0 it first held. If that is over bound it calls fail
// (t.Fatalf or t.Errorf) with what was still wrong at the bound and at the
// last poll that failed. Each time the check that fails changes, it logs
// how long after t0, so that a slow heal shows which part was slow.
func (e *env) within(t0 time.Time, bound, limit time.Duration, what string, fail func(string, ...any), cond func() (bool, string)) time.Duration {
	e.t.Helper()
	var atBound, last, part string
	var lastAt, poll time.Duration
	polls := 0
	e.eventually(limit-time.Since(t0), what, func() (bool, string) {
		polls++
		began := time.Now()
		ok, why := cond()
		at := time.Since(t0)
		poll = time.Since(began)
		if ok {
			return true, ""
		}
		if p, _, _ := strings.Cut(why, ":"); p != part {
			part = p
			e.t.Logf("%s: +%v still %s", what, at.Round(time.Millisecond), why)
		}
		if at <= bound {
			atBound = why
		}
		last, lastAt = why, at
		return false, fmt.Sprintf("%v after the start: %s", at.Round(time.Millisecond), why)
	})
	took := time.Since(t0)
	if atBound == "" {
		atBound = "(no poll had ended by then)"
	}
	e.t.Logf("%s: held %v after the start, at poll %d, which took %v", what, took.Round(time.Millisecond), polls, poll.Round(time.Millisecond))
	if took > bound {
		fail("%s took %v (bound %v; %d polls); at the bound still %s; last wrong %v after the start: %s",
			what, took.Round(time.Millisecond), bound, polls, atBound, lastAt.Round(time.Millisecond), last)
	}
	return took
}

type person struct {
	Name   string  `json:"name"`
	Node   string  `json:"node"`
	Room   *string `json:"room"`
	Status string  `json:"status"`
	Count  int     `json:"count"`
}

type room struct {
	Name   string   `json:"name"`
	Count  int      `json:"count"`
	Max    int      `json:"max"`
	People []string `json:"people"`
}

// sampler samples /people and /rooms from a live node while the party
// runs, and records every violation: an attempt count that went
// backwards, a total other than 2,000 people and 50 rooms, a room over
// capacity, a person in two rooms, a person who says it is in a room
// that does not list it. The rooms are checked after the partition's heal
// too: House Party reconciles the rooms' merged lists with the people
// (issue 10's item 8).
type sampler struct {
	e *env

	mu     sync.Mutex
	from   []container // where to sample
	paused bool        // a node was cut off: its processes restart on the other side
	merged bool        // after a heal, until the rooms reconcile (see looseRooms)
	// recovering: a node was killed; its people and rooms are missing
	// from the lists until they run again from their checkpoints, but a
	// count must still never go back (see recover).
	recovering bool
	graceUntil time.Time // rooms and people may disagree until then
	// recoveredAt is when the cluster last recovered from a kill: a
	// person that said then that it was in a room not listing it must
	// agree with its room by graceUntil.
	recoveredAt time.Time
	// strays counts the people who disagreed with their room at the last
	// recovery; lastAgreed is when the last of them agreed again.
	strays     map[string]bool
	lastAgreed time.Time
	last       map[string]int
	// twice holds the people seen in two rooms in the last sample: a
	// sample reads the rooms one by one, not at one instant, so a person
	// who moved between two reads shows in both; a person still listed
	// in the same two rooms a sample (a second) later is a real double
	// listing.
	twice      map[string]string
	astray     map[string]astray // people whose room does not list them, since when
	samples    int
	violations []string
}

// astray is a person that says it is in a room that does not list it.
type astray struct {
	room  string
	since time.Time
}

// astrayFor bounds how long a person may say it is in a room that does
// not list it: its next move (wanderMS on average, twice that to be
// safe) after a call whose answer it missed (the room acted; the answer
// timed out, 5 s) repairs it.
const astrayFor = 2*wanderMS*time.Millisecond + 5*time.Second

func (s *sampler) setFrom(cs []container) {
	s.mu.Lock()
	s.from = cs
	s.mu.Unlock()
}

// pause stops checking: after a SIGKILL (or while a node is cut off) the
// lost node's people and rooms start again from their specs on the others,
// their state lost with it, and they are missing from the lists until
// they do.
func (s *sampler) pause() {
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
}

// recover is for a SIGKILL: samples that miss people or rooms (the
// killed node's, until they run again elsewhere from their checkpoints)
// are skipped, but counts are compared with those seen before the kill:
// with checkpoints (sync) no count goes back. recovered ends it, and
// gives rooms and people agree, within, to agree again.
func (s *sampler) recover() {
	s.mu.Lock()
	s.recovering = true
	s.mu.Unlock()
}

func (s *sampler) recovered(agree time.Duration) {
	s.mu.Lock()
	s.recovering = false
	s.recoveredAt = time.Now()
	s.strays, s.lastAgreed = map[string]bool{}, time.Time{}
	s.graceUntil = s.recoveredAt.Add(agree)
	s.mu.Unlock()
}

// looseRooms stops checking the rooms' lists: on a heal each room keeps
// the union of both sides' lists (up to its max), so a person who moved on
// one side stays listed in its old room too, until that room checks its
// list with the people on it (House Party does so a quarter of a room's
// check period after a merge). strictRooms checks them again.
func (s *sampler) looseRooms() {
	s.mu.Lock()
	s.merged = true
	s.mu.Unlock()
}

// strictRooms checks the rooms' lists again (after looseRooms).
func (s *sampler) strictRooms() {
	s.mu.Lock()
	s.merged = false
	s.twice = nil
	s.mu.Unlock()
}

// resume checks again, from the counts seen next.
func (s *sampler) resume() {
	s.mu.Lock()
	s.paused = false
	s.last = map[string]int{}
	s.mu.Unlock()
}

func (s *sampler) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.violations) < 20 {
		s.violations = append(s.violations, time.Now().UTC().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

func (s *sampler) sample(i int) {
	s.mu.Lock()
	from, paused, recovering := s.from, s.paused, s.recovering
	s.mu.Unlock()
	if len(from) == 0 || paused {
		return
	}
	c := from[i%len(from)]
	var ps []person
	if code, _, err := s.e.get(c.url("/people"), &ps); err != nil || code != 200 {
		return // that node is on its way out; the next sample goes elsewhere
	}
	var rs []room
	if code, _, err := s.e.get(c.url("/rooms"), &rs); err != nil || code != 200 {
		return
	}
	if recovering && (len(ps) != people || len(rs) != rooms) {
		return // the killed node's people or rooms not running again yet
	}
	if len(ps) != people {
		s.violate("%s lists %d people, want %d", c.name, len(ps), people)
	}
	if len(rs) != rooms {
		s.violate("%s lists %d rooms, want %d", c.name, len(rs), rooms)
	}
	s.mu.Lock()
	merged := s.merged
	grace := recovering || time.Now().Before(s.graceUntil)
	recoveredAt := s.recoveredAt
	s.mu.Unlock()
	in := map[string]string{}
	twice := map[string]string{}
	for _, r := range rs {
		if merged {
			break
		}
		if r.Count > r.Max || len(r.People) > r.Max {
			s.violate("room %s holds %d of %d", r.Name, r.Count, r.Max)
		}
		for _, p := range r.People {
			if other, ok := in[p]; ok {
				twice[p] = other + " and " + r.Name
			}
			in[p] = r.Name
		}
	}
	// A person who says it is in a room that does not list it, for
	// longer than astrayFor.
	s.mu.Lock()
	prevAstray := s.astray
	s.mu.Unlock()
	now := time.Now()
	lost := map[string]astray{}
	for _, p := range ps {
		if merged || p.Status != "in_room" || p.Room == nil || in[p.Name] == *p.Room {
			continue
		}
		a := astray{room: *p.Room, since: now}
		if was, ok := prevAstray[p.Name]; ok && was.room == a.room {
			a.since = was.since
		}
		lost[p.Name] = a
	}
	s.mu.Lock()
	prev := s.twice
	s.twice, s.astray = twice, lost
	if !merged && !recoveredAt.IsZero() {
		for p, a := range prevAstray {
			if !a.since.After(recoveredAt) {
				s.strays[p] = true
				if _, still := lost[p]; !still {
					s.lastAgreed = now
				}
			}
		}
	}
	s.mu.Unlock()
	for p, rooms := range twice {
		if prev[p] == rooms && !grace {
			s.violate("%s is in %s (two samples in a row, on %s)", p, rooms, c.name)
		}
	}
	for p, a := range lost {
		switch {
		case grace:
		case now.Sub(a.since) > astrayFor:
			s.violate("%s says it is in %s, which has not listed it for %v (on %s)", p, a.room, now.Sub(a.since).Round(time.Second), c.name)
		case !recoveredAt.IsZero() && !a.since.After(recoveredAt):
			s.violate("%s says it is in %s, which has not listed it since before the recovery from the kill, %v before: they do not agree %v after it (on %s)",
				p, a.room, recoveredAt.Sub(a.since).Round(100*time.Millisecond), now.Sub(recoveredAt).Round(100*time.Millisecond), c.name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		return
	}
	s.samples++
	for _, p := range ps {
		if prev, ok := s.last[p.Name]; ok && p.Count < prev && len(s.violations) < 20 {
			s.violations = append(s.violations, time.Now().UTC().Format("15:04:05.000 ")+fmt.Sprintf("%s's attempts went from %d to %d (sampled on %s)", p.Name, prev, p.Count, c.name))
		}
		s.last[p.Name] = p.Count
	}
}

// run samples until stop closes.
func (s *sampler) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
			s.sample(i)
		}
	}
}

func (s *sampler) check(t *testing.T, phase string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.violations) > 0 {
		t.Fatalf("%s: %d violations, e.g.:\n%s", phase, len(s.violations), strings.Join(s.violations, "\n"))
	}
	if len(s.strays) > 0 && !s.lastAgreed.IsZero() {
		t.Logf("%s: since the last recovery from a kill, %d people disagreed with their rooms; the last agreed %v after it", phase, len(s.strays), s.lastAgreed.Sub(s.recoveredAt).Round(100*time.Millisecond))
	}
}

func (s *sampler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// doubles asks each container for the rooms and returns the people listed
// in two rooms and the rooms over capacity, by what is wrong.
func (e *env) doubles(cs []container) (map[string]string, error) {
	bad := map[string]string{}
	for _, c := range cs {
		var rs []room
		if code, body, err := e.get(c.url("/rooms"), &rs); err != nil || code != 200 {
			return nil, fmt.Errorf("/rooms on %s: %d %s %v", c.name, code, body, err)
		}
		in := map[string]string{}
		for _, r := range rs {
			if r.Count > r.Max || len(r.People) > r.Max {
				bad[r.Name] = fmt.Sprintf("holds %d of %d (on %s)", r.Count, r.Max, c.name)
			}
			for _, p := range r.People {
				if other, ok := in[p]; ok {
					bad[p] = fmt.Sprintf("in %s and %s (on %s)", other, r.Name, c.name)
				}
				in[p] = r.Name
			}
		}
	}
	return bad, nil
}

// byService returns the containers of one compose service.
func (e *env) byService(cs []container, service string) []container {
	var out []container
	for _, c := range cs {
		if c.service == service {
			out = append(out, c)
		}
	}
	return out
}

func without(cs []container, gone container) []container {
	var out []container
	for _, c := range cs {
		if c.id != gone.id {
			out = append(out, c)
		}
	}
	return out
}

func TestClusterInContainers(t *testing.T) {
	e := newEnv(t)
	began := time.Now()
	step := func(format string, args ...any) {
		t.Logf("checked: "+format, args...)
	}
	// The v2 image: the binary built with the tag houseparty_v2 (people
	// hand on a state with a field more), another greeting.
	bin := filepath.Join(e.root, "bin", "image-v2")
	if _, err := os.Stat(filepath.Join(bin, "houseparty")); err != nil {
		t.Fatalf("no v2 binary in %s: make e2e builds it (scripts/e2e.sh): %v", bin, err)
	}
	e.run(5*time.Minute, imageV1, "docker", "build", "-q", "--build-arg", "GREETING=v2", "-f", "deploy/Dockerfile", "-t", imageV2, bin)

	// 1. Three nodes find each other through Docker's DNS.
	start := time.Now()
	e.compose(imageV1, "up", "-d")
	var cs []container
	took := e.eventually(60*time.Second, "3 containers form a cluster", func() (bool, string) {
		cs = e.containers(false)
		if len(cs) != 3 {
			return false, fmt.Sprintf("%d containers", len(cs))
		}
		return e.formed(cs)
	})
	step("3 containers formed one cluster, every node ready, %v after `up` returned (%v in all)", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	testRange := netip.MustParsePrefix("198.18.0.0/15")
	for _, c := range cs {
		if ip, err := netip.ParseAddr(c.ip); err != nil || !testRange.Contains(ip) {
			t.Fatalf("%s has address %q, want one in %v, the range set aside for tests", c.name, c.ip, testRange)
		}
	}
	step("the containers' addresses are in %v", testRange)
	entry := e.byService(cs, "entry")[0]
	if code, body, err := e.get("http://127.0.0.1:"+e.port+"/hello", nil); err != nil || code != 200 || body != "world" {
		t.Fatalf("published port %s: /hello = %d %q %v", e.port, code, body, err)
	}
	step("the entry node's HTTP port is published on 127.0.0.1:%s", e.port)

	// 2. A long party, spread over the three.
	q := fmt.Sprintf("/scenario/custom?rooms=%d&room_max=%d&people=%d&person_max=%d&delay_ms=%d", rooms, roomMax, people, personMax, wanderMS)
	if code, body, err := e.get(entry.url(q), nil); err != nil || code != 200 {
		t.Fatalf("start the party: %d %s %v", code, body, err)
	}
	partyStart := time.Now()
	took = e.eventually(60*time.Second, "the party's processes spread over 3 nodes", func() (bool, string) {
		return e.spread(cs)
	})
	step("a party of %d rooms and %d people runs, one process per name over 3 nodes, %v after it started", rooms, people, took.Round(time.Millisecond))

	s := &sampler{e: e, last: map[string]int{}}
	s.setFrom(cs)
	stop, sampled := make(chan struct{}), make(chan struct{})
	go s.run(stop, sampled)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-sampled
	}()

	// 3. Scale to 5: the new nodes join by themselves and take their share.
	start = time.Now()
	e.compose(imageV1, "up", "-d", "--no-recreate", "--scale", "houseparty=4")
	took = e.eventually(90*time.Second, "5 nodes, each running some of the party", func() (bool, string) {
		cs = e.containers(false)
		if len(cs) != 5 {
			return false, fmt.Sprintf("%d containers", len(cs))
		}
		if ok, why := e.formed(cs); !ok {
			return false, why
		}
		return e.spread(cs)
	})
	s.setFrom(cs)
	s.check(t, "scale to 5")
	step("scaled to 5: the 2 new nodes joined by DNS and took over their share, one process per name, %v after the scale command (%v in all)", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// 4. Rolling update to v2, one container at a time, each stopped with
	// SIGTERM (it hands its processes off) before its replacement starts.
	start = time.Now()
	var stops []time.Duration
	for _, old := range slices.Clone(cs) {
		rest := without(cs, old)
		s.setFrom(rest)
		t0 := time.Now()
		e.run(2*time.Minute, imageV1, "docker", "stop", "-t", "60", old.id)
		stops = append(stops, time.Since(t0))
		code := strings.TrimSpace(e.run(time.Minute, imageV1, "docker", "inspect", "-f", "{{.State.ExitCode}}", old.id))
		if code != "0" {
			out, _ := e.try(time.Minute, imageV1, "docker", "logs", "--tail", "20", old.id)
			t.Fatalf("%s exited %s after SIGTERM:\n%s", old.name, code, out)
		}
		e.run(time.Minute, imageV1, "docker", "rm", old.id)
		if old.service == "entry" {
			e.compose(imageV2, "up", "-d", "--no-deps", "entry")
		} else {
			e.compose(imageV2, "up", "-d", "--no-recreate", "--no-deps", "--scale", "houseparty=4", "houseparty")
		}
		e.eventually(90*time.Second, "the replacement of "+old.name+" joins", func() (bool, string) {
			cs = e.containers(false)
			if len(cs) != 5 {
				return false, fmt.Sprintf("%d containers", len(cs))
			}
			if ok, why := e.formed(cs); !ok {
				return false, why
			}
			return e.onePerName(cs)
		})
		s.setFrom(cs)
		s.check(t, "rolling update, after replacing "+old.name)
	}
	for _, c := range cs {
		if c.image != imageV2 {
			t.Fatalf("%s still runs %s", c.name, c.image)
		}
		if code, body, err := e.get(c.url("/hello"), nil); err != nil || code != 200 || body != "v2" {
			t.Fatalf("%s /hello = %d %q %v, want v2", c.name, code, body, err)
		}
	}
	slices.Sort(stops)
	step("rolling update to v2 (a build whose people hand on a state with a field more): 5 containers replaced one at a time with SIGTERM in %v (graceful stops took %v to %v); /hello answers v2 everywhere; one process per name throughout; %d samples so far, no attempt count went backwards, always %d people and %d rooms, no room over capacity, nobody in two rooms",
		time.Since(start).Round(time.Millisecond), stops[0].Round(time.Millisecond), stops[len(stops)-1].Round(time.Millisecond), s.count(), people, rooms)

	// 5. SIGKILL one node: its processes run elsewhere within 10 s.
	victim := e.byService(cs, "houseparty")[0]
	rest := without(cs, victim)
	s.setFrom(rest)
	s.recover()
	e.run(time.Minute, imageV1, "docker", "kill", "-s", "KILL", victim.id)
	killed := time.Now()
	took = e.eventually(30*time.Second, "the killed node's processes running elsewhere", func() (bool, string) {
		return e.onePerName(rest)
	})
	if took > 10*time.Second {
		t.Fatalf("the killed node's processes ran elsewhere only after %v (bound: 10 s)", took)
	}
	step("docker kill (SIGKILL) of %s: all %d processes run once on the 4 others %v after the kill (bound 10 s), from their checkpoints: no attempt count went backwards across the kill (%d samples so far); rooms and people must agree from 5 s after the 4 nodes formed", victim.name, processes, took.Round(time.Millisecond), s.count())
	e.run(time.Minute, imageV1, "docker", "rm", victim.id)
	cs = rest
	e.eventually(60*time.Second, "4 nodes agree", func() (bool, string) { return e.formed(cs) })
	s.recovered(5 * time.Second)
	s.check(t, "SIGKILL")

	// 6. Kill -9 and an instant restart at the same address (what
	// Kubernetes does to an OOM-killed container: same pod, same IP): the
	// node comes back under the same name with a new incarnation, and
	// every name is back on every node within 10 s of the kill (issue 10,
	// problem 1).
	again := e.byService(cs, "houseparty")
	again1 := again[len(again)-1]
	oldInc, err := e.incarnation(again1, again1.node())
	if err != nil || oldInc == 0 {
		t.Fatalf("incarnation of %s: %d %v", again1.name, oldInc, err)
	}
	rest = without(cs, again1)
	s.setFrom(rest)
	s.recover()
	e.run(time.Minute, imageV1, "docker", "kill", "-s", "KILL", again1.id)
	killed = time.Now()
	// Docker would give the container the lowest free address of the
	// subnet (the first killed node's, here): pin its own before it
	// starts again, as a pod keeps its IP.
	e.run(time.Minute, imageV1, "docker", "network", "disconnect", "-f", e.netName, again1.id)
	e.run(time.Minute, imageV1, "docker", "network", "connect", "--ip", again1.ip, "--alias", "houseparty", e.netName, again1.id)
	e.run(time.Minute, imageV1, "docker", "start", again1.id)
	started := time.Since(killed)
	e.http.CloseIdleConnections() // kept-alive connections to the old process are dead
	t.Logf("killed %s at %s, started again %v later", again1.name, killed.UTC().Format("15:04:05.000"), started.Round(time.Millisecond))
	if ip := strings.TrimSpace(e.run(time.Minute, imageV1, "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", again1.id)); ip != again1.ip {
		t.Fatalf("%s came back at %s, not %s: the test needs the same address", again1.name, ip, again1.ip)
	}
	var newInc uint64
	took = e.within(killed, 10*time.Second, 60*time.Second, "every name back on every node after kill -9 and restart of "+again1.name, t.Fatalf, func() (bool, string) {
		for _, c := range cs {
			inc, err := e.incarnation(c, again1.node())
			if err != nil {
				return false, "new incarnation: " + err.Error()
			}
			if inc == 0 || inc == oldInc {
				return false, fmt.Sprintf("new incarnation: %s does not see %s alive with a new one (%016x)", c.name, again1.name, inc)
			}
			newInc = inc
		}
		return e.settled(cs)
	})
	s.setFrom(cs)
	s.recovered(5 * time.Second)
	s.check(t, "kill -9 and restart")
	step("kill -9 and instant restart of %s at the same address (docker start %v after the kill; incarnation %016x, then %016x): 4 nodes formed, one process per name, every node lists all %d names and every name answers from every node %v after the kill (bound 10 s)",
		again1.name, started.Round(time.Millisecond), oldInc, newInc, processes, took.Round(time.Millisecond))

	// 7. Partition: cut one node off the network, then reconnect it.
	cut := e.byService(cs, "houseparty")[0]
	rest = without(cs, cut)
	s.setFrom(rest)
	s.pause()
	e.run(time.Minute, imageV1, "docker", "network", "disconnect", "-f", e.netName, cut.id)
	split := time.Now()
	took = e.eventually(30*time.Second, "the majority sees the cut node gone and runs everything", func() (bool, string) {
		if ok, why := e.formed(rest); !ok {
			return false, why
		}
		return e.onePerName(rest)
	})
	// And the cut-off node saw the others go (its log says so): both
	// sides run every name now.
	since := split.Add(-time.Second).UTC().Format(time.RFC3339)
	cutSaw := e.eventually(30*time.Second, "the cut-off node sees the others gone", func() (bool, string) {
		out, err := e.try(time.Minute, imageV1, "docker", "logs", "--since", since, cut.id)
		if err != nil {
			return false, err.Error()
		}
		var missing []string
		for _, c := range rest {
			if !strings.Contains(out, `msg="node down" node=`+cut.node()+` peer=`+c.node()+` `) {
				missing = append(missing, c.node())
			}
		}
		return len(missing) == 0, fmt.Sprintf("no \"node down\" for %v in its log", missing)
	})
	step("partition: %s disconnected; the 3 others saw it gone and ran all %d processes after %v, and it saw them gone after %v",
		cut.name, processes, took.Round(time.Millisecond), (took + cutSaw).Round(time.Millisecond))
	t0 := time.Now()
	e.run(time.Minute, imageV1, "docker", "network", "connect", "--ip", cut.ip, "--alias", "houseparty", e.netName, cut.id)
	healed := time.Now()
	t.Logf("reconnected %s at %s", cut.name, healed.UTC().Format("15:04:05.000"))
	// Within 5 s of the reconnection (issue 10): one cluster, one process
	// per name, every node's registry listing every name, and every name
	// answering from every node. Past the bound the test fails but goes
	// on, to check the rooms and the end of the party too.
	took = e.within(healed, 5*time.Second, 60*time.Second, "after the heal", t.Errorf, func() (bool, string) {
		return e.settled(cs)
	})
	s.looseRooms()
	s.setFrom(cs)
	s.resume() // the cut-off side's people merged by the higher count
	if took <= 5*time.Second {
		step("heal: %s reconnected (cut for %v; docker network connect took %v); 4 nodes formed, one process per name, every node lists all %d names and every name answers from every node %v after reconnecting (bound 5 s)",
			cut.name, healed.Sub(split).Round(time.Millisecond), healed.Sub(t0).Round(time.Millisecond), processes, took.Round(time.Millisecond))
	}
	// The rooms reconcile their merged lists with the people (issue 10,
	// item 8): then nobody is in two rooms again, and the sampler checks
	// the rooms strictly to the end.
	merged, prev := -1, -1
	var series []string // how many, each time the number changed
	e.eventually(2*time.Minute, "the rooms reconcile after the heal", func() (bool, string) {
		bad, err := e.doubles(cs)
		if err != nil {
			return false, err.Error()
		}
		if len(bad) != prev {
			series = append(series, fmt.Sprintf("+%.1fs %d", time.Since(healed).Seconds(), len(bad)))
			prev = len(bad)
		}
		if merged < 0 {
			merged = len(bad)
		}
		var eg []string
		for what, why := range bad {
			if eg = append(eg, what+" "+why); len(eg) == 3 {
				break
			}
		}
		return len(bad) == 0, fmt.Sprintf("%d people in two rooms or rooms over capacity, e.g. %v", len(bad), eg)
	})
	s.strictRooms()
	t.Logf("people in two rooms (or rooms over capacity) after the heal, when the number changed: %s", strings.Join(series, ", "))
	step("the rooms reconciled with the people after the heal: %d people in two rooms (or rooms over capacity) when first asked, none on any node %v after reconnecting; the rooms are checked strictly again from then on",
		merged, time.Since(healed).Round(time.Millisecond))

	// 8. Everybody leaves in the end.
	took = e.eventually(8*time.Minute, "everybody leaves the party", func() (bool, string) {
		var out struct {
			Stats struct {
				TotalPeople int `json:"total_people"`
				Left        int `json:"people_left_party"`
			} `json:"stats"`
		}
		code, body, err := e.get(cs[0].url("/stats/tldr"), &out)
		if err != nil || code != 200 {
			return false, fmt.Sprintf("%d %s %v", code, body, err)
		}
		return out.Stats.Left == people && out.Stats.TotalPeople == people, fmt.Sprintf("%d of %d left", out.Stats.Left, out.Stats.TotalPeople)
	})
	close(stop)
	<-sampled
	s.check(t, "to the end")
	step("all %d people left the party, %v after it started; %d samples, every one with %d people and %d rooms (outside the kills' recovery), no attempt count backwards (the kills included: checkpoints; outside the partition, whose cut-off side restarts what it lost), no room over capacity, nobody in two rooms and nobody said for more than %v to be in a room that did not list it (outside the heal's merge until the rooms reconciled, and 5 s after each kill's recovery)",
		people, time.Since(partyStart).Round(time.Second), s.count(), people, rooms, astrayFor)
	// Rooms and people agree at the end: everybody says they left, so
	// every room, asked from every node, lists nobody.
	for _, c := range cs {
		var rs []room
		if code, body, err := e.get(c.url("/rooms"), &rs); err != nil || code != 200 {
			t.Fatalf("/rooms on %s: %d %s %v", c.name, code, body, err)
		}
		var full []string
		for _, r := range rs {
			if r.Count != 0 || len(r.People) != 0 {
				full = append(full, fmt.Sprintf("%s lists %d: %v", r.Name, r.Count, r.People[:min(3, len(r.People))]))
			}
		}
		if len(rs) != rooms || len(full) > 0 {
			t.Fatalf("everybody left, yet %s lists %d rooms, %d of them not empty, e.g. %v", c.name, len(rs), len(full), full[:min(3, len(full))])
		}
	}
	step("rooms and people agree at the end: all %d people say they left and every room lists nobody, on each of the %d nodes", people, len(cs))

	// 9. Everything stops at once, as `compose down` does: every node gets
	// SIGTERM together, the rooms still running, and each exits 0 (the
	// last ones have nobody to hand their processes to).
	start = time.Now()
	cs = e.containers(false)
	e.compose(imageV1, "stop", "-t", "60")
	for _, c := range cs {
		code := strings.TrimSpace(e.run(time.Minute, imageV1, "docker", "inspect", "-f", "{{.State.ExitCode}}", c.id))
		if code != "0" {
			out, _ := e.try(time.Minute, imageV1, "docker", "logs", "--tail", "20", c.id)
			t.Errorf("%s exited %s after `compose stop`:\n%s", c.name, code, out)
		}
	}
	step("compose stop: all %d nodes stopped together and each exited 0, in %v", len(cs), time.Since(start).Round(time.Millisecond))
	step("e2e took %v", time.Since(began).Round(time.Second))
}
