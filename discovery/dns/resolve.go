package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoalhq/shoal/discovery"
)

// ErrNoRecords means the name does not exist (NXDOMAIN), has no records of
// the type asked for, or (dnssrv) none of its SRV targets has an address.
// It wraps discovery.ErrNoPeers.
var ErrNoRecords = fmt.Errorf("no DNS records (%w)", discovery.ErrNoPeers)

// ErrResponse means a DNS server answered a query with an error response
// code such as SERVFAIL or REFUSED; the error text names the code.
var ErrResponse = errors.New("DNS server returned an error")

// ErrInvalidConfig means a Config was rejected by Validate.
var ErrInvalidConfig = errors.New("invalid dns discovery config")

// DefaultQueryTimeout bounds one DNS query (one round trip) when a Config
// does not say otherwise.
const DefaultQueryTimeout = 2 * time.Second

// ednsSize is the UDP payload size advertised in queries (the DNS Flag Day
// 2020 recommendation).
const ednsSize = 1232

// maxCNAME bounds how many CNAME hops a lookup follows.
const maxCNAME = 8

// systemServer is how errors name the system resolver.
const systemServer = "system resolver"

// srvRecord is one SRV answer, with the target's addresses when the
// additional section carried them.
type srvRecord struct {
	target string
	port   uint16
	addrs  []netip.Addr
}

// resolver is the part of DNS the strategies use. Both methods may return
// results and an error together: the error then describes the queries that
// failed while others succeeded. With no results the error is non-nil.
type resolver interface {
	lookupIP(ctx context.Context, name string) ([]netip.Addr, error)
	lookupSRV(ctx context.Context, name string) ([]srvRecord, error)
	server() string
}

// newResolver returns a resolver querying server, or r (net.DefaultResolver
// if nil) when server is empty.
func newResolver(server string, r *net.Resolver, timeout time.Duration) resolver {
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	if server == "" {
		if r == nil {
			r = net.DefaultResolver
		}
		return &systemResolver{r: r}
	}
	return &serverResolver{
		addr:    server,
		timeout: timeout,
		udp:     &mdns.Client{Net: "udp", Timeout: timeout},
		tcp:     &mdns.Client{Net: "tcp", Timeout: timeout},
	}
}

// validServer checks a HOST:PORT server address.
func validServer(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("server %q: want HOST:PORT, e.g. 10.96.0.10:53: %v", s, err)
	}
	if host == "" {
		return fmt.Errorf("server %q has no host", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("server %q: port must be 1-65535", s)
	}
	return nil
}

// validName checks a DNS name.
func validName(s string) error {
	if s == "" {
		return errors.New("no DNS name")
	}
	if _, ok := mdns.IsDomainName(s); !ok || s == "." {
		return fmt.Errorf("%q is not a valid DNS name", s)
	}
	return nil
}

// serverResolver queries one DNS server with github.com/miekg/dns. It is
// immutable and safe for concurrent use.
type serverResolver struct {
	addr     string
	timeout  time.Duration
	udp, tcp *mdns.Client
}

func (r *serverResolver) server() string { return r.addr }

// exchange sends m with c and returns the reply. One exchange is bounded by
// r.timeout and by ctx; when ctx ends first its error is returned.
func (r *serverResolver) exchange(ctx context.Context, c *mdns.Client, m *mdns.Msg) (*mdns.Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	co, err := c.DialContext(qctx, r.addr)
	if err != nil {
		return nil, ctxCause(ctx, err)
	}
	defer co.Close()
	// Deadlines (ctx's or the query timeout) are set on the connection by
	// the exchange; cancellation without a deadline needs the close.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	in, _, err := c.ExchangeWithConnContext(qctx, m, co)
	if err != nil {
		return nil, ctxCause(ctx, err)
	}
	return in, nil
}

// ctxCause returns ctx's error if ctx has ended (or its deadline has
// passed: a connection deadline set from it can fire before ctx's own
// timer), else err.
func ctxCause(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return err
}

// query asks for name's records of type qtype, over UDP and then over TCP
// if the UDP answer was truncated. It returns replies with NOERROR or
// NXDOMAIN; other response codes are errors wrapping ErrResponse.
func (r *serverResolver) query(ctx context.Context, name string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(ednsSize, false)
	in, err := r.exchange(ctx, r.udp, m)
	if err == nil && in.Truncated {
		in, err = r.exchange(ctx, r.tcp, m)
	}
	if err != nil {
		return nil, fmt.Errorf("%s query for %s: %w", mdns.TypeToString[qtype], name, err)
	}
	switch in.Rcode {
	case mdns.RcodeSuccess, mdns.RcodeNameError:
		return in, nil
	default:
		rc, ok := mdns.RcodeToString[in.Rcode]
		if !ok {
			rc = "rcode " + strconv.Itoa(in.Rcode)
		}
		return nil, fmt.Errorf("%s query for %s: %w: %s", mdns.TypeToString[qtype], name, ErrResponse, rc)
	}
}

// records queries name for qtype and returns the answers of that type owned
// by name or by a name its CNAME chain leads to, following the chain with
// further queries when the server stopped at a CNAME.
func (r *serverResolver) records(ctx context.Context, name string, qtype uint16) ([]mdns.RR, *mdns.Msg, error) {
	qname := mdns.Fqdn(name)
	for range maxCNAME {
		in, err := r.query(ctx, qname, qtype)
		if err != nil {
			return nil, nil, err
		}
		if in.Rcode == mdns.RcodeNameError {
			return nil, nil, fmt.Errorf("%w: %s does not exist (NXDOMAIN)", ErrNoRecords, qname)
		}
		owners, last := cnameChain(in.Answer, qname)
		var rrs []mdns.RR
		for _, rr := range in.Answer {
			h := rr.Header()
			if h.Rrtype == qtype && owners[mdns.CanonicalName(h.Name)] {
				rrs = append(rrs, rr)
			}
		}
		if len(rrs) > 0 {
			return rrs, in, nil
		}
		if last == mdns.CanonicalName(qname) {
			return nil, nil, fmt.Errorf("%w: %s has no %s records", ErrNoRecords, qname, mdns.TypeToString[qtype])
		}
		qname = last
	}
	return nil, nil, fmt.Errorf("%s: CNAME chain longer than %d", name, maxCNAME)
}

// cnameChain returns the canonical names the CNAME records in answer lead
// to from name (name included), and the last of them.
func cnameChain(answer []mdns.RR, name string) (map[string]bool, string) {
	last := mdns.CanonicalName(name)
	owners := map[string]bool{last: true}
	for grew := true; grew; {
		grew = false
		for _, rr := range answer {
			c, ok := rr.(*mdns.CNAME)
			if !ok || !owners[mdns.CanonicalName(c.Hdr.Name)] {
				continue
			}
			if t := mdns.CanonicalName(c.Target); !owners[t] {
				owners[t] = true
				last = t
				grew = true
			}
		}
	}
	return owners, last
}

// addrOf returns the address of an A or AAAA record.
func addrOf(rr mdns.RR) (netip.Addr, bool) {
	var ip net.IP
	switch rr := rr.(type) {
	case *mdns.A:
		ip = rr.A
	case *mdns.AAAA:
		ip = rr.AAAA
	default:
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

func (r *serverResolver) lookupType(ctx context.Context, name string, qtype uint16) ([]netip.Addr, error) {
	rrs, _, err := r.records(ctx, name, qtype)
	var out []netip.Addr
	for _, rr := range rrs {
		if a, ok := addrOf(rr); ok {
			out = append(out, a)
		}
	}
	return out, err
}

// lookupIP queries A and AAAA at once.
func (r *serverResolver) lookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	var (
		v4, v6     []netip.Addr
		err4, err6 error
		wg         sync.WaitGroup
	)
	wg.Go(func() { v4, err4 = r.lookupType(ctx, name, mdns.TypeA) })
	v6, err6 = r.lookupType(ctx, name, mdns.TypeAAAA)
	wg.Wait()
	addrs, err := append(v4, v6...), worse(err4, err6)
	if len(addrs) > 0 && errors.Is(err, ErrNoRecords) {
		err = nil // an IPv4-only or IPv6-only name is no failure
	}
	return addrs, err
}

// worse returns the more telling of two errors: a failure rather than an
// empty answer, the first when both are alike.
func worse(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case errors.Is(a, ErrNoRecords) && !errors.Is(b, ErrNoRecords):
		return b
	default:
		return a
	}
}

func (r *serverResolver) lookupSRV(ctx context.Context, name string) ([]srvRecord, error) {
	rrs, in, err := r.records(ctx, name, mdns.TypeSRV)
	if err != nil {
		return nil, err
	}
	extra := map[string][]netip.Addr{}
	for _, rr := range in.Extra {
		if a, ok := addrOf(rr); ok {
			owner := mdns.CanonicalName(rr.Header().Name)
			extra[owner] = append(extra[owner], a)
		}
	}
	out := make([]srvRecord, 0, len(rrs))
	for _, rr := range rrs {
		srv := rr.(*mdns.SRV)
		t := mdns.CanonicalName(srv.Target)
		out = append(out, srvRecord{target: t, port: srv.Port, addrs: extra[t]})
	}
	return out, nil
}

// systemResolver resolves through a net.Resolver: the system's
// configuration, search domains and /etc/hosts.
type systemResolver struct {
	r *net.Resolver
}

func (s *systemResolver) server() string { return systemServer }

// classify turns "not found" from the standard library into ErrNoRecords.
func classify(err error, what string) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return fmt.Errorf("%w: %s: %v", ErrNoRecords, what, err)
	}
	return err
}

func (s *systemResolver) lookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	addrs, err := s.r.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return nil, classify(err, name)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: %s has no A or AAAA records", ErrNoRecords, name)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

func (s *systemResolver) lookupSRV(ctx context.Context, name string) ([]srvRecord, error) {
	_, srvs, err := s.r.LookupSRV(ctx, "", "", name)
	if len(srvs) == 0 {
		if err == nil {
			return nil, fmt.Errorf("%w: %s has no SRV records", ErrNoRecords, name)
		}
		return nil, classify(err, name)
	}
	out := make([]srvRecord, 0, len(srvs))
	for _, srv := range srvs {
		out = append(out, srvRecord{target: mdns.CanonicalName(srv.Target), port: srv.Port})
	}
	// err, if any, reports records the standard library dropped as
	// malformed; the rest are usable.
	return out, err
}
