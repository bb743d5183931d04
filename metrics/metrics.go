// Package metrics exports a node's numbers in the Prometheus format, with
// github.com/prometheus/client_golang (the client every Prometheus user
// already trusts; writing the exposition format again would gain
// nothing).
//
// Most numbers are read when Prometheus scrapes (members, processes,
// registry counts, link traffic, mailbox depths), from counters the parts
// keep anyway: a node pays for them only at scrape time. Two are
// observed as they happen, by hooks the parts call only when set:
// registry operation latency (registry.Config.ObserveOp) and remote call
// latency (remote.Config.ObserveCall). BENCHMARKS.md measures what the
// hooks cost.
//
// Every family is labelled with the node's name (node="basename@host"),
// so that a dashboard can sum or compare nodes whatever its scrape
// labels are. The families:
//
//	shoal_members{status}                              members as this node sees them (alive, suspect, dead, left)
//	shoal_processes                                    every process this node runs (system ones too)
//	shoal_processes_passivated                         those of them passivated now (KindOptions.PassivateAfter)
//	shoal_registered_processes                         the registered processes this node runs
//	shoal_registry_partitions{role}                    registry partitions this node holds (primary, replica, gathering)
//	shoal_registry_names                               names in the partitions this node serves
//	shoal_registry_operations_total{op,result}         Register, Unregister, Whereis, Join, Leave (result ok or error)
//	shoal_registry_operation_seconds{op}               their latency
//	shoal_registrations_total                          processes started here for a new registration
//	shoal_restarts_total                               processes started here again after their node was lost
//	shoal_handoffs_total{direction}                    processes moved here (in) or away (out) with their state
//	shoal_conflicts_total{outcome}                     names held twice after a netsplit: lost here, or merged here
//	shoal_link_frames_total{peer,direction}            frames exchanged with each node (in, out)
//	shoal_link_bytes_total{peer,direction}             their bytes
//	shoal_link_errors_total{peer}                      links to or from each node that failed
//	shoal_link_dropped_total{peer}                     frames for each node that could not be sent
//	shoal_link_refused_total{peer}                     casts from each node dropped: mailbox full
//	shoal_remote_call_seconds{peer}                    latency of calls to processes on each node
//	shoal_remote_call_errors_total{peer}               those calls that failed
//	shoal_mailbox_depth                                a histogram of the mailbox lengths of this node's processes
//	shoal_mailbox_depth_max                            the longest mailbox
//
// plus the Go runtime's (go_*) and the process's (process_*) families.
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
	"github.com/shoalhq/shoal/remote"
)

// Members is what the metrics need of cluster membership;
// *cluster.Cluster is one.
type Members interface {
	Members() []cluster.Member
}

// Sources are the parts whose numbers a node exports. Each may be nil
// (its families are then left out).
type Sources struct {
	Members  Members
	Runtime  *process.Runtime
	Registry *registry.Registry
	Remote   *remote.Remote
}

// Metrics is a node's metrics: its hooks for the parts and its
// /metrics handler. Safe for concurrent use.
type Metrics struct {
	node string
	reg  *prometheus.Registry
	wrap prometheus.Registerer // reg, with the node label

	opSeconds *prometheus.HistogramVec
	opTotal   *prometheus.CounterVec
	ops       map[string]opObservers

	callSeconds *prometheus.HistogramVec
	callErrors  *prometheus.CounterVec
	peers       sync.Map // peer name -> callObservers
}

// opObservers are one registry operation's series.
type opObservers struct {
	seconds   prometheus.Observer
	ok, error prometheus.Counter
}

// callObservers are one peer's call series.
type callObservers struct {
	seconds prometheus.Observer
	errors  prometheus.Counter
}

// New returns the metrics of node, with the Go runtime's and the
// process's families. Give ObserveOp and ObserveCall to the registry's and
// the remote's configs, then Watch the parts once they exist.
func New(node string) (*Metrics, error) {
	if node == "" {
		return nil, errors.New("metrics: empty node name")
	}
	m := &Metrics{node: node, reg: prometheus.NewRegistry(), ops: map[string]opObservers{}}
	m.wrap = prometheus.WrapRegistererWith(prometheus.Labels{"node": node}, m.reg)
	m.opSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shoal_registry_operation_seconds", Help: "Latency of registry operations (register, unregister, whereis, join, leave).",
		Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
	}, []string{"op"})
	m.opTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_registry_operations_total", Help: "Registry operations, by operation and result (ok or error).",
	}, []string{"op", "result"})
	m.callSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shoal_remote_call_seconds", Help: "Latency of calls from this node to processes on another node, by that node.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1, 5},
	}, []string{"peer"})
	m.callErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_remote_call_errors_total", Help: "Calls from this node to processes on another node that failed, by that node.",
	}, []string{"peer"})
	for _, op := range []string{registry.OpRegister, registry.OpUnregister, registry.OpWhereis, registry.OpJoin, registry.OpLeave} {
		m.ops[op] = opObservers{
			seconds: m.opSeconds.WithLabelValues(op),
			ok:      m.opTotal.WithLabelValues(op, "ok"),
			error:   m.opTotal.WithLabelValues(op, "error"),
		}
	}
	for _, c := range []prometheus.Collector{
		m.opSeconds, m.opTotal, m.callSeconds, m.callErrors,
	} {
		if err := m.wrap.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	// The Go runtime's and the process's own, unlabelled: they are the
	// usual names dashboards expect.
	if err := m.reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := m.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}

// ObserveOp records a registry operation: give it to
// registry.Config.ObserveOp.
func (m *Metrics) ObserveOp(op string, took time.Duration, err error) {
	o, ok := m.ops[op]
	if !ok {
		return
	}
	o.seconds.Observe(took.Seconds())
	if err != nil {
		o.error.Inc()
	} else {
		o.ok.Inc()
	}
}

// ObserveCall records a remote call: give it to remote.Config.ObserveCall.
func (m *Metrics) ObserveCall(peer string, took time.Duration, err error) {
	v, ok := m.peers.Load(peer)
	if !ok {
		v, _ = m.peers.LoadOrStore(peer, callObservers{
			seconds: m.callSeconds.WithLabelValues(peer),
			errors:  m.callErrors.WithLabelValues(peer),
		})
	}
	o := v.(callObservers)
	o.seconds.Observe(took.Seconds())
	if err != nil {
		o.errors.Inc()
	}
}

// Watch exports the numbers of src's parts, read at each scrape. Call
// it once.
func (m *Metrics) Watch(src Sources) error {
	if err := m.wrap.Register(&collector{src: src}); err != nil {
		return fmt.Errorf("metrics: watch: %w", err)
	}
	return nil
}

// Register adds a collector of the application's own (House Party's
// scenario numbers), labelled with the node like the rest.
func (m *Metrics) Register(c prometheus.Collector) error {
	if err := m.wrap.Register(c); err != nil {
		return fmt.Errorf("metrics: register: %w", err)
	}
	return nil
}

// Handler serves the metrics in the Prometheus text format: mount it at
// /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
