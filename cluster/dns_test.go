package cluster_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/discovery"
	ddns "github.com/shoalhq/shoal/discovery/dns"
)

// zone is a tiny authoritative DNS server for one headless-service-like
// name, whose A and SRV records the test changes while the cluster runs.
type zone struct {
	name string
	mu   sync.Mutex
	ips  []string
	port int
	srv  *mdns.Server
	addr string
}

func startZone(t *testing.T, name string, port int) *zone {
	t.Helper()
	z := &zone{name: mdns.Fqdn(name), port: port}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	z.srv = &mdns.Server{PacketConn: pc, Handler: z}
	started := make(chan struct{})
	z.srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = z.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = z.srv.Shutdown() })
	return z
}

func (z *zone) set(ips ...string) {
	z.mu.Lock()
	z.ips = append([]string(nil), ips...)
	z.mu.Unlock()
}

func (z *zone) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	z.mu.Lock()
	ips := append([]string(nil), z.ips...)
	z.mu.Unlock()
	q := r.Question[0]
	srvName := "_cluster._tcp." + z.name
	switch {
	case q.Qtype == mdns.TypeA && q.Name == z.name:
		for _, ip := range ips {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: z.name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 0}, A: net.ParseIP(ip)})
		}
	case q.Qtype == mdns.TypeSRV && q.Name == srvName:
		for i, ip := range ips {
			target := "n" + strconv.Itoa(i) + "." + z.name
			m.Answer = append(m.Answer, &mdns.SRV{Hdr: mdns.RR_Header{Name: srvName, Rrtype: mdns.TypeSRV, Class: mdns.ClassINET}, Port: uint16(z.port), Target: target})
			m.Extra = append(m.Extra, &mdns.A{Hdr: mdns.RR_Header{Name: target, Rrtype: mdns.TypeA, Class: mdns.ClassINET}, A: net.ParseIP(ip)})
		}
	case q.Name == z.name || q.Name == srvName:
		// NODATA for other types (AAAA).
	default:
		m.Rcode = mdns.RcodeNameError
	}
	if len(ips) == 0 && m.Rcode == mdns.RcodeSuccess && (q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeSRV) {
		m.Rcode = mdns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// freeCommonPort finds a port free on every ip (nodes of a headless
// service share one port, each on its own address).
func freeCommonPort(t *testing.T, ips []string) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ok := true
		for _, ip := range ips {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
			u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			u.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no common free port")
	return 0
}

// TestDNSDiscoveryFollowsScaling runs nodes that find each other only
// through a DNS name served by a real DNS server in the test, with A records
// (dns:) and SRV records (dnssrv:), and scales the set up and down while
// the cluster runs.
func TestDNSDiscoveryFollowsScaling(t *testing.T) {
	for _, kind := range []string{"dns", "dnssrv"} {
		t.Run(kind, func(t *testing.T) {
			ips := []string{"127.0.0.41", "127.0.0.42", "127.0.0.43"}
			if kind == "dnssrv" {
				ips = []string{"127.0.0.51", "127.0.0.52", "127.0.0.53"}
			}
			port := freeCommonPort(t, ips)
			z := startZone(t, "hp-headless.test.svc.cluster.local", port)
			z.set(ips[:2]...)
			strategy := func() []discovery.Strategy {
				spec := "dns:hp-headless.test.svc.cluster.local?interval=200ms&server=" + z.addr
				if kind == "dnssrv" {
					spec = "dnssrv:_cluster._tcp.hp-headless.test.svc.cluster.local?interval=200ms&server=" + z.addr
				}
				specs, err := discovery.ParseSpec(spec)
				if err != nil {
					t.Fatal(err)
				}
				s, err := ddns.FromSpec(specs[0], discovery.Defaults{ClusterPort: port})
				if err != nil {
					t.Fatal(err)
				}
				return []discovery.Strategy{s}
			}
			startAt := func(i int) *node {
				return start(t, "n"+strconv.Itoa(i)+"@"+ips[i], secret, func(c *cluster.Config) {
					c.BindAddr, c.BindPort = ips[i], port
					c.Strategies = strategy()
				})
			}
			a, b := startAt(0), startAt(1)
			waitFor(t, 20*time.Second, "two nodes to meet through DNS", func() bool { return alive(a) == 2 && alive(b) == 2 })

			// Scale up: the record appears with the new node.
			z.set(ips...)
			c := startAt(2)
			waitFor(t, 20*time.Second, "the scaled-up node to join", func() bool {
				return alive(a) == 3 && alive(b) == 3 && alive(c) == 3
			})
			// Scale down: the record goes, the node stops without leaving.
			z.set(ips[:2]...)
			if err := c.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the removed node to be reported down", func() bool {
				for _, m := range a.Members() {
					if m.Name == c.Name() {
						return m.Status == cluster.StatusDead
					}
				}
				return false
			})
			if got := a.Discovered(); len(got) != 1 {
				t.Fatalf("discovered = %v", got)
			} else {
				for _, addrs := range got {
					if len(addrs) != 2 {
						t.Fatalf("discovered after scale-down = %v", addrs)
					}
				}
			}
		})
	}
}
