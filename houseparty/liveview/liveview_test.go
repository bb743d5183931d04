package liveview_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal/clustertest"
	"github.com/shoalhq/shoal/houseparty"
	"github.com/shoalhq/shoal/houseparty/httpapi"
	"github.com/shoalhq/shoal/houseparty/liveview"
	"github.com/shoalhq/shoal/process"
)

// start serves a single node's party and its view.
func start(t *testing.T, period time.Duration) (*houseparty.Party, *liveview.View, *httptest.Server) {
	t.Helper()
	reg := clustertest.Alone(t, process.Config{Node: "houseparty@127.0.0.1"}, nil)
	party, err := houseparty.New(houseparty.DefaultConfig(), reg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := liveview.New(liveview.Config{Party: party, Cluster: httpapi.SingleNode("houseparty@127.0.0.1"), Counts: reg.Counts, Period: period})
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	srv := httptest.NewServer(v.Handler())
	t.Cleanup(func() {
		v.Close() // ends the streams, so that Close does not wait on them
		srv.Close()
	})
	return party, v, srv
}

// stream reads a view's updates.
type stream struct {
	updates chan liveview.Update
	at      chan time.Time
}

func open(t *testing.T, srv *httptest.Server) *stream {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/view/stream")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("GET /view/stream: %d %s", resp.StatusCode, ct)
	}
	s := &stream{updates: make(chan liveview.Update, 1000), at: make(chan time.Time, 1000)}
	go func() {
		defer resp.Body.Close()
		defer close(s.updates)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<22)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "update":
				var u liveview.Update
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &u); err != nil {
					t.Errorf("bad update: %v", err)
					return
				}
				s.updates <- u
				s.at <- time.Now()
			}
		}
	}()
	return s
}

// until reads updates until cond holds of one.
func (s *stream) until(t *testing.T, what string, cond func(liveview.Update) bool) liveview.Update {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case u, ok := <-s.updates:
			if !ok {
				t.Fatalf("stream ended before %s", what)
			}
			if cond(u) {
				return u
			}
		case <-deadline:
			t.Fatalf("no update with %s", what)
		}
	}
}

func TestPageAndFiles(t *testing.T) {
	_, _, srv := start(t, 0)
	for path, want := range map[string]string{
		"/":               "<title>House Party on Shoal</title>",
		"/view/app.js":    "new EventSource(\"/view/stream\")",
		"/view/style.css": ".rooms",
	} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d, without %q", path, resp.StatusCode, want)
		}
	}
	resp, err := srv.Client().Post(srv.URL+"/view/stream", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /view/stream = %d", resp.StatusCode)
	}
}

// The stream shows the node, then the party once it starts (rooms with
// their occupants, people counted, the registrations as one event), at
// most 4 updates a second however busy the party is.
func TestStreamShowsTheParty(t *testing.T) {
	party, _, srv := start(t, 0)
	s := open(t, srv)
	first := s.until(t, "the node", func(u liveview.Update) bool { return len(u.Members) == 1 })
	if first.Node != "houseparty@127.0.0.1" || !first.Members[0].Self || first.Members[0].Status != "alive" {
		t.Fatalf("first update: %+v", first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := party.Start(ctx, houseparty.Small); err != nil {
		t.Fatal(err)
	}
	u := s.until(t, "5 rooms, 100 people and the registrations", func(u liveview.Update) bool {
		registered := false
		for _, e := range u.Events {
			registered = registered || (e.Kind == liveview.KindRegister && strings.Contains(e.Text, "processes registered on houseparty@127.0.0.1"))
		}
		return len(u.Rooms) == 5 && u.People.Known && u.People.Total == 100 && registered
	})
	if u.Members[0].Rooms != 5 || u.Members[0].People != 100 {
		t.Errorf("the node runs %d rooms and %d people, want 5 and 100", u.Members[0].Rooms, u.Members[0].People)
	}
	// People wander for a while: count the updates of 2 seconds.
	for len(s.at) > 0 {
		<-s.at
	}
	deadline := time.Now().Add(2 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		select {
		case <-s.at:
			n++
		case <-time.After(time.Until(deadline)):
		}
	}
	if n > 9 { // 4 a second, and one of the ticks may have been early
		t.Errorf("%d updates in 2 s, want at most 4 a second", n)
	}
	t.Logf("%d updates in 2 s while the party ran", n)
}

// Close ends every stream (the server's Shutdown would wait on them).
func TestCloseEndsStreams(t *testing.T) {
	_, v, srv := start(t, 0)
	s := open(t, srv)
	s.until(t, "a first update", func(liveview.Update) bool { return true })
	v.Close()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.updates:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the stream is still open after Close")
		}
	}
}
