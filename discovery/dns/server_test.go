package dns_test

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// zone is a DNS handler serving records the test replaces while the server
// runs. A name with no records at all is NXDOMAIN; a name with records of
// other types only is NODATA. SRV answers carry the targets' A/AAAA
// records in the additional section unless noExtra is set. CNAMEs are
// returned as they are, never chased, so clients must follow them.
type zone struct {
	mu      sync.Mutex
	rrs     []mdns.RR
	rcode   int                    // when non-zero, every reply carries only this code
	failing map[mdns.Question]bool // these questions get SERVFAIL
	noExtra bool                   // leave SRV answers' additional section empty

	udpQueries atomic.Int64
	tcpQueries atomic.Int64
}

// set replaces the zone's records, given in zone-file syntax.
func (z *zone) set(t *testing.T, records ...string) {
	t.Helper()
	rrs := make([]mdns.RR, 0, len(records))
	for _, s := range records {
		rr, err := mdns.NewRR(s)
		if err != nil {
			t.Fatalf("record %q: %v", s, err)
		}
		rrs = append(rrs, rr)
	}
	z.mu.Lock()
	z.rrs = rrs
	z.mu.Unlock()
}

func (z *zone) setRcode(rc int) {
	z.mu.Lock()
	z.rcode = rc
	z.mu.Unlock()
}

// fail makes queries for name's records of type qtype get SERVFAIL.
func (z *zone) fail(name string, qtype uint16) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.failing == nil {
		z.failing = map[mdns.Question]bool{}
	}
	z.failing[mdns.Question{Name: mdns.CanonicalName(name), Qtype: qtype, Qclass: mdns.ClassINET}] = true
}

func (z *zone) setNoExtra(b bool) {
	z.mu.Lock()
	z.noExtra = b
	z.mu.Unlock()
}

// ServeDNS answers one query from the zone's current records.
func (z *zone) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	_, udp := w.LocalAddr().(*net.UDPAddr)
	if udp {
		z.udpQueries.Add(1)
	} else {
		z.tcpQueries.Add(1)
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	z.answer(m, req)
	opt := req.IsEdns0()
	if opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	if udp {
		size := mdns.MinMsgSize
		if opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

func (z *zone) answer(m, req *mdns.Msg) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.rcode != 0 {
		m.Rcode = z.rcode
		return
	}
	if len(req.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		return
	}
	q := req.Question[0]
	name := mdns.CanonicalName(q.Name)
	if z.failing[mdns.Question{Name: name, Qtype: q.Qtype, Qclass: q.Qclass}] {
		m.Rcode = mdns.RcodeServerFailure
		return
	}
	exists := false
	for _, rr := range z.rrs {
		h := rr.Header()
		if mdns.CanonicalName(h.Name) != name {
			continue
		}
		exists = true
		if h.Rrtype == q.Qtype || h.Rrtype == mdns.TypeCNAME {
			m.Answer = append(m.Answer, mdns.Copy(rr))
		}
	}
	if !exists {
		m.Rcode = mdns.RcodeNameError
		return
	}
	if q.Qtype != mdns.TypeSRV || z.noExtra {
		return
	}
	for _, ans := range m.Answer {
		srv, ok := ans.(*mdns.SRV)
		if !ok {
			continue
		}
		for _, rr := range z.rrs {
			h := rr.Header()
			if mdns.CanonicalName(h.Name) == mdns.CanonicalName(srv.Target) &&
				(h.Rrtype == mdns.TypeA || h.Rrtype == mdns.TypeAAAA) {
				m.Extra = append(m.Extra, mdns.Copy(rr))
			}
		}
	}
}

// startServer serves h over UDP and TCP on the same 127.0.0.1 port and
// returns that "127.0.0.1:port". The servers stop at test cleanup.
func startServer(t *testing.T, h mdns.Handler) string {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatalf("no port free for both UDP and TCP: %v", err)
	}
	serve(t, &mdns.Server{PacketConn: pc, Handler: h})
	serve(t, &mdns.Server{Listener: ln, Handler: h})
	return pc.LocalAddr().String()
}

// serve runs srv in a goroutine until test cleanup, which waits for it.
func serve(t *testing.T, srv *mdns.Server) {
	t.Helper()
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("DNS server did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("DNS server did not start within 30s")
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("DNS server did not stop within 30s")
		}
	})
}

// silentServer is a UDP socket that reads queries and never answers.
type silentServer struct {
	addr    string
	packets atomic.Int64
}

// startSilent starts a silentServer; it stops at test cleanup.
func startSilent(t *testing.T) *silentServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{addr: pc.LocalAddr().String()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("silent server: %v", err)
				}
				return
			}
			s.packets.Add(1)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
