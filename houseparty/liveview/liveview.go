// Package liveview serves House Party's live view: a page at / that shows
// the cluster's nodes with their status and processes, every room with its
// occupants and fullness, the people waiting, in rooms and gone, and
// events as they happen (nodes joining, leaving, crashing; processes
// registered, handed off, restarted; conflicts resolved).
//
// The page, its script and its style are embedded (go:embed; no build
// step) and get their updates from a Server-Sent Events stream
// (/view/stream). One goroutine per node follows membership and, while
// someone watches, keeps one gathering of the party's state going beside
// it (so a call waiting on a moving process does not hold back the news
// of a node leaving) and publishes what it knows at most every Period (4
// times a second by default), and only when it changed; a client that reads
// slowly skips to the latest state, which carries the recent events, so
// it misses none. Events are found by comparing each state with the one
// before (where every name runs, each member's status): a move of many
// processes is one event with its count, not one per process.
package liveview

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/houseparty"
	"github.com/shoalhq/shoal/registry"
)

//go:embed static
var static embed.FS

// Cluster is what the view needs of membership; *cluster.Cluster is one.
type Cluster interface {
	Name() string
	Members() []cluster.Member
}

// Config configures a View.
type Config struct {
	// Party and Cluster are watched. Required.
	Party   *houseparty.Party
	Cluster Cluster
	// Counts, if set, gives this node's registry counts (conflicts
	// resolved here are shown as events).
	Counts func() registry.Counts
	// ScenarioProtected tells the page that starting a scenario needs the
	// admin token (HOUSEPARTY_ADMIN_TOKEN).
	ScenarioProtected bool
	// Period is the shortest time between two updates to the page; 0
	// means 250 ms (4 a second). People (the slowest to gather: one call
	// each) are counted every 4 periods.
	Period time.Duration
	// Timeout bounds one gathering; 0 means 3 s.
	Timeout time.Duration
	// Logger receives gathering failures (at debug: they show on the
	// page); nil discards them.
	Logger *slog.Logger
}

// View is a node's live view. Start it, mount its Handler, Close it.
type View struct {
	cfg    Config
	files  http.Handler
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	subs    map[*sub]struct{}
	last    []byte // the latest update published
	watched chan struct{}

	trMu     sync.Mutex
	tr       tracker  // guarded by trMu
	problems []string // of the last gathering; guarded by trMu
}

// pingEvery is how often a quiet stream says it lives: the page declares
// its node lost after 12 s without a word.
const pingEvery = 5 * time.Second

// sub is one page's stream: the latest update not yet written.
type sub struct {
	ch chan []byte // buffered 1: a newer update replaces an unread one
}

// ErrConfig means a Config is not usable.
var ErrConfig = errors.New("liveview: invalid config")

// New returns a view; Start begins gathering.
func New(cfg Config) (*View, error) {
	if cfg.Party == nil || cfg.Cluster == nil {
		return nil, fmt.Errorf("%w: Party and Cluster are required", ErrConfig)
	}
	if cfg.Period <= 0 {
		cfg.Period = 250 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("liveview: embedded files: %w", err)
	}
	v := &View{cfg: cfg, files: http.FileServerFS(files), subs: map[*sub]struct{}{}, watched: make(chan struct{}, 1)}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.tr = newTracker(cfg.Cluster.Name())
	return v, nil
}

// Start begins gathering (its goroutine is stopped by Close).
func (v *View) Start() {
	v.wg.Add(1)
	go v.run()
}

// Close stops gathering and ends every stream (call it before the HTTP
// server's Shutdown, or register it with RegisterOnShutdown: streams
// never end by themselves). Idempotent.
func (v *View) Close() {
	v.cancel()
	v.wg.Wait()
}

// Paths says whether path is one of the view's.
func Paths(path string) bool {
	switch path {
	case "/", "/index.html", "/view/app.js", "/view/style.css", "/view/stream", "/favicon.ico":
		return true
	}
	return false
}

// Handler serves the page (/), its files (/view/...) and the stream
// (/view/stream).
func (v *View) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/view/stream":
			v.stream(w, r)
		case "/favicon.ico":
			w.WriteHeader(http.StatusNoContent)
		case "/", "/index.html":
			w.Header().Set("Cache-Control", "no-cache")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/"
			v.files.ServeHTTP(w, r2)
		default:
			w.Header().Set("Cache-Control", "no-cache")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + r.URL.Path[len("/view/"):]
			v.files.ServeHTTP(w, r2)
		}
	})
}

// stream writes updates to one page until it goes or the view closes.
func (v *View) stream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // a proxy in front must not hold updates back
	w.WriteHeader(http.StatusOK)
	// The page reconnects a second after losing the stream.
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	s := &sub{ch: make(chan []byte, 1)}
	v.mu.Lock()
	v.subs[s] = struct{}{}
	if v.last != nil {
		s.ch <- v.last
	}
	v.mu.Unlock()
	select {
	case v.watched <- struct{}{}: // wake the gatherer
	default:
	}
	defer func() {
		v.mu.Lock()
		delete(v.subs, s)
		v.mu.Unlock()
	}()
	_ = rc.Flush()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		var msg []byte
		select {
		case msg = <-s.ch:
		case <-ping.C:
			msg = nil // tells the page the node still answers (and proxies that the stream lives)
		case <-r.Context().Done():
			return
		case <-v.ctx.Done():
			return
		}
		var err error
		if msg == nil {
			_, err = fmt.Fprint(w, "event: ping\ndata: {}\n\n")
		} else {
			_, err = fmt.Fprintf(w, "event: update\ndata: %s\n\n", msg)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// watchers returns how many pages watch.
func (v *View) watchers() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.subs)
}

// publish sends an update to every page, replacing one not yet written.
func (v *View) publish(msg []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = msg
	for s := range v.subs {
		select {
		case <-s.ch:
		default:
		}
		s.ch <- msg
	}
}

// run follows membership every period, always (so that the events of a
// quiet time are there for the next page), and while someone watches
// publishes what it knows every period and keeps one gathering of the
// party's state going beside it: a gathering that waits on a process
// being moved does not hold back the news of a node leaving or joining.
func (v *View) run() {
	defer v.wg.Done()
	tick := time.NewTicker(v.cfg.Period)
	defer tick.Stop()
	gathered := make(chan struct{}, 1)
	gathering := false
	var published time.Time
	n := 0
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-tick.C:
		case <-v.watched:
		case <-gathered:
			gathering = false
		}
		watching := v.watchers() > 0
		v.trMu.Lock()
		v.tr.members(v.cfg.Cluster.Members(), time.Now())
		if v.cfg.Counts != nil {
			v.tr.counts(v.cfg.Counts(), time.Now())
		}
		if !watching {
			v.tr.forgetPlacement() // stale by the time someone watches again
		}
		havePeople := v.tr.havePeople
		v.trMu.Unlock()
		if !watching {
			continue
		}
		if !gathering {
			gathering = true
			withPeople := n%4 == 0 || !havePeople
			n++
			v.wg.Add(1)
			go func() {
				defer v.wg.Done()
				v.gather(withPeople)
				gathered <- struct{}{}
			}()
		}
		// At most one update a period, whatever woke the loop (a new
		// page has the last one already).
		if time.Since(published) < v.cfg.Period-v.cfg.Period/10 {
			continue
		}
		if msg := v.encode(); msg != nil {
			v.mu.Lock()
			changed := !bytes.Equal(msg, v.last)
			v.mu.Unlock()
			if changed {
				v.publish(msg)
				published = time.Now()
			}
		}
	}
}

// encode returns the page's update from what the view knows now.
func (v *View) encode() []byte {
	v.trMu.Lock()
	u := v.tr.update(v.cfg.ScenarioProtected, v.problems)
	b, err := json.Marshal(u)
	v.trMu.Unlock()
	if err != nil {
		v.cfg.Logger.Error("live view: cannot encode an update", "err", err)
		return nil
	}
	return b
}

// gather reads the party's state (placement, rooms and, withPeople or
// for a new party, people) and hands it to the tracker.
func (v *View) gather(withPeople bool) {
	ctx, cancel := context.WithTimeout(v.ctx, v.cfg.Timeout)
	defer cancel()
	var problems []string
	placement, perr := v.cfg.Party.Placement(ctx)
	if perr != nil {
		problems = append(problems, perr.Error())
	}
	rooms, rerr := v.cfg.Party.Rooms(ctx)
	if rerr != nil {
		problems = append(problems, rerr.Error())
	}
	v.trMu.Lock()
	// A new party (other rooms) has new people: count them now, not at
	// the next turn of the slower people's clock.
	withPeople = withPeople || (rerr == nil && len(rooms) != len(v.tr.rooms))
	v.trMu.Unlock()
	var people []houseparty.PersonInfo
	var merr error
	if withPeople {
		if people, merr = v.cfg.Party.People(ctx); merr != nil {
			problems = append(problems, merr.Error())
		}
	}
	if v.ctx.Err() != nil {
		return // closing: not the party's fault, and nobody to tell
	}
	if len(problems) > 0 {
		v.cfg.Logger.Debug("live view: gathering incomplete", "problems", problems)
	}
	now := time.Now()
	v.trMu.Lock()
	defer v.trMu.Unlock()
	if perr == nil {
		v.tr.placement(placement, now)
	}
	if rerr == nil {
		v.tr.rooms = rooms // else the last ones known, marked stale by the problem
	}
	if withPeople && merr == nil {
		v.tr.people = houseparty.Summarize(people, v.tr.rooms)
		v.tr.havePeople = true
	}
	v.problems = problems
}
