package gossip

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
)

// Defaults, libcluster's for the group and port.
const (
	// DefaultGroup is the IPv4 multicast group joined when none is given.
	DefaultGroup = "230.1.1.251"
	// DefaultPort is the UDP port of the group when none is given.
	DefaultPort = 45892
	// DefaultTTL keeps heartbeats on the local segment: no router forwards
	// them.
	DefaultTTL = 1
	// DefaultMaxAge is how old a heartbeat may be and still be accepted.
	DefaultMaxAge = 30 * time.Second
	// DefaultMaxSkew is how far in the future a heartbeat may be stamped
	// (the sender's clock running ahead of ours) and still be accepted.
	DefaultMaxSkew = 5 * time.Second
	// ExpiryIntervals is how many intervals after its last heartbeat a peer
	// is dropped from Discover's answer.
	ExpiryIntervals = 3
	// MinInterval is the shortest heartbeat interval Config accepts.
	MinInterval = 10 * time.Millisecond
)

// Errors returned by this package, wrapped with what failed.
var (
	// ErrInvalidConfig means a Config failed Validate.
	ErrInvalidConfig = errors.New("invalid gossip discovery config")
	// ErrNotStarted means Discover was called before Start.
	ErrNotStarted = errors.New("gossip discovery not started")
	// ErrStarted means Start was called twice.
	ErrStarted = errors.New("gossip discovery already started")
	// ErrClosed means the strategy was used after Close.
	ErrClosed = errors.New("gossip discovery closed")
)

// Config configures a multicast discovery Strategy. Start from
// DefaultConfig and set Self and Cookie.
type Config struct {
	// Group is the IPv4 multicast group to join and send to.
	Group netip.Addr
	// Port is the group's UDP port.
	Port int
	// Interface names the network interface to join the group on and send
	// from; empty lets the kernel choose by its routing table.
	Interface string
	// TTL is the multicast time-to-live, 0..255. 1 keeps heartbeats on the
	// local segment; 0 keeps them on this host.
	TTL int
	// Interval is how often a heartbeat is sent, and the polling interval
	// the strategy reports to the cluster. Peers expire after
	// ExpiryIntervals intervals of silence.
	Interval time.Duration
	// MaxAge is the oldest heartbeat accepted, measured from its sender's
	// timestamp; it bounds replay.
	MaxAge time.Duration
	// MaxSkew is how far in the future a heartbeat's timestamp may be.
	MaxSkew time.Duration
	// Self is this node's advertised cluster address, "host:port": what
	// its heartbeats announce, and what Discover leaves out.
	Self string
	// Cookie is the cluster's shared secret; heartbeats are sealed with a
	// key derived from it. Required.
	Cookie cookie.Cookie
	// Logger receives strategy events; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: group 230.1.1.251:45892, TTL 1,
// interval discovery.DefaultInterval, MaxAge 30s, MaxSkew 5s, any
// interface. Self and Cookie are left for the caller.
func DefaultConfig() Config {
	return Config{
		Group:    netip.MustParseAddr(DefaultGroup),
		Port:     DefaultPort,
		TTL:      DefaultTTL,
		Interval: discovery.DefaultInterval,
		MaxAge:   DefaultMaxAge,
		MaxSkew:  DefaultMaxSkew,
	}
}

// Validate reports the first problem with c, wrapping ErrInvalidConfig.
// It does not look up Interface; Start does.
func (c Config) Validate() error {
	switch {
	case !c.Group.Is4() || !c.Group.IsMulticast():
		return fmt.Errorf("%w: group %v is not an IPv4 multicast address", ErrInvalidConfig, c.Group)
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("%w: port %d is not in 1..65535", ErrInvalidConfig, c.Port)
	case c.TTL < 0 || c.TTL > 255:
		return fmt.Errorf("%w: ttl %d is not in 0..255", ErrInvalidConfig, c.TTL)
	case c.Interval < MinInterval:
		return fmt.Errorf("%w: interval %s is shorter than %s", ErrInvalidConfig, c.Interval, MinInterval)
	case c.MaxAge <= 0:
		return fmt.Errorf("%w: max age %s must be positive", ErrInvalidConfig, c.MaxAge)
	case c.MaxSkew < 0:
		return fmt.Errorf("%w: max skew %s must not be negative", ErrInvalidConfig, c.MaxSkew)
	case c.Cookie.IsZero():
		return fmt.Errorf("%w: no cookie", ErrInvalidConfig)
	}
	if err := checkAddr(c.Self); err != nil {
		return fmt.Errorf("%w: self: %w", ErrInvalidConfig, err)
	}
	return nil
}

// FromSpec builds a Strategy from a parsed "gossip" spec (see the package
// documentation for its syntax). self is this node's advertised cluster
// address and c the cluster cookie; d supplies the logger. The spec is not
// modified. Errors wrap discovery.ErrInvalidSpec for a bad spec and
// ErrInvalidConfig for a bad self or cookie. The Strategy is not started.
func FromSpec(spec discovery.Spec, d discovery.Defaults, self string, c cookie.Cookie) (*Strategy, error) {
	sp := spec
	sp.Options = maps.Clone(spec.Options)
	if sp.Name != "gossip" {
		return nil, fmt.Errorf("%w: %q is not a gossip spec", discovery.ErrInvalidSpec, sp.Name)
	}
	cfg := DefaultConfig()
	cfg.Self, cfg.Cookie, cfg.Logger = self, c, d.Logger
	if sp.Arg != "" {
		host, port, err := net.SplitHostPort(sp.Arg)
		if err != nil {
			return nil, fmt.Errorf("%w: gossip: %q is not GROUP:PORT", discovery.ErrInvalidSpec, sp.Arg)
		}
		g, err := netip.ParseAddr(host)
		if err != nil || !g.Is4() || !g.IsMulticast() {
			return nil, fmt.Errorf("%w: gossip: group %q is not an IPv4 multicast address", discovery.ErrInvalidSpec, host)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%w: gossip: port %q is not in 1..65535", discovery.ErrInvalidSpec, port)
		}
		cfg.Group, cfg.Port = g, int(p)
	}
	iv, err := sp.TakeInterval(cfg.Interval)
	if err != nil {
		return nil, err
	}
	cfg.Interval = iv
	if v, ok := sp.Take("if"); ok {
		if v == "" {
			return nil, fmt.Errorf("%w: gossip: if is empty", discovery.ErrInvalidSpec)
		}
		cfg.Interface = v
	}
	if v, ok := sp.Take("ttl"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 255 {
			return nil, fmt.Errorf("%w: gossip: ttl %q is not in 0..255", discovery.ErrInvalidSpec, v)
		}
		cfg.TTL = n
	}
	if err := sp.Done(); err != nil {
		return nil, err
	}
	return New(cfg)
}

// Strategy is multicast discovery: a discovery.Strategy with a lifetime.
// Its methods are safe for concurrent use. After New, call Start to begin
// heartbeating and listening, and Close to stop.
type Strategy struct {
	cfg      Config
	name     string
	aead     cipher.AEAD
	log      *slog.Logger
	expiry   time.Duration
	now      func() time.Time // time.Now; tests replace it before Start
	dropped  atomic.Int64     // packets rejected for a foreign cookie (tests)
	accepted atomic.Int64     // heartbeats accepted from peers (tests)

	mu     sync.Mutex
	state  int // stateNew, stateStarted, stateClosed
	run    *running
	peers  map[string]peer
	warned map[netip.Addr]struct{} // sources already warned about
}

// Strategy states.
const (
	stateNew = iota
	stateStarted
	stateClosed
)

// maxWarned bounds the set of warned-about sources; when full it is
// cleared, so a flood of sources costs at most a repeated warning.
const maxWarned = 256

// peer is what we know of one announced address.
type peer struct {
	sent  time.Time // newest sender timestamp accepted
	heard time.Time // our clock when that heartbeat arrived
}

// running holds what Start created and Close tears down.
type running struct {
	recv  *net.UDPConn
	send  net.PacketConn
	group *net.UDPAddr
	done  chan struct{}
	wg    sync.WaitGroup
}

var (
	_ discovery.Strategy = (*Strategy)(nil)
	_ discovery.Interval = (*Strategy)(nil)
	_ io.Closer          = (*Strategy)(nil)
)

// New validates a copy of cfg and returns an unstarted Strategy. It opens
// no socket and starts no goroutine.
func New(cfg Config) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	aead, err := newAEAD(cfg.Cookie)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	name := "gossip:" + netip.AddrPortFrom(cfg.Group, uint16(cfg.Port)).String()
	if cfg.Interface != "" {
		name += "?if=" + cfg.Interface
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Strategy{
		cfg:    cfg,
		name:   name,
		aead:   aead,
		log:    log.With("strategy", name),
		expiry: ExpiryIntervals * cfg.Interval,
		now:    time.Now,
		peers:  map[string]peer{},
		warned: map[netip.Addr]struct{}{},
	}, nil
}

// Name identifies the strategy in logs, e.g. "gossip:230.1.1.251:45892".
func (s *Strategy) Name() string { return s.name }

// Interval returns the heartbeat interval, which is also how often the
// cluster should call Discover.
func (s *Strategy) Interval() time.Duration { return s.cfg.Interval }

// Start opens the sockets, joins the group and starts the goroutines that
// send and receive heartbeats; the first heartbeat goes out at once. ctx
// bounds the start only: the goroutines run until Close. It does not
// block beyond opening sockets. Start fails with ErrStarted if called
// twice and ErrClosed after Close; a failed Start may be retried.
func (s *Strategy) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateStarted:
		return ErrStarted
	case stateClosed:
		return fmt.Errorf("gossip: start: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gossip: start: %w", err)
	}
	var ifi *net.Interface
	if s.cfg.Interface != "" {
		var err error
		if ifi, err = net.InterfaceByName(s.cfg.Interface); err != nil {
			return fmt.Errorf("gossip: start: interface %q: %w", s.cfg.Interface, err)
		}
		if ifi.Flags&net.FlagMulticast == 0 {
			return fmt.Errorf("gossip: start: interface %q does not support multicast", s.cfg.Interface)
		}
	}
	group := &net.UDPAddr{IP: s.cfg.Group.AsSlice(), Port: s.cfg.Port}
	recv, err := net.ListenMulticastUDP("udp4", ifi, group)
	if err != nil {
		return fmt.Errorf("gossip: start: join %s: %w", group, err)
	}
	if err := onlyJoinedGroups(recv); err != nil {
		_ = recv.Close()
		return fmt.Errorf("gossip: start: %w", err)
	}
	var lc net.ListenConfig
	send, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:0")
	if err != nil {
		_ = recv.Close()
		return fmt.Errorf("gossip: start: sender socket: %w", err)
	}
	if err := configureSender(send, ifi, s.cfg.TTL); err != nil {
		_ = recv.Close()
		_ = send.Close()
		return fmt.Errorf("gossip: start: %w", err)
	}
	r := &running{recv: recv, send: send, group: group, done: make(chan struct{})}
	s.run, s.state = r, stateStarted
	r.wg.Add(2)
	go s.receiveLoop(r)
	go s.sendLoop(r)
	s.log.Debug("multicast discovery started", "self", s.cfg.Self, "ttl", s.cfg.TTL, "interval", s.cfg.Interval)
	return nil
}

// configureSender sets the multicast TTL, interface and loopback (so nodes
// on the same host hear each other) on the sending socket.
func configureSender(c net.PacketConn, ifi *net.Interface, ttl int) error {
	p := ipv4.NewPacketConn(c)
	if err := p.SetMulticastTTL(ttl); err != nil {
		return fmt.Errorf("set multicast ttl %d: %w", ttl, err)
	}
	if ifi != nil {
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("set multicast interface %s: %w", ifi.Name, err)
		}
	}
	if err := p.SetMulticastLoopback(true); err != nil {
		return fmt.Errorf("set multicast loopback: %w", err)
	}
	return nil
}

// Close stops heartbeating, leaves the group, and waits for the
// strategy's goroutines to exit. It is idempotent and safe to call
// concurrently (every call waits); Close without Start just marks the
// strategy closed.
func (s *Strategy) Close() error {
	s.mu.Lock()
	r := s.run
	var err error
	if s.state == stateStarted {
		close(r.done)
		err = errors.Join(r.recv.Close(), r.send.Close())
	}
	s.state = stateClosed
	s.mu.Unlock()
	if r != nil {
		r.wg.Wait()
	}
	if err != nil {
		return fmt.Errorf("gossip: close: %w", err)
	}
	return nil
}

// Discover returns the cluster addresses heard from within the last
// ExpiryIntervals intervals, without Self, sorted. It does not block. It
// fails with ErrNotStarted before Start and ErrClosed after Close.
func (s *Strategy) Discover(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gossip: discover: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateNew:
		return nil, fmt.Errorf("gossip: discover: %w", ErrNotStarted)
	case stateClosed:
		return nil, fmt.Errorf("gossip: discover: %w", ErrClosed)
	}
	return s.liveLocked(s.now()), nil
}

// liveLocked lists the unexpired peers, sorted, pruning the expired.
func (s *Strategy) liveLocked(now time.Time) []string {
	out := make([]string, 0, len(s.peers))
	for addr, p := range s.peers {
		if now.Sub(p.heard) > s.expiry {
			delete(s.peers, addr)
			continue
		}
		out = append(out, addr)
	}
	slices.Sort(out)
	return out
}

// sendLoop sends a heartbeat at once and then every interval until
// r.done is closed. Owned by Start/Close through r.wg.
func (s *Strategy) sendLoop(r *running) {
	defer r.wg.Done()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		err := s.announce(r)
		switch {
		case err != nil && !failing:
			s.log.Warn("multicast heartbeat not sent", "group", r.group.String(), "err", err)
		case err != nil:
			s.log.Debug("multicast heartbeat not sent", "group", r.group.String(), "err", err)
		case failing:
			s.log.Info("multicast heartbeats sent again", "group", r.group.String())
		}
		failing = err != nil
		s.mu.Lock()
		s.liveLocked(s.now()) // prune
		s.mu.Unlock()
		select {
		case <-r.done:
			return
		case <-t.C:
		}
	}
}

// announce sends one heartbeat.
func (s *Strategy) announce(r *running) error {
	pkt, err := encodePacket(s.aead, heartbeat{addr: s.cfg.Self, sent: s.now()})
	if err != nil {
		return err
	}
	_, err = r.send.WriteTo(pkt, r.group)
	return err
}

// receiveLoop reads heartbeats until r.recv is closed. Owned by
// Start/Close through r.wg.
func (s *Strategy) receiveLoop(r *running) {
	defer r.wg.Done()
	buf := make([]byte, readBufferLen)
	for {
		n, src, err := r.recv.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-r.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("multicast read failed", "err", err)
			// Do not spin on a persistent error.
			select {
			case <-r.done:
				return
			case <-time.After(s.cfg.Interval / 10):
			}
			continue
		}
		s.handle(buf[:n], src.Addr().Unmap(), s.now())
	}
}

// handle processes one received packet from source IP src at time now.
func (s *Strategy) handle(b []byte, src netip.Addr, now time.Time) {
	hb, err := decodePacket(s.aead, b, now, s.cfg.MaxAge, s.cfg.MaxSkew)
	switch {
	case errors.Is(err, errForeignCookie):
		s.dropped.Add(1)
		s.warnForeign(src)
		return
	case err != nil:
		s.log.Debug("multicast packet dropped", "source", src.String(), "err", err)
		return
	case hb.addr == s.cfg.Self:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, known := s.peers[hb.addr]
	if known && now.Sub(p.heard) <= s.expiry && !hb.sent.After(p.sent) {
		// A replayed, duplicated or reordered heartbeat: it must not
		// extend the peer's life.
		s.log.Debug("multicast heartbeat not newer than the last one", "peer", hb.addr, "source", src.String())
		return
	}
	if !known {
		s.log.Debug("multicast peer heard", "peer", hb.addr, "source", src.String())
	}
	s.peers[hb.addr] = peer{sent: hb.sent, heard: now}
	s.accepted.Add(1)
}

// warnForeign logs, once per source IP, that a heartbeat failed to
// authenticate.
func (s *Strategy) warnForeign(src netip.Addr) {
	s.mu.Lock()
	_, seen := s.warned[src]
	if !seen {
		if len(s.warned) >= maxWarned {
			clear(s.warned)
		}
		s.warned[src] = struct{}{}
	}
	s.mu.Unlock()
	if !seen {
		s.log.Warn(fmt.Sprintf("multicast heartbeat from %s rejected: it does not share our cookie", src), "source", src.String())
	}
}
