package dns_test

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/dns"
)

func parseOne(t *testing.T, s string) discovery.Spec {
	t.Helper()
	specs, err := discovery.ParseSpec(s)
	if err != nil {
		t.Fatalf("ParseSpec(%q): %v", s, err)
	}
	if len(specs) != 1 {
		t.Fatalf("ParseSpec(%q) = %d specs", s, len(specs))
	}
	return specs[0]
}

func TestFromSpec(t *testing.T) {
	defaults := discovery.Defaults{ClusterPort: 7946}
	for _, tc := range []struct {
		spec     string
		name     string
		interval time.Duration
	}{
		{"dns:hp.default.svc", "dns:hp.default.svc:7946", discovery.DefaultInterval},
		{"dns:hp.default.svc:7000", "dns:hp.default.svc:7000", discovery.DefaultInterval},
		{"DNS:hp.default.svc.cluster.local.:7000?interval=2s&server=10.96.0.10:53", "dns:hp.default.svc.cluster.local.:7000", 2 * time.Second},
		{"dns:hp?server=[::1]:53", "dns:hp:7946", discovery.DefaultInterval},
		{"dns:hp?server=kube-dns.kube-system:53&interval=100ms", "dns:hp:7946", 100 * time.Millisecond},
		{"dnssrv:_cluster._tcp.hp", "dnssrv:_cluster._tcp.hp", discovery.DefaultInterval},
		{"dnssrv:_cluster._tcp.hp.default.svc.cluster.local?interval=1m", "dnssrv:_cluster._tcp.hp.default.svc.cluster.local", time.Minute},
		{"dnssrv:web.service.consul?server=127.0.0.1:8600", "dnssrv:web.service.consul", discovery.DefaultInterval},
	} {
		sp := parseOne(t, tc.spec)
		before := maps.Clone(sp.Options)
		st, err := dns.FromSpec(sp, defaults)
		if err != nil {
			t.Errorf("FromSpec(%q): %v", tc.spec, err)
			continue
		}
		if !maps.Equal(sp.Options, before) {
			t.Errorf("FromSpec(%q) changed the spec's options to %v", tc.spec, sp.Options)
		}
		if st.Name() != tc.name {
			t.Errorf("FromSpec(%q).Name() = %q; want %q", tc.spec, st.Name(), tc.name)
		}
		iv, ok := st.(discovery.Interval)
		if !ok {
			t.Errorf("FromSpec(%q) has no Interval method", tc.spec)
		} else if iv.Interval() != tc.interval {
			t.Errorf("FromSpec(%q).Interval() = %v; want %v", tc.spec, iv.Interval(), tc.interval)
		}
	}
}

func TestFromSpecRejects(t *testing.T) {
	defaults := discovery.Defaults{ClusterPort: 7946}
	for _, tc := range []struct {
		spec     string
		defaults discovery.Defaults
	}{
		{"dns", defaults},                           // missing name
		{"dns:", defaults},                          // missing name
		{"dns::7000", defaults},                     // missing name
		{"dns:?interval=1s", defaults},              // missing name
		{"dns:hp:0", defaults},                      // bad port
		{"dns:hp:65536", defaults},                  // bad port
		{"dns:hp:http", defaults},                   // bad port
		{"dns:hp:", defaults},                       // empty port
		{"dns:hp:7000:1", defaults},                 // bad port
		{"dns:hp", discovery.Defaults{}},            // no port at all
		{"dns:hp?bogus=1", defaults},                // unknown option
		{"dns:hp?Interval=1s", defaults},            // unknown option (case matters)
		{"dns:hp?interval=10ms", defaults},          // interval too short
		{"dns:hp?interval=often", defaults},         // bad interval
		{"dns:hp?server=10.0.0.1", defaults},        // server without port
		{"dns:hp?server=:53", defaults},             // server without host
		{"dns:hp?server=10.0.0.1:0", defaults},      // bad server port
		{"dns:hp..x", defaults},                     // bad name
		{"dns:.", defaults},                         // root is no name
		{"dnssrv", defaults},                        // missing name
		{"dnssrv:", defaults},                       // missing name
		{"dnssrv:_c._tcp.hp:7946", defaults},        // SRV carries its ports
		{"dnssrv:_c._tcp.hp?port=7946", defaults},   // unknown option
		{"dnssrv:_c._tcp.hp?server=nope", defaults}, // bad server
		{"static:10.0.0.1:7946", defaults},          // not ours
	} {
		sp := parseOne(t, tc.spec)
		st, err := dns.FromSpec(sp, tc.defaults)
		if !errors.Is(err, discovery.ErrInvalidSpec) {
			t.Errorf("FromSpec(%q) = %v, %v; want ErrInvalidSpec", tc.spec, st, err)
		}
		if st != nil {
			t.Errorf("FromSpec(%q) returned a non-nil strategy %#v with its error", tc.spec, st)
		}
	}
}

func TestValidate(t *testing.T) {
	good := dns.DefaultAConfig()
	good.Name, good.Port = "hp.test", 7946
	if err := good.Validate(); err != nil {
		t.Fatalf("valid AConfig: %v", err)
	}
	goodSRV := dns.DefaultSRVConfig()
	goodSRV.Name = "_c._tcp.hp.test"
	if err := goodSRV.Validate(); err != nil {
		t.Fatalf("valid SRVConfig: %v", err)
	}
	for i, mutate := range []func(*dns.AConfig){
		func(c *dns.AConfig) { c.Name = "" },
		func(c *dns.AConfig) { c.Port = 0 },
		func(c *dns.AConfig) { c.Port = 70000 },
		func(c *dns.AConfig) { c.Server = "no-port" },
		func(c *dns.AConfig) { c.Interval = time.Millisecond },
		func(c *dns.AConfig) { c.QueryTimeout = -time.Second },
	} {
		c := good
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, dns.ErrInvalidConfig) {
			t.Errorf("case %d: Validate(%+v) = %v; want ErrInvalidConfig", i, c, err)
		}
		if a, err := dns.NewA(c); a != nil || !errors.Is(err, dns.ErrInvalidConfig) {
			t.Errorf("case %d: NewA = %v, %v; want ErrInvalidConfig", i, a, err)
		}
	}
	bad := goodSRV
	bad.Name = "a..b"
	if s, err := dns.NewSRV(bad); s != nil || !errors.Is(err, dns.ErrInvalidConfig) {
		t.Errorf("NewSRV(%+v) = %v, %v; want ErrInvalidConfig", bad, s, err)
	}
	// Zero interval and timeout mean the defaults.
	a, err := dns.NewA(dns.AConfig{Name: "hp.test", Port: 1})
	if err != nil || a.Interval() != discovery.DefaultInterval {
		t.Errorf("NewA with zero interval = %v, %v", a, err)
	}
}
