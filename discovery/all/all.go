// Package all builds discovery strategies from a spec string naming any of
// Shoal's strategies:
//
//	static:HOST:PORT,HOST:PORT             a fixed list (package static)
//	dns:NAME[:PORT]                        A/AAAA records, e.g. a headless service (package dns)
//	dnssrv:_SERVICE._PROTO.NAME            SRV records (package dns)
//	gossip[:GROUP:PORT]                    UDP multicast on the local network (package gossip)
//	kubernetes:LABEL_SELECTOR              pods or EndpointSlices from the API (package kubernetes)
//
// several separated by ';', each with ?KEY=VALUE&... options (see each
// package, and package discovery for the grammar).
//
// This package is a module of its own, github.com/shoalhq/shoal/discovery/all,
// as is the Kubernetes strategy it brings (and client-go with it): a
// program that does not run on Kubernetes builds its strategies from the
// packages static, dns and gossip and stays clear of both.
package all

import (
	"fmt"

	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/dns"
	"github.com/shoalhq/shoal/discovery/gossip"
	"github.com/shoalhq/shoal/discovery/kubernetes"
	"github.com/shoalhq/shoal/discovery/static"
)

// Node is what strategies need to know about the node they serve.
type Node struct {
	discovery.Defaults
	// Self is the node's advertised membership address, host:port
	// (multicast gossip announces it).
	Self string
	// Cookie authenticates multicast announcements.
	Cookie cookie.Cookie
}

// Parse builds every strategy named in spec. An empty spec gives none.
func Parse(spec string, n Node) ([]discovery.Strategy, error) {
	specs, err := discovery.ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	var out []discovery.Strategy
	for _, sp := range specs {
		var s discovery.Strategy
		var err error
		switch sp.Name {
		case "static":
			s, err = static.FromSpec(sp, n.Defaults)
		case "dns", "dnssrv":
			s, err = dns.FromSpec(sp, n.Defaults)
		case "gossip":
			s, err = gossip.FromSpec(sp, n.Defaults, n.Self, n.Cookie)
		case "kubernetes", "k8s":
			s, err = kubernetes.FromSpec(sp, n.Defaults)
		default:
			err = fmt.Errorf("%w: unknown strategy %q (known: static, dns, dnssrv, gossip, kubernetes)", discovery.ErrInvalidSpec, sp.Name)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
