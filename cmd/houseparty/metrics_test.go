package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads a node's /metrics.
func scrape(t *testing.T, n *runningNode) map[string]*dto.MetricFamily {
	t.Helper()
	code, body, err := httpGet(t, "http://"+n.http+"/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// value sums the values of a family's series whose labels include want
// (counters, gauges; a histogram's count).
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	sum := 0.0
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestMetrics runs a party on 3 nodes and reads every node's /metrics:
// every family is there, the registered processes of the nodes add up to
// the party's, the numbers that must have moved did, and a graceful stop
// shows as handoffs in on the nodes that stay.
func TestMetrics(t *testing.T) {
	const cookie = "metrics-test-cookie-of-the-party"
	a, b, c := startThree(t, cookie)
	deadline := time.Now().Add(30 * time.Second)
	waitReady(t, deadline, a, b, c)
	if code, body, err := httpGet(t, "http://"+b.http+"/scenario/small"); err != nil || code != 200 {
		t.Fatalf("start the party: %d %s %v", code, body, err)
	}
	nodes := []*runningNode{a, b, c}
	registered := func(ns ...*runningNode) (sum float64, each []float64) {
		for _, n := range ns {
			v := value(scrape(t, n), "shoal_registered_processes")
			each = append(each, v)
			sum += v
		}
		return sum, each
	}
	for sum, each := registered(nodes...); sum != 105; sum, each = registered(nodes...) {
		if time.Now().After(deadline) {
			t.Fatalf("registered processes per node %v add up to %v, want the party's 105", each, sum)
		}
		time.Sleep(50 * time.Millisecond) // polling period
	}
	families := []string{
		"shoal_members", "shoal_processes", "shoal_processes_passivated", "shoal_registered_processes", "shoal_registry_partitions", "shoal_registry_names",
		"shoal_registry_operations_total", "shoal_registry_operation_seconds", "shoal_registrations_total", "shoal_restarts_total",
		"shoal_handoffs_total", "shoal_conflicts_total", "shoal_link_frames_total", "shoal_link_bytes_total",
		"shoal_link_errors_total", "shoal_link_dropped_total", "shoal_link_refused_total", "shoal_remote_call_seconds", "shoal_remote_call_errors_total",
		"shoal_mailbox_depth", "shoal_mailbox_depth_max",
		"houseparty_people", "houseparty_rooms", "houseparty_avg_fullness_percent", "houseparty_avg_wanderlust_completion_percent",
		"go_goroutines", "process_resident_memory_bytes",
	}
	var started, registerOps float64
	for _, n := range nodes {
		fams := scrape(t, n)
		for _, f := range families {
			if fams[f] == nil {
				t.Errorf("%s: no %s", n.http, f)
			}
		}
		if got := value(fams, "shoal_members", "status", "alive"); got != 3 {
			t.Errorf("%s: shoal_members{status=alive} = %v, want 3", n.http, got)
		}
		// Every process of the node has one mailbox.
		if procs, boxes := value(fams, "shoal_processes"), value(fams, "shoal_mailbox_depth"); boxes != procs || procs < 1 {
			t.Errorf("%s: %v mailboxes for %v processes", n.http, boxes, procs)
		}
		for _, f := range []string{"shoal_link_frames_total", "shoal_link_bytes_total", "shoal_registry_names"} {
			if value(fams, f) <= 0 {
				t.Errorf("%s: %s did not move", n.http, f)
			}
		}
		if value(fams, "houseparty_people") != 100 || value(fams, "houseparty_rooms") != 5 {
			t.Errorf("%s: the party's people %v and rooms %v, want 100 and 5", n.http, value(fams, "houseparty_people"), value(fams, "houseparty_rooms"))
		}
		started += value(fams, "shoal_registrations_total")
		registerOps += value(fams, "shoal_registry_operations_total", "op", "register", "result", "ok")
	}
	if started != 105 || registerOps < 105 {
		t.Errorf("%v processes started for registrations, %v register operations; want 105 and at least 105", started, registerOps)
	}
	// The Grafana dashboard in deploy/ asks for families that exist.
	dash, err := os.ReadFile("../../deploy/grafana/shoal-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, a)
	for _, name := range regexp.MustCompile(`\b(?:shoal|houseparty)_[a-z_]+`).FindAllString(string(dash), -1) {
		if base := strings.TrimSuffix(name, "_bucket"); fams[name] == nil && fams[base] == nil {
			t.Errorf("the dashboard asks for %s, which /metrics does not have", name)
		}
	}
	// The party's stats gather every person from every node: calls to
	// processes on other nodes.
	if calls := value(scrape(t, b), "shoal_remote_call_seconds"); calls <= 0 {
		t.Errorf("b observed %v remote calls", calls)
	}

	// c stops gracefully: what it ran moves to a and b, which count it as
	// handoffs in.
	_, each := registered(c)
	onC := each[0]
	handedIn := func() float64 {
		return value(scrape(t, a), "shoal_handoffs_total", "direction", "in") + value(scrape(t, b), "shoal_handoffs_total", "direction", "in")
	}
	before := handedIn()
	c.stop(t)
	for sum, each := registered(a, b); sum != 105; sum, each = registered(a, b) {
		if time.Now().After(deadline) {
			t.Fatalf("after c left, a and b run %v (%v), want 105", sum, each)
		}
		time.Sleep(50 * time.Millisecond) // polling period
	}
	if moved := handedIn() - before; moved < onC || onC < 1 {
		t.Errorf("c ran %v processes; a and b counted %v handoffs in", onC, moved)
	}
}
