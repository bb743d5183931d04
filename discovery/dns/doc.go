// Package dns discovers candidate peers from DNS: the A/AAAA records of a
// name (a Kubernetes headless service, a round-robin name) or the SRV
// records of a service. Two strategies implement discovery.Strategy:
//
//   - A ("dns") resolves a name's A and AAAA records and joins each address
//     with one cluster port.
//   - SRV ("dnssrv") resolves a name's SRV records; each record names a
//     target host and a port, and each target's A/AAAA addresses are joined
//     with that port.
//
// Nothing is cached between calls: every Discover queries DNS afresh, so
// the answer follows the zone as pods come and go.
//
// # Specs
//
//	dns:NAME[:PORT][?interval=DURATION&server=HOST:PORT]
//	dnssrv:NAME[?interval=DURATION&server=HOST:PORT]
//
// For dns, PORT defaults to the node's cluster port (discovery.Defaults).
// For dnssrv there is no PORT: each SRV record carries its own. NAME is
// usually _SERVICE._PROTO.HOST, the name Kubernetes gives a named port of
// a service, but any name with SRV records will do (Consul's
// web.service.consul, for instance). Options:
//
//	interval=DURATION   how often the cluster polls (default 5s, at least 100ms)
//	server=HOST:PORT    send queries to this DNS server instead of the
//	                    system resolver
//
// Examples:
//
//	dns:hp-headless.default.svc.cluster.local
//	dns:hp-headless.default.svc.cluster.local:7946?interval=10s
//	dns:hp.internal?server=10.96.0.10:53
//	dnssrv:_cluster._tcp.hp-headless.default.svc.cluster.local
//	dnssrv:_cluster._tcp.hp.internal?server=127.0.0.1:8600&interval=2s
//
// Without server, names go to the system resolver (net.DefaultResolver, or
// Config.Resolver): /etc/hosts, search domains and ndots apply, so a short
// name such as hp-headless works inside a Kubernetes pod. With server, the
// name is queried exactly as written (as an absolute name, no search
// domains), over UDP with EDNS0 and again over TCP when the answer is
// truncated. That server must be recursive (CoreDNS, kube-dns, a stub
// resolver, Consul's DNS interface): CNAMEs it returns are followed, but
// no referral is.
//
// Answers are "host:port" strings built with net.JoinHostPort (IPv6
// addresses in brackets), sorted and without duplicates. SRV priority and
// weight are ignored: every target is a candidate. A target of "." (the
// service is explicitly unavailable) is skipped.
//
// # Errors
//
// Discover returns every address it could resolve. It fails only when it
// found none, and then the error says why:
//
//   - ErrNoRecords: the name does not exist (NXDOMAIN), has no records of
//     the type asked for, or (dnssrv) none of its targets has an address.
//     The zone is simply empty, e.g. a service scaled to zero; the cluster
//     logs it and keeps its members.
//   - ErrResponse: the server answered with an error code (SERVFAIL,
//     REFUSED, ...).
//   - anything else: the query failed on the network or timed out; the
//     error wraps the cause, and context.DeadlineExceeded or
//     context.Canceled when ctx ended first.
//
// Every error names the strategy, the name and the server. When some
// queries fail and others find addresses (A answered, AAAA timed out; one
// SRV target unresolvable), Discover returns the addresses it found and
// logs the failures at Warn on Config.Logger.
//
// The decoding of DNS messages is github.com/miekg/dns's (with a server)
// or the standard library's (without); this package parses no network
// bytes itself.
package dns
