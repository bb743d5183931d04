package ui

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
)

// shownNode is a node as the page shows it.
type shownNode struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// shown reads the page: its nodes, its room count and the events'
// texts.
type shown struct {
	Nodes   []shownNode `json:"nodes"`
	Rooms   int         `json:"rooms"`
	Events  []string    `json:"events"`
	Conn    string      `json:"conn"`
	Result  string      `json:"result"`
	People  string      `json:"people"`  // the total shown
	Problem string      `json:"problem"` // the problems banner, if shown
}

const readPage = `(() => ({
  nodes: [...document.querySelectorAll("#nodes li")].map((li) => ({
    name: li.querySelector(".name").textContent,
    status: li.querySelector(".status").textContent,
  })),
  rooms: document.querySelectorAll("#room-list li").length,
  events: [...document.querySelectorAll("#events li")].map((li) => li.textContent),
  conn: document.getElementById("conn").textContent,
  result: document.getElementById("start-result").textContent,
  people: document.getElementById("p-total").textContent,
  problem: document.getElementById("problems").hidden ? "" : document.getElementById("problems").textContent,
}))()`

// page is the browser tab and what it reported.
type page struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	bad []string // console errors, exceptions, error log entries
	// refusals counts the browser's reports of the 401 the test provokes:
	// they show the console is being read.
	refusals int
	out      string
	// poll is how often waitFor reads the page (each read lays it out).
	poll time.Duration
}

func (p *page) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bad...)
}

// read evaluates readPage.
func (p *page) read() shown {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[shown](readPage))
	if err != nil {
		p.t.Fatalf("read the page: %v", err)
	}
	return s
}

// waitFor polls the page until ok holds or the time is up; it returns
// how long that took.
func (p *page) waitFor(what string, limit time.Duration, ok func(shown) bool) time.Duration {
	p.t.Helper()
	start := time.Now()
	var last shown
	for time.Since(start) < limit {
		last = p.read()
		if ok(last) {
			return time.Since(start)
		}
		time.Sleep(p.poll) // polling interval of a condition, not synchronisation
	}
	p.t.Fatalf("the page did not show %s within %v; it shows %+v", what, limit, last)
	return 0
}

// screenshot saves the whole page as NAME.png in the output folder.
func (p *page) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(p.out, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	s := p.read()
	p.t.Logf("screenshot: %s (%d nodes, %d rooms, %s people, problems %q)", file, len(s.Nodes), s.Rooms, s.People, s.Problem)
}

// open starts a headless chromium on url.
func open(t *testing.T, url string) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.NoSandbox, // CI runs as root in a container
		chromedp.WindowSize(1280, 900),
	)
	if path := os.Getenv("CHROMIUM"); path != "" {
		opts = append(opts, chromedp.ExecPath(path))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	p := &page{t: t, ctx: ctx, out: outDir(t), poll: 50 * time.Millisecond}
	if err := chromedp.Do(ctx); err != nil { // starts the browser and its tab
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	read := make(chan struct{})
	go func() { // owned by the tab: it ends when cancelTab ends the subscription
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return
			}
			// The refusal the test asks for is the one error expected.
			refused := strings.Contains(m.Text, "status of 401") && strings.Contains(m.URL, "/scenario/small")
			if refused {
				p.mu.Lock()
				p.refusals++
				p.mu.Unlock()
			} else if m.Type == chromedp.ConsoleError || m.IsException() {
				p.mu.Lock()
				p.bad = append(p.bad, m.String()+" "+m.URL)
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelTab(); <-read })
	start, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(start,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("nodes")),
	); err != nil {
		t.Fatalf("open %s in chromium: %v", url, err)
	}
	return p
}

func statusOf(s shown, name string) string {
	for _, n := range s.Nodes {
		if strings.HasPrefix(n.Name, name+"@") {
			return n.Status
		}
	}
	return ""
}

func alive(s shown) int {
	c := 0
	for _, n := range s.Nodes {
		if n.Status == "alive" {
			c++
		}
	}
	return c
}

// pageLoad is what the page did up to a moment: updates rendered, time
// in their handler, and the renderer's main-thread busy time.
type pageLoad struct {
	at       time.Time
	updates  float64
	renderMs float64
	busy     float64 // seconds (Performance.getMetrics TaskDuration)
}

func (p *page) load() pageLoad {
	p.t.Helper()
	st, err := chromedp.Run(p.ctx, chromedp.Evaluate[struct {
		Updates  float64 `json:"updates"`
		RenderMs float64 `json:"renderMs"`
	}](`window.liveViewStats`))
	if err != nil {
		p.t.Fatalf("read the page's stats: %v", err)
	}
	m, err := chromedp.Call(p.ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		p.t.Fatalf("Performance.getMetrics: %v", err)
	}
	l := pageLoad{at: time.Now(), updates: st.Updates, renderMs: st.RenderMs}
	for _, x := range m.Metrics {
		if x.Name == "TaskDuration" {
			l.busy = x.Value
		}
	}
	return l
}

// get asks a node's HTTP API for path with the admin token; a refusal
// fails the test.
func get(t *testing.T, n *node, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+n.http+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusNotFound {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return resp.StatusCode, string(body)
}
