// Package cluster forms a cluster of Shoal nodes: membership with failure
// detection, node events, discovery, and authenticated links between
// members.
//
// Membership is hashicorp/memberlist (SWIM gossip with Lifeguard failure
// detection), kept behind this package's own types. Its gossip is
// encrypted with an AES-256-GCM key derived from the cluster cookie, so a
// node without the cookie can neither join, read nor inject membership
// traffic. Each node also runs a link server (package transport) whose
// address it advertises in its membership metadata; links are TLS 1.3,
// mutually authenticated by the same cookie.
//
// Discovery strategies (package discovery) are polled at their interval;
// the addresses they report that are not yet members are joined. A
// strategy that fails is logged once per change of error and retried with
// exponential backoff; the members the cluster has stay.
//
// Node events (up, down, left, updated) reach every subscriber in order,
// the equivalent of Erlang's net_kernel:monitor_nodes.
package cluster

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/transport"
)

var (
	// ErrInvalidConfig means a Config field is invalid.
	ErrInvalidConfig = errors.New("invalid cluster config")
	// ErrUnknownMember means no live member has that name.
	ErrUnknownMember = errors.New("unknown member")
	// ErrStopped means the cluster has been shut down.
	ErrStopped = errors.New("cluster stopped")
)

// Status is a member's state as this node sees it.
type Status string

// Member states.
const (
	StatusAlive   Status = "alive"
	StatusSuspect Status = "suspect"
	StatusDead    Status = "dead"
	StatusLeft    Status = "left"
)

// Member is one node of the cluster.
type Member struct {
	// Name is the node's name, basename@host.
	Name string `json:"name"`
	// Address is the node's membership (gossip) address, host:port.
	Address string `json:"address"`
	// LinkAddress is where the node accepts links, host:port.
	LinkAddress string `json:"link_address,omitempty"`
	Status      Status `json:"status"`
	// Self is true for this node.
	Self bool `json:"self,omitempty"`
	// Incarnation is drawn at random each time the node starts: a node
	// that comes back at the same name and address (a container restarted
	// in place) is a new incarnation. 0 from a node of an older version.
	Incarnation uint64 `json:"incarnation,omitempty"`
}

// EventType says what happened to a member.
type EventType int

// Event types.
const (
	// EventUp: a node joined (or came back).
	EventUp EventType = iota + 1
	// EventDown: a node failed (detected dead without leaving).
	EventDown
	// EventLeft: a node left gracefully.
	EventLeft
	// EventUpdate: a node's metadata changed.
	EventUpdate
)

func (t EventType) String() string {
	switch t {
	case EventUp:
		return "up"
	case EventDown:
		return "down"
	case EventLeft:
		return "left"
	case EventUpdate:
		return "update"
	}
	return "unknown"
}

// Event is a change in membership.
type Event struct {
	Type   EventType
	Member Member
	At     time.Time
}

// Config configures a node's membership.
type Config struct {
	// Name is this node's name, basename@host. Required, unique in the
	// cluster.
	Name string
	// BindAddr and BindPort are where membership traffic is received
	// (TCP and UDP). Port 0 picks a free port (tests).
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other nodes are told;
	// empty/0 means the bind address/port.
	AdvertiseAddr string
	AdvertisePort int
	// LinkPort is where links are accepted, on the bind address; 0 picks a
	// free port. Its address is advertised in the node's metadata.
	LinkPort int
	// Cookie is the cluster secret. A cookie from cookie.Random lets the
	// node run alone: discovery is disabled and it says so.
	Cookie cookie.Cookie
	// Strategies find candidate peers; may be empty.
	Strategies []discovery.Strategy
	// ProbeInterval, ProbeTimeout, SuspicionMult and SuspicionMaxMult tune
	// failure detection: a node killed without leaving is declared down
	// after roughly (ProbeInterval * members) + SuspicionMult *
	// ProbeInterval * SuspicionMaxMult at worst. The defaults report a
	// dead node within 5 s in clusters of up to about 10 nodes.
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	SuspicionMult    int
	SuspicionMaxMult int
	// DeadRetention is how long dead and left members stay listed by
	// Members; 0 means 5 minutes.
	DeadRetention time.Duration
	// OnLink handles each link another member opens to this node; it owns
	// the link until it returns. Nil closes incoming links, with a warning
	// once per peer (a node that takes messages sets remote.Remote's
	// HandleLink).
	OnLink func(*transport.Link)
	// CookieHint, if set, names where an operator sets the cookie (such as
	// an environment variable), for the warnings about peers that do not
	// share it.
	CookieHint string
	// Logger receives cluster events; nil discards them.
	Logger *slog.Logger
	// Drop, if set, is asked before this node sends anything to a network
	// address (gossip packets and streams, links); true drops it, as a cut
	// network would. For netsplit tests: cut both sides' Drop to split.
	Drop func(addr string) bool
}

// DefaultConfig returns defaults for a node named name with cookie c,
// bound to 127.0.0.1:7946.
func DefaultConfig(name string, c cookie.Cookie) Config {
	return Config{
		Name:             name,
		BindAddr:         "127.0.0.1",
		BindPort:         7946,
		Cookie:           c,
		ProbeInterval:    400 * time.Millisecond,
		ProbeTimeout:     200 * time.Millisecond,
		SuspicionMult:    3,
		SuspicionMaxMult: 2,
		DeadRetention:    5 * time.Minute,
	}
}

// LoopbackConfig returns defaults for tests: 127.0.0.1, free ports.
func LoopbackConfig(name string, c cookie.Cookie) Config {
	cfg := DefaultConfig(name, c)
	cfg.BindPort = 0
	return cfg
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	if c.Name == "" || len(c.Name) > 255 {
		return fmt.Errorf("%w: name must be 1-255 bytes", ErrInvalidConfig)
	}
	if net.ParseIP(c.BindAddr) == nil {
		return fmt.Errorf("%w: bind address %q is not an IP address", ErrInvalidConfig, c.BindAddr)
	}
	for name, p := range map[string]int{"bind port": c.BindPort, "advertise port": c.AdvertisePort, "link port": c.LinkPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("%w: %s %d out of range", ErrInvalidConfig, name, p)
		}
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return fmt.Errorf("%w: advertise address %q is not an IP address", ErrInvalidConfig, c.AdvertiseAddr)
	}
	if c.Cookie.IsZero() {
		return fmt.Errorf("%w: no cookie", ErrInvalidConfig)
	}
	if c.ProbeInterval < 0 || c.ProbeTimeout < 0 || c.SuspicionMult < 0 || c.SuspicionMaxMult < 0 {
		return fmt.Errorf("%w: negative failure-detection setting", ErrInvalidConfig)
	}
	return nil
}

// Cluster is this node's view of the cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	ml     *memberlist.Memberlist
	tr     *transport.Transport
	links  *transport.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	inc uint64 // this node's incarnation

	// closing is set as Shutdown begins (memberlist's goroutines then
	// fail on its closed sockets and miss their probes' answers: expected,
	// so logged at debug), quiet
	// once it returns (memberlist does not wait for its goroutines: a
	// line they write later is dropped, not sent to a logger its owner
	// may have closed).
	closing, quiet atomic.Bool

	mu      sync.Mutex
	live    map[string]Member    // the other live members, as memberlist last told (its Nodes are not safe to read later)
	incs    map[string]uint64    // incarnation of each live member, as last seen
	leaving map[string]time.Time // members that announced they are leaving
	acked   map[string]bool      // members that answered this node's leaving notice
	ackedCh chan struct{}        // a token when acked grows (capacity 1)
	suspect map[string]time.Time // members this node suspects (failed a probe)
	// memberlist's failure detector settings, for how long a suspicion lasts
	probeEvery            time.Duration
	suspMult, suspMaxMult int
	gone                  map[string]goneMember // dead or left members, until DeadRetention
	subs                  map[*subscription]struct{}
	found                 map[string][]string // discovered addresses by strategy name
	settled               map[string]bool     // strategies that polled once and joined what they found
	stopped               bool

	joinLogMu sync.Mutex
	joinLog   map[string]string // address -> last join error logged

	shutdownOnce sync.Once
	shutdownErr  error
}

// New starts this node's membership, link server and discovery.
func New(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:     cfg,
		log:     cfg.Logger,
		inc:     newIncarnation(),
		incs:    make(map[string]uint64),
		live:    make(map[string]Member),
		gone:    make(map[string]goneMember),
		leaving: make(map[string]time.Time),
		acked:   make(map[string]bool),
		ackedCh: make(chan struct{}, 1),
		suspect: make(map[string]time.Time),
		subs:    make(map[*subscription]struct{}),
		found:   make(map[string][]string),
		settled: make(map[string]bool),
		joinLog: make(map[string]string),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("node", cfg.Name)
	if c.cfg.DeadRetention == 0 {
		c.cfg.DeadRetention = 5 * time.Minute
	}
	var err error
	c.tr, err = transport.New(transport.Config{Node: cfg.Name, Cookie: cfg.Cookie, CookieHint: cfg.CookieHint, Logger: c.log, Drop: cfg.Drop})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	onLink := cfg.OnLink
	if onLink == nil {
		// Membership only: a link another member opens is closed, and
		// said so once per peer here, where the missing wiring is (the
		// peer only sees its writes fail).
		var told sync.Map
		onLink = func(l *transport.Link) {
			if _, seen := told.LoadOrStore(l.Peer(), true); !seen {
				c.log.Warn("link from "+l.Peer()+" closed: this node takes no messages (cluster.Config.OnLink is nil; set it to the remote's HandleLink)", "peer", l.Peer())
			}
		}
	}
	c.links, err = c.tr.Listen(net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.LinkPort)), onLink)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	linkPort := c.links.Addr().(*net.TCPAddr).Port
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		advertise = cfg.BindAddr
	}
	meta := encodeMeta(nodeMeta{link: net.JoinHostPort(advertise, strconv.Itoa(linkPort)), incarnation: c.inc})

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	mc.SecretKey = cfg.Cookie.Key(cookie.PurposeGossip, 32)
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Label = "shoal"
	mc.TCPTimeout = 3 * time.Second
	mc.PushPullInterval = 10 * time.Second
	mc.DeadNodeReclaimTime = 5 * time.Second
	if cfg.ProbeInterval > 0 {
		mc.ProbeInterval = cfg.ProbeInterval
	}
	if cfg.ProbeTimeout > 0 {
		mc.ProbeTimeout = cfg.ProbeTimeout
	}
	if cfg.SuspicionMult > 0 {
		mc.SuspicionMult = cfg.SuspicionMult
	}
	if cfg.SuspicionMaxMult > 0 {
		mc.SuspicionMaxTimeoutMult = cfg.SuspicionMaxMult
	}
	c.probeEvery, c.suspMult, c.suspMaxMult = mc.ProbeInterval, mc.SuspicionMult, mc.SuspicionMaxTimeoutMult
	mc.Delegate = &delegate{meta: meta, c: c}
	mc.Ping = pinger{c: c}
	mc.Events = &events{c: c}
	mc.Logger = log.New(&logAdapter{c: c}, "", 0)
	if cfg.Drop != nil {
		if err := dropping(mc, cfg.Drop); err != nil {
			c.links.Close()
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		c.links.Close()
		return nil, fmt.Errorf("cluster: start membership on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	c.mu.Lock()
	c.ml = ml // memberlist already delivers messages: NotifyMsg reads it under c.mu
	c.mu.Unlock()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if cfg.Cookie.IsRandom() {
		c.log.Warn("no cookie set: running as a single node; give every node the same cookie" + c.hint() + " to form a cluster")
		if len(cfg.Strategies) > 0 {
			c.log.Warn("discovery disabled: a node without a shared cookie cannot join a cluster")
		}
	} else {
		for _, s := range cfg.Strategies {
			c.wg.Add(1)
			go c.runStrategy(s)
		}
	}
	c.log.Info("cluster node started", "gossip", c.ml.LocalNode().Address(), "links", c.links.Addr().String(), "incarnation", fmt.Sprintf("%016x", c.inc))
	return c, nil
}

// Name returns this node's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// Incarnation returns this start of the node's random, non-zero id.
func (c *Cluster) Incarnation() uint64 { return c.inc }

// newIncarnation draws a random, non-zero incarnation.
func newIncarnation() uint64 {
	var b [8]byte
	for {
		if _, err := crand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("cluster: no randomness for an incarnation: %v", err))
		}
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// Transport returns the node's link transport, to dial other nodes.
func (c *Cluster) Transport() *transport.Transport { return c.tr }

// LinkAddr returns the address this node accepts links on.
func (c *Cluster) LinkAddr() string { return c.links.Addr().String() }

// Address returns this node's advertised membership address.
func (c *Cluster) Address() string { return c.ml.LocalNode().Address() }

// member describes a memberlist node. Only memberlist's callbacks may
// call it: memberlist updates its nodes in place, under its own lock,
// which it holds while it calls them.
func (c *Cluster) member(n *memberlist.Node) Member {
	m := Member{Name: n.Name, Address: n.Address(), Self: n.Name == c.cfg.Name, Status: StatusAlive}
	if meta, err := decodeMeta(n.Meta); err == nil {
		m.LinkAddress, m.Incarnation = meta.link, meta.incarnation
	}
	return m
}

// withStatusLocked sets a live member's status: memberlist's public Node
// does not carry its state, and this node knows which ones it suspects.
// c.mu is held.
func (c *Cluster) withStatusLocked(m Member) Member {
	m.Status = StatusAlive
	if at, ok := c.suspect[m.Name]; ok {
		if time.Since(at) < c.suspicionWindowLocked() {
			m.Status = StatusSuspect
		} else {
			delete(c.suspect, m.Name) // refuted: it answered again
		}
	}
	return m
}

// self describes this node.
func (c *Cluster) self() Member {
	return Member{Name: c.cfg.Name, Address: c.Address(), LinkAddress: c.LinkAddr(), Status: StatusAlive, Self: true, Incarnation: c.inc}
}

// suspicionWindowLocked bounds how long a suspicion can last: memberlist
// declares a suspect dead after at most SuspicionMult * max(1, log10(n)) *
// ProbeInterval * SuspicionMaxTimeoutMult (n members), and a suspect that
// refutes it answers this node's next probe (which clears it at once, see
// pinger). One more probe interval covers the timer's own lag. c.mu is held.
func (c *Cluster) suspicionWindowLocked() time.Duration {
	n := float64(len(c.live) + 1)
	scale := max(1, math.Log10(n))
	timeout := time.Duration(float64(c.suspMult) * scale * float64(c.probeEvery))
	return timeout*time.Duration(c.suspMaxMult) + c.probeEvery
}

// pinger hears of every direct probe of a member that was answered: a
// suspect that answers has refuted the suspicion (memberlist tells no event
// when a suspect is found alive again).
type pinger struct{ c *Cluster }

// AckPayload adds nothing to this node's acks.
func (pinger) AckPayload() []byte { return nil }

// NotifyPingComplete clears the suspicion of the member that answered.
func (p pinger) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	p.c.mu.Lock()
	delete(p.c.suspect, other.Name)
	p.c.mu.Unlock()
}

// markSuspect records that this node's probe of name failed.
func (c *Cluster) markSuspect(name string) {
	c.mu.Lock()
	c.suspect[name] = time.Now()
	c.mu.Unlock()
}

// Members returns every member this node knows, itself included: the live
// ones (alive or suspect) and, for Config.DeadRetention, those that died
// or left. Sorted by name.
func (c *Cluster) Members() []Member {
	out := []Member{c.self()}
	names := map[string]bool{c.cfg.Name: true}
	c.mu.Lock()
	for name, m := range c.live {
		out = append(out, c.withStatusLocked(m))
		names[name] = true
	}
	c.pruneGoneLocked()
	for name, g := range c.gone {
		if names[name] {
			delete(c.gone, name)
			continue
		}
		out = append(out, g.m)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Nodes returns the names of the other live members, sorted.
func (c *Cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.live))
}

// Member returns the live member called name.
func (c *Cluster) Member(name string) (Member, error) {
	if name == c.cfg.Name {
		return c.self(), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.live[name]; ok {
		return c.withStatusLocked(m), nil
	}
	return Member{}, fmt.Errorf("%q: %w", name, ErrUnknownMember)
}

// DialLink opens an authenticated link to the live member called name.
func (c *Cluster) DialLink(ctx context.Context, name string) (*transport.Link, error) {
	m, err := c.Member(name)
	if err != nil {
		return nil, fmt.Errorf("dial link: %w", err)
	}
	if m.LinkAddress == "" {
		return nil, fmt.Errorf("dial link: %q advertises no link address", name)
	}
	return c.tr.Dial(ctx, m.LinkAddress)
}

// Join contacts the nodes at addrs (membership addresses, host:port) and
// joins their cluster. It returns how many answered.
func (c *Cluster) Join(ctx context.Context, addrs []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("join: %w", err)
	}
	n, err := c.ml.Join(addrs)
	if err != nil && n == 0 {
		return 0, fmt.Errorf("join %v: %w", addrs, explainJoin(err))
	}
	return n, nil
}

// Discovered returns the addresses each strategy reported last, by
// strategy name.
func (c *Cluster) Discovered() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]string, len(c.found))
	for k, v := range c.found {
		out[k] = slices.Clone(v)
	}
	return out
}

// ErrNotSettled is returned by Settled while discovery has not yet had
// its first answer.
var ErrNotSettled = errors.New("discovery has not completed a first round")

// Settled reports whether this node has had its first look for peers:
// every discovery strategy has answered at least once and the node has
// tried to join every address it was given (those that answered are
// members). A node with no strategies, or running alone without a
// cookie, is settled from the start. Otherwise the error wraps
// ErrNotSettled and names the strategies still waiting.
//
// A readiness probe uses it: a node that has not looked for its peers
// yet must not take traffic as if it were alone.
func (c *Cluster) Settled() error {
	if c.cfg.Cookie.IsRandom() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var waiting []string
	for _, s := range c.cfg.Strategies {
		if !c.settled[s.Name()] {
			waiting = append(waiting, s.Name())
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("%w: waiting for %s", ErrNotSettled, strings.Join(waiting, ", "))
	}
	return nil
}

// Leave tells the other members that this node is leaving, waits (up to
// ctx) for that to spread, then shuts the node down. Idempotent.
func (c *Cluster) Leave(ctx context.Context) error {
	// At most 5 s: memberlist waits for the broadcast as long as it sees
	// a live peer, and peers leaving at the same time never answer.
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if !stopped {
		deadline := time.Now().Add(timeout)
		c.announceLeaving(min(timeout/2, maxLeavingWait))
		if err := c.ml.Leave(max(time.Until(deadline), 0)); err != nil {
			c.log.Warn("leave broadcast incomplete", "err", err)
		}
	}
	return c.Shutdown(ctx)
}

// maxLeavingWait bounds how long Leave waits for the other members to
// answer its leaving notice; one that has not answered by then may
// report this node down instead of left.
const maxLeavingWait = 2 * time.Second

// announceLeaving sends the leaving notice to every other member and
// waits, up to wait, until each has answered it.
func (c *Cluster) announceLeaving(wait time.Duration) {
	notice := encodeNotice(leavingTag, c.cfg.Name)
	want := make(map[string]bool)
	for _, n := range c.ml.Members() {
		if n.Name == c.cfg.Name {
			continue
		}
		if err := c.ml.SendReliable(n, notice); err != nil {
			c.log.Warn("could not announce leaving", "peer", n.Name, "err", err)
			continue
		}
		want[n.Name] = true
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for name := range want {
			if c.acked[name] {
				delete(want, name)
			}
		}
		c.mu.Unlock()
		if len(want) == 0 {
			return
		}
		select {
		case <-c.ackedCh:
		case <-deadline.C:
			c.log.Warn("leaving notice unanswered", "peers", strings.Join(slices.Sorted(maps.Keys(want)), ", "))
			return
		}
	}
}

// Shutdown stops this node without telling the others (they will detect
// it as failed), closes links and subscriptions, and waits for every
// goroutine it owns. Idempotent.
func (c *Cluster) Shutdown(ctx context.Context) error {
	c.shutdownOnce.Do(func() {
		c.closing.Store(true)
		c.mu.Lock()
		c.stopped = true
		subs := make([]*subscription, 0, len(c.subs))
		for s := range c.subs {
			subs = append(subs, s)
		}
		c.mu.Unlock()
		c.cancel()
		errs := []error{c.ml.Shutdown(), c.links.Close()}
		for _, s := range subs {
			s.Close()
		}
		done := make(chan struct{})
		go func() { c.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("cluster shutdown: %w", ctx.Err()))
		}
		for _, s := range c.cfg.Strategies {
			if cl, ok := s.(io.Closer); ok {
				if err := cl.Close(); err != nil {
					errs = append(errs, fmt.Errorf("close strategy %s: %w", s.Name(), err))
				}
			}
		}
		c.shutdownErr = errors.Join(errs...)
		c.log.Info("cluster node stopped")
		c.quiet.Store(true)
	})
	return c.shutdownErr
}

// hint is " (CookieHint)" for the cookie warnings, or nothing.
func (c *Cluster) hint() string {
	if c.cfg.CookieHint == "" {
		return ""
	}
	return " (" + c.cfg.CookieHint + ")"
}

// publish delivers ev to every subscriber. Called from memberlist's
// goroutines; never blocks.
func (c *Cluster) publish(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.suspect, ev.Member.Name)
	switch ev.Type {
	case EventDown, EventLeft:
		c.gone[ev.Member.Name] = goneMember{m: ev.Member, at: ev.At}
		c.pruneGoneLocked()
	case EventUp:
		delete(c.gone, ev.Member.Name)
	}
	for s := range c.subs {
		s.push(ev)
	}
}

type goneMember struct {
	m  Member
	at time.Time
}

func (c *Cluster) pruneGoneLocked() {
	cut := time.Now().Add(-c.cfg.DeadRetention)
	for name, g := range c.gone {
		if g.at.Before(cut) {
			delete(c.gone, name)
		}
	}
}

type delegate struct {
	meta []byte
	c    *Cluster
}

func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil
	}
	return d.meta
}

// NotifyMsg receives user messages from other members (already decrypted
// and authenticated by memberlist); the only one is the leaving notice.
func (d *delegate) NotifyMsg(b []byte) {
	tag, name, err := decodeNotice(b)
	if err != nil {
		d.c.log.Debug("ignored membership message", "err", err)
		return
	}
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if tag == leavingAckTag {
		c.acked[name] = true
		select {
		case c.ackedCh <- struct{}{}:
		default:
		}
		return
	}
	c.leaving[name] = time.Now()
	ml := c.ml
	if c.stopped || ml == nil {
		return // shutting down, or still starting: the leaver stops waiting in time
	}
	// Answer from a goroutine of ours: memberlist calls this from the
	// connection's handler, which the answer's dial must not hold up.
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for _, n := range ml.Members() {
			if n.Name == name {
				if err := ml.SendReliable(n, encodeNotice(leavingAckTag, c.cfg.Name)); err != nil {
					c.log.Debug("could not answer a leaving notice", "peer", name, "err", err)
				}
				return
			}
		}
	}()
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

type events struct{ c *Cluster }

func (e *events) NotifyJoin(n *memberlist.Node) {
	m := e.c.member(n)
	if m.Self {
		return
	}
	e.c.mu.Lock()
	e.c.incs[m.Name] = m.Incarnation
	e.c.live[m.Name] = m
	e.c.mu.Unlock()
	e.c.log.Info("node up", "peer", m.Name, "address", m.Address)
	e.c.publish(Event{Type: EventUp, Member: m, At: time.Now()})
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	m := e.c.member(n)
	if m.Self {
		return
	}
	// memberlist does not tell us whether the node left or died; a node
	// that leaves tells every member first (see Leave).
	e.c.mu.Lock()
	at, announced := e.c.leaving[m.Name]
	delete(e.c.leaving, m.Name)
	delete(e.c.incs, m.Name)
	delete(e.c.live, m.Name)
	e.c.mu.Unlock()
	t := EventDown
	m.Status = StatusDead
	if announced && time.Since(at) < time.Minute {
		t, m.Status = EventLeft, StatusLeft
	}
	e.c.log.Info("node "+t.String(), "peer", m.Name, "address", m.Address)
	e.c.publish(Event{Type: t, Member: m, At: time.Now()})
}

// NotifyUpdate hears a member's new metadata. A new incarnation under a
// name still alive here is a node that restarted in place faster than
// failure detection noticed (memberlist sees only an update): what the
// old one ran is gone, so subscribers get the old one's EventDown, then
// the new one's EventUp.
func (e *events) NotifyUpdate(n *memberlist.Node) {
	m := e.c.member(n)
	if m.Self {
		return
	}
	e.c.mu.Lock()
	prev, known := e.c.incs[m.Name]
	e.c.incs[m.Name] = m.Incarnation
	e.c.live[m.Name] = m
	delete(e.c.leaving, m.Name) // a notice from the old incarnation
	e.c.mu.Unlock()
	if known && prev != m.Incarnation {
		old := m
		old.Incarnation, old.Status = prev, StatusDead
		e.c.log.Info("node restarted", "peer", m.Name, "address", m.Address,
			"old", fmt.Sprintf("%016x", prev), "new", fmt.Sprintf("%016x", m.Incarnation))
		now := time.Now()
		e.c.publish(Event{Type: EventDown, Member: old, At: now})
		e.c.publish(Event{Type: EventUp, Member: m, At: now})
		return
	}
	e.c.publish(Event{Type: EventUpdate, Member: m, At: time.Now()})
}

// Subscription receives node events in order, from the moment it was
// made, until Close. An interface, so that a test can give the registry
// (or anything that follows membership) events of its own.
type Subscription interface {
	// Events delivers the events; it closes after Close.
	Events() <-chan Event
	// Close ends the subscription.
	Close()
}

// subscription is the Cluster's Subscription.
type subscription struct {
	c    *Cluster
	ch   chan Event
	mu   sync.Mutex
	q    []Event
	wake chan struct{}
	done chan struct{}
	once sync.Once
}

// Subscribe returns a new subscription to node events. Events are buffered
// without bound until read; close the subscription when done.
func (c *Cluster) Subscribe() Subscription {
	s := &subscription{c: c, ch: make(chan Event), wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		close(s.ch)
		s.once.Do(func() { close(s.done) })
		return s
	}
	c.subs[s] = struct{}{}
	c.wg.Add(1)
	c.mu.Unlock()
	go s.forward()
	return s
}

// Events returns the channel of events; it is closed when the subscription
// or the cluster is closed.
func (s *subscription) Events() <-chan Event { return s.ch }

// Close ends the subscription. Idempotent.
func (s *subscription) Close() {
	s.once.Do(func() {
		s.c.mu.Lock()
		delete(s.c.subs, s)
		s.c.mu.Unlock()
		close(s.done)
	})
}

func (s *subscription) push(ev Event) {
	s.mu.Lock()
	s.q = append(s.q, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscription) forward() {
	defer s.c.wg.Done()
	defer close(s.ch)
	for {
		s.mu.Lock()
		q := s.q
		s.q = nil
		s.mu.Unlock()
		for _, ev := range q {
			select {
			case s.ch <- ev:
			case <-s.done:
				return
			}
		}
		select {
		case <-s.wake:
		case <-s.done:
			return
		}
	}
}

// logAdapter turns memberlist's log lines into structured logs, and its
// decryption failures into one clear line per peer host.
type logAdapter struct{ c *Cluster }

func (a *logAdapter) Write(p []byte) (int, error) {
	a.c.logMemberlist(string(p))
	return len(p), nil
}

var _ io.Writer = (*logAdapter)(nil)
