package gossip

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
)

// testCookie returns a fixed cookie derived from name.
func testCookie(t testing.TB, name string) cookie.Cookie {
	t.Helper()
	c, err := cookie.Parse("test cookie for " + name + " ----------------")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testConfig is a valid Config with a short interval.
func testConfig(t testing.TB, self string, c cookie.Cookie) Config {
	cfg := DefaultConfig()
	cfg.Self = self
	cfg.Cookie = c
	cfg.Interval = 100 * time.Millisecond
	return cfg
}

// logRecorder is a slog.Handler that keeps every record's level and
// message and forwards it to next.
type logRecorder struct {
	mu   *sync.Mutex
	recs *[]slog.Record
	next slog.Handler
}

func newLogRecorder(t testing.TB, name string) *logRecorder {
	next := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}).WithAttrs([]slog.Attr{slog.String("node", name)})
	return &logRecorder{mu: new(sync.Mutex), recs: new([]slog.Record), next: next}
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	*h.recs = append(*h.recs, r.Clone())
	h.mu.Unlock()
	return h.next.Handle(ctx, r)
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{mu: h.mu, recs: h.recs, next: h.next.WithAttrs(as)}
}

func (h *logRecorder) WithGroup(g string) slog.Handler {
	return &logRecorder{mu: h.mu, recs: h.recs, next: h.next.WithGroup(g)}
}

// count returns how many records at level contain substr.
func (h *logRecorder) count(level slog.Level, substr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range *h.recs {
		if r.Level == level && strings.Contains(r.Message, substr) {
			n++
		}
	}
	return n
}

func TestFromSpec(t *testing.T) {
	c := testCookie(t, "spec")
	parse := func(s string) discovery.Spec {
		t.Helper()
		sp, err := discovery.ParseSpec(s)
		if err != nil || len(sp) != 1 {
			t.Fatalf("ParseSpec(%q) = %v, %v", s, sp, err)
		}
		return sp[0]
	}
	good := []struct {
		spec  string
		group string
		port  int
		iface string
		ttl   int
		iv    time.Duration
		name  string
	}{
		{"gossip", DefaultGroup, DefaultPort, "", 1, discovery.DefaultInterval, "gossip:230.1.1.251:45892"},
		{"gossip:239.7.7.7:7000", "239.7.7.7", 7000, "", 1, discovery.DefaultInterval, "gossip:239.7.7.7:7000"},
		{"gossip?interval=2s&if=eth0&ttl=4", DefaultGroup, DefaultPort, "eth0", 4, 2 * time.Second, "gossip:230.1.1.251:45892?if=eth0"},
		{"gossip:224.0.0.251:5353?ttl=0", "224.0.0.251", 5353, "", 0, discovery.DefaultInterval, "gossip:224.0.0.251:5353"},
	}
	for _, tc := range good {
		sp := parse(tc.spec)
		before := len(sp.Options)
		s, err := FromSpec(sp, discovery.Defaults{ClusterPort: 7946}, "10.0.0.1:7946", c)
		if err != nil {
			t.Errorf("FromSpec(%q): %v", tc.spec, err)
			continue
		}
		if len(sp.Options) != before {
			t.Errorf("FromSpec(%q) modified the spec's options", tc.spec)
		}
		got := s.cfg
		if got.Group != netip.MustParseAddr(tc.group) || got.Port != tc.port || got.Interface != tc.iface ||
			got.TTL != tc.ttl || got.Interval != tc.iv || s.Interval() != tc.iv || s.Name() != tc.name {
			t.Errorf("FromSpec(%q) = %+v, name %q", tc.spec, got, s.Name())
		}
	}
	bad := []string{
		"gossip:230.1.1.251",           // no port
		"gossip:10.0.0.1:45892",        // not multicast
		"gossip:ff02::1:45892",         // not IPv4 (and not host:port)
		"gossip:[ff02::1]:45892",       // IPv6
		"gossip:230.1.1.251:0",         // port 0
		"gossip:230.1.1.251:70000",     // port too large
		"gossip:230.1.1.251:x",         // port not a number
		"gossip?ttl=256",               // ttl too large
		"gossip?ttl=-1",                // negative ttl
		"gossip?ttl=one",               // not a number
		"gossip?interval=5ms",          // below discovery's minimum
		"gossip?if=",                   // empty interface
		"gossip?iface=eth0",            // unknown option
		"dns:230.1.1.251:45892",        // wrong strategy
		"gossip:230.1.1.251:45892:1",   // junk
		"gossip:notanaddress.local:99", // not an address
	}
	for _, s := range bad {
		if _, err := FromSpec(parse(s), discovery.Defaults{}, "10.0.0.1:7946", c); !errors.Is(err, discovery.ErrInvalidSpec) {
			t.Errorf("FromSpec(%q) = %v; want ErrInvalidSpec", s, err)
		}
	}
	if _, err := FromSpec(parse("gossip"), discovery.Defaults{}, "no port", c); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("FromSpec with bad self = %v; want ErrInvalidConfig", err)
	}
	if _, err := FromSpec(parse("gossip"), discovery.Defaults{}, "10.0.0.1:7946", cookie.Cookie{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("FromSpec with no cookie = %v; want ErrInvalidConfig", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := testCookie(t, "validate")
	base := testConfig(t, "node-1.example:7946", c)
	if err := base.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"zero group":      func(c *Config) { c.Group = netip.Addr{} },
		"unicast group":   func(c *Config) { c.Group = netip.MustParseAddr("192.168.1.1") },
		"ipv6 group":      func(c *Config) { c.Group = netip.MustParseAddr("ff02::1") },
		"port 0":          func(c *Config) { c.Port = 0 },
		"port too big":    func(c *Config) { c.Port = 65536 },
		"ttl negative":    func(c *Config) { c.TTL = -1 },
		"ttl too big":     func(c *Config) { c.TTL = 256 },
		"interval tiny":   func(c *Config) { c.Interval = time.Millisecond },
		"max age zero":    func(c *Config) { c.MaxAge = 0 },
		"max skew < 0":    func(c *Config) { c.MaxSkew = -time.Second },
		"no cookie":       func(c *Config) { c.Cookie = cookie.Cookie{} },
		"no self":         func(c *Config) { c.Self = "" },
		"self no port":    func(c *Config) { c.Self = "10.0.0.1" },
		"self port 0":     func(c *Config) { c.Self = "10.0.0.1:0" },
		"self no host":    func(c *Config) { c.Self = ":7946" },
		"self with space": func(c *Config) { c.Self = "a b:7946" },
		"self too long":   func(c *Config) { c.Self = strings.Repeat("a", 300) + ":1" },
	} {
		cfg := base
		mut(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v; want ErrInvalidConfig", name, err)
		}
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v; want ErrInvalidConfig", name, err)
		}
	}
}

func TestPacketRoundTrip(t *testing.T) {
	a, err := newAEAD(testCookie(t, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newAEAD(testCookie(t, "b"))
	now := time.Unix(1_700_000_000, 123)
	for _, addr := range []string{"10.0.0.1:7946", "[fe80::1%eth0]:7946", "node-1.hp.default.svc.cluster.local:7946", strings.Repeat("h", maxAddrLen-6) + ":65535"} {
		hb := heartbeat{addr: addr, sent: now}
		pkt, err := encodePacket(a, hb)
		if err != nil {
			t.Fatalf("encode %q: %v", addr, err)
		}
		if len(pkt) > maxPacketLen {
			t.Fatalf("packet for %q is %d bytes, max %d", addr, len(pkt), maxPacketLen)
		}
		got, err := decodePacket(a, pkt, now, time.Second, time.Second)
		if err != nil || got.addr != addr || !got.sent.Equal(now) {
			t.Fatalf("decode %q = %+v, %v", addr, got, err)
		}
		if _, err := decodePacket(b, pkt, now, time.Second, time.Second); !errors.Is(err, errForeignCookie) {
			t.Fatalf("decode with another cookie = %v; want errForeignCookie", err)
		}
		pkt2, _ := encodePacket(a, hb)
		if string(pkt2) == string(pkt) {
			t.Fatal("two packets with identical content: nonce not random")
		}
	}
	if _, err := encodePacket(a, heartbeat{addr: "bad", sent: now}); !errors.Is(err, errBadAddress) {
		t.Fatalf("encoding a bad address = %v; want errBadAddress", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	a, _ := newAEAD(testCookie(t, "a"))
	b, _ := newAEAD(testCookie(t, "b"))
	now := time.Unix(1_700_000_000, 0)
	const maxAge, maxSkew = 30 * time.Second, 5 * time.Second
	valid := sealPacket(a, heartbeat{addr: "10.0.0.1:7946", sent: now}, make([]byte, nonceLen))
	flip := func(i int) []byte {
		p := slices.Clone(valid)
		p[i] ^= 1
		return p
	}
	badVersion := slices.Clone(valid)
	badVersion[len(magic)] = 2
	cases := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, errMalformed},
		{"garbage", []byte("heartbeat::{\"node\":\"a@b\"}"), errMalformed},
		{"magic only", []byte(magic), errMalformed},
		{"version 2", badVersion, errMalformed},
		{"truncated", valid[:len(valid)-1], errForeignCookie},
		{"too short", valid[:minPacketLen-1], errMalformed},
		{"too long", append(slices.Clone(valid), make([]byte, maxPacketLen)...), errMalformed},
		{"flipped nonce", flip(headerLen), errForeignCookie},
		{"flipped ciphertext", flip(headerLen + nonceLen + 2), errForeignCookie},
		{"flipped tag", flip(len(valid) - 1), errForeignCookie},
		{"other cookie", sealPacket(b, heartbeat{addr: "10.0.0.1:7946", sent: now}, make([]byte, nonceLen)), errForeignCookie},
		{"stale", sealPacket(a, heartbeat{addr: "10.0.0.1:7946", sent: now.Add(-maxAge - time.Nanosecond)}, make([]byte, nonceLen)), errStale},
		{"future", sealPacket(a, heartbeat{addr: "10.0.0.1:7946", sent: now.Add(maxSkew + time.Nanosecond)}, make([]byte, nonceLen)), errStale},
		{"sealed bad address", sealPacket(a, heartbeat{addr: "no port at all", sent: now}, make([]byte, nonceLen)), errBadAddress},
		{"sealed control byte", sealPacket(a, heartbeat{addr: "a\n:7946", sent: now}, make([]byte, nonceLen)), errBadAddress},
	}
	for _, tc := range cases {
		if _, err := decodePacket(a, tc.pkt, now, maxAge, maxSkew); !errors.Is(err, tc.want) {
			t.Errorf("%s: decode = %v; want %v", tc.name, err, tc.want)
		}
	}
	for _, edge := range []time.Time{now.Add(-maxAge), now.Add(maxSkew)} {
		p := sealPacket(a, heartbeat{addr: "10.0.0.1:7946", sent: edge}, make([]byte, nonceLen))
		if _, err := decodePacket(a, p, now, maxAge, maxSkew); err != nil {
			t.Errorf("packet at the edge of the window (%s) rejected: %v", edge.Sub(now), err)
		}
	}
}

// TestHandle drives the receive path without a network, on a fake clock.
func TestHandle(t *testing.T) {
	c := testCookie(t, "handle")
	rec := newLogRecorder(t, "self")
	cfg := testConfig(t, "10.0.0.1:7946", c)
	cfg.Logger = slog.New(rec)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newAEAD(testCookie(t, "other"))
	t0 := time.Unix(1_700_000_000, 0)
	src := netip.MustParseAddr("10.0.0.2")
	seal := func(addr string, sent time.Time) []byte {
		p, err := encodePacket(s.aead, heartbeat{addr: addr, sent: sent})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	live := func(now time.Time) []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.liveLocked(now)
	}

	s.handle(seal("10.0.0.1:7946", t0), src, t0) // our own
	s.handle(seal("10.0.0.3:7946", t0), src, t0)
	s.handle(seal("10.0.0.2:7946", t0), src, t0)
	if got, want := live(t0), []string{"10.0.0.2:7946", "10.0.0.3:7946"}; !slices.Equal(got, want) {
		t.Fatalf("live = %v; want %v", got, want)
	}

	// A replay of an earlier heartbeat does not extend a peer's life; a
	// newer one does.
	old := seal("10.0.0.2:7946", t0)
	t1 := t0.Add(2 * cfg.Interval)
	s.handle(seal("10.0.0.3:7946", t1), src, t1)
	s.handle(old, src, t1)
	t2 := t0.Add(ExpiryIntervals*cfg.Interval + time.Millisecond)
	if got, want := live(t2), []string{"10.0.0.3:7946"}; !slices.Equal(got, want) {
		t.Fatalf("after 10.0.0.2 expired, live = %v; want %v", got, want)
	}
	// Once expired (and pruned), the peer is accepted again.
	s.handle(seal("10.0.0.2:7946", t0.Add(time.Millisecond)), src, t2)
	if got, want := live(t2), []string{"10.0.0.2:7946", "10.0.0.3:7946"}; !slices.Equal(got, want) {
		t.Fatalf("after 10.0.0.2 returned, live = %v; want %v", got, want)
	}

	// Foreign packets: warned about once per source IP, never listed.
	foreign := sealPacket(other, heartbeat{addr: "10.9.9.9:7946", sent: t2}, make([]byte, nonceLen))
	for range 5 {
		s.handle(foreign, netip.MustParseAddr("10.9.9.9"), t2)
	}
	s.handle(foreign, netip.MustParseAddr("10.9.9.8"), t2)
	s.handle([]byte("not a heartbeat"), netip.MustParseAddr("10.9.9.7"), t2)
	if n := rec.count(slog.LevelWarn, "rejected: it does not share our cookie"); n != 2 {
		t.Errorf("%d cookie warnings; want 2 (one per source)", n)
	}
	if n := rec.count(slog.LevelWarn, "multicast heartbeat from 10.9.9.9 rejected: it does not share our cookie"); n != 1 {
		t.Errorf("%d warnings naming 10.9.9.9; want 1", n)
	}
	if n := rec.count(slog.LevelDebug, "multicast packet dropped"); n != 1 {
		t.Errorf("%d debug logs for garbage; want 1", n)
	}
	if got := s.dropped.Load(); got != 6 {
		t.Errorf("dropped = %d; want 6", got)
	}
	if got := live(t2); slices.Contains(got, "10.9.9.9:7946") {
		t.Errorf("foreign peer listed: %v", got)
	}
}

func TestLifecycleWithoutNetwork(t *testing.T) {
	s, err := New(testConfig(t, "10.0.0.1:7946", testCookie(t, "life")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Discover(t.Context()); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Discover before Start = %v; want ErrNotStarted", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled ctx = %v; want context.Canceled", err)
	}
	if _, err := s.Discover(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Discover with a cancelled ctx = %v; want context.Canceled", err)
	}
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
	}
	if err := s.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v; want ErrClosed", err)
	}
	if _, err := s.Discover(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Discover after Close = %v; want ErrClosed", err)
	}
}
