package shoal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
	"github.com/shoalhq/shoal/remote"
)

// Node is a running Shoal node: its process runtime, its links to the
// other nodes, its cluster membership and discovery, and its share of the
// cluster-wide registry. Start one per program (or several in one
// process, for tests), stop it with Stop. Safe for concurrent use.
type Node struct {
	cfg    Config
	cookie cookie.Cookie
	log    *slog.Logger
	rt     *process.Runtime
	rem    *remote.Remote
	cl     *cluster.Cluster
	reg    *registry.Registry

	mu      sync.Mutex
	drained bool // Drain has run
	closed  bool // the parts are stopped (Stop or Kill)
}

// Start starts a node: it checks cfg (an error names the field that is
// wrong and wraps ErrInvalidConfig), then starts the process runtime, the
// links to other nodes, membership with discovery, and the registry, in
// that order, and joins the nodes cfg.Join names. ctx bounds the start
// (the join); the node runs until Stop or Kill. The node is not yet ready
// for traffic when Start returns: WaitReady waits for that.
func Start(ctx context.Context, cfg Config, opts ...Option) (*Node, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.withDefaults()
	ck, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if err := declareTypes(cfg.Name, cfg.Kinds, cfg.Codec); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Every line names the node (membership adds it to its own).
	clusterLog := log
	log = log.With("node", cfg.Name)
	n := &Node{cfg: cfg, cookie: ck, log: log}
	n.rem, err = remote.New(remote.Config{Node: cfg.Name, Codec: cfg.Codec, Logger: log, ObserveCall: o.observeCall})
	if err != nil {
		return nil, fmt.Errorf("shoal: start node %s: links: %w", cfg.Name, err)
	}
	pcfg := process.Config{Node: cfg.Name, Logger: log, Remote: n.rem, StateCodec: cfg.Codec}
	if cfg.CodecCheck.on() {
		pcfg.Codec = cfg.Codec
	}
	n.rt, err = process.NewRuntime(pcfg, cfg.Kinds)
	if err != nil {
		_ = n.rem.Close()
		return nil, fmt.Errorf("shoal: start node %s: runtime: %w", cfg.Name, err)
	}
	ccfg := cluster.DefaultConfig(cfg.Name, ck)
	ccfg.BindAddr, ccfg.BindPort, ccfg.LinkPort = cfg.Addr, cfg.Port, cfg.LinkPort
	ccfg.Strategies = cfg.Discovery
	ccfg.ProbeInterval, ccfg.ProbeTimeout = cfg.ProbeInterval, cfg.ProbeInterval/2
	ccfg.OnLink = n.rem.HandleLink
	ccfg.CookieHint = cfg.CookieHint
	ccfg.Logger = clusterLog
	ccfg.Drop = o.drop
	if n.cl, err = cluster.New(ccfg); err != nil {
		n.closeParts(context.Background())
		return nil, fmt.Errorf("shoal: start node %s: membership: %w", cfg.Name, err)
	}
	if err := n.rem.Attach(n.rt, n.cl); err != nil {
		n.closeParts(context.Background())
		return nil, fmt.Errorf("shoal: start node %s: %w", cfg.Name, err)
	}
	if len(cfg.Join) > 0 {
		if _, err := n.cl.Join(ctx, cfg.Join); err != nil {
			n.closeParts(context.Background())
			return nil, fmt.Errorf("shoal: start node %s: join %v (Config.Join): %w", cfg.Name, cfg.Join, err)
		}
	}
	if o.noRegistry {
		return n, nil
	}
	rcfg := registry.Config{
		Logger:     log,
		Cluster:    n.cl,
		Codec:      cfg.Codec,
		Partitions: cfg.Partitions,
		Replicas:   cfg.Replicas,
		Quorum:     cfg.Quorum,
		ObserveOp:  o.observeOp,
	}
	if n.reg, err = registry.New(rcfg, n.rt); err != nil {
		n.closeParts(context.Background())
		return nil, fmt.Errorf("shoal: start node %s: registry: %w", cfg.Name, err)
	}
	if ck.IsRandom() {
		log.Info("no secret (Config.Secret): this node runs alone", "node", cfg.Name)
	}
	return n, nil
}

// Ready returns nil once the node can take traffic: discovery has had a
// first answer (and what it found has been joined) and the registry holds
// every member's registrations. Otherwise it says what is missing: a
// readiness probe's answer.
func (n *Node) Ready() error {
	if err := n.cl.Settled(); err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	if n.reg == nil {
		return nil
	}
	if err := n.reg.Synced(); err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	return nil
}

// WaitReady waits until Ready returns nil, or ctx ends; then the error
// says what the node was still waiting for.
func (n *Node) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := n.Ready()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("shoal: wait for ready: %w (%w)", err, ctx.Err())
		case <-tick.C:
		}
	}
}

// Drain hands every process of this node to the nodes that stay, within
// Config.DrainTimeout (or ctx, if it ends first), while the node still
// serves: the first step of Stop, for a program that has more to do
// before it leaves (such as finishing its HTTP requests). With no node
// left to take them (every node stops at once) the processes stop with
// this node: that is logged as a warning and not an error. Draining
// twice does nothing more.
func (n *Node) Drain(ctx context.Context) error {
	n.mu.Lock()
	if n.drained || n.closed || n.reg == nil {
		n.mu.Unlock()
		return nil
	}
	n.drained = true
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DrainTimeout)
	defer cancel()
	err := n.reg.Drain(ctx)
	noneLeft := errors.Is(err, registry.ErrNoMembers) || len(n.cl.Nodes()) == 0
	switch left := n.reg.Local(); {
	case err != nil && !noneLeft:
		n.log.Error("could not hand off every process; the rest restart from their specs elsewhere", "processes", left, "err", err)
		return fmt.Errorf("shoal: drain node %s: %w", n.cfg.Name, err)
	case noneLeft && left > 0:
		n.log.Warn("no node left to hand processes to (every other node is stopping too); they stop with this node", "processes", left)
	case left > 0:
		n.log.Warn("not every process was handed off (refused, or chose to stay); their new owners restart them from their specs", "processes", left)
	case !noneLeft:
		n.log.Info("handed every process off")
	}
	return nil
}

// Stop stops the node gracefully, as on SIGTERM: Drain (unless done
// already), then leave the cluster, then stop what is left; each step
// within its budget (Config's DrainTimeout, LeaveTimeout,
// ShutdownTimeout) or ctx, whichever ends first. Nothing is lost when
// other nodes stay. The error joins every step's. Stopping twice, or
// after Kill, does nothing.
func (n *Node) Stop(ctx context.Context) error {
	var errs []error
	if err := n.Drain(ctx); err != nil {
		errs = append(errs, err)
	}
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return errors.Join(errs...)
	}
	lctx, cancel := context.WithTimeout(ctx, n.cfg.LeaveTimeout)
	if err := n.cl.Leave(lctx); err != nil {
		errs = append(errs, fmt.Errorf("shoal: node %s: leave the cluster: %w", n.cfg.Name, err))
	}
	cancel()
	sctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout)
	defer cancel()
	if err := n.closeParts(sctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Kill stops the node at once, without handing processes off or leaving:
// the other nodes see it crash (for fault tests, or a program that must
// exit now). Idempotent.
func (n *Node) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	_ = n.closeParts(ctx)
}

// closeParts stops the parts that were started, once: the registry, then
// membership, links and the runtime.
func (n *Node) closeParts(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	var errs []error
	if n.reg != nil {
		_ = n.reg.Close()
	}
	if n.cl != nil {
		if err := n.cl.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shoal: node %s: stop membership: %w", n.cfg.Name, err))
		}
	}
	_ = n.rem.Close()
	if err := n.rt.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shoal: node %s: stop processes: %w", n.cfg.Name, err))
	}
	return errors.Join(errs...)
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Address is the node's membership address (host:port): what other nodes
// join.
func (n *Node) Address() string { return n.cl.Address() }

// Nodes returns the names of the other live members.
func (n *Node) Nodes() []string { return n.cl.Nodes() }

// Join joins the nodes at these membership addresses (host:port) and
// returns how many answered.
func (n *Node) Join(ctx context.Context, addrs []string) (int, error) {
	c, err := n.cl.Join(ctx, addrs)
	if err != nil {
		return c, fmt.Errorf("shoal: node %s: join %v: %w", n.cfg.Name, addrs, err)
	}
	return c, nil
}

// Cookie is the parsed secret (random when the node runs alone), for a
// program that derives other keys from it.
func (n *Node) Cookie() cookie.Cookie { return n.cookie }

// Runtime is the node's process runtime (an escape hatch: local spawns,
// refs, timers).
func (n *Node) Runtime() *process.Runtime { return n.rt }

// Registry is the node's share of the cluster-wide registry (an escape
// hatch: everything Node does not wrap); nil on a node started
// WithoutRegistry.
func (n *Node) Registry() *registry.Registry { return n.reg }

// Cluster is the node's membership (an escape hatch: members, events,
// links).
func (n *Node) Cluster() *cluster.Cluster { return n.cl }

// Remote is the node's gateway to processes on other nodes (an escape
// hatch).
func (n *Node) Remote() *remote.Remote { return n.rem }

// Codec is the codec of the messages and states that cross between nodes.
func (n *Node) Codec() *codec.Codec { return n.cfg.Codec }
