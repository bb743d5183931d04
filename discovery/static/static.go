// Package static is the discovery strategy of a fixed list of peers
// (libcluster's Epmd and ErlangHosts strategies).
//
// Spec:
//
//	static:HOST:PORT[,HOST:PORT...][?interval=30s]
//
// A host without a port (static:10.0.0.1,10.0.0.2) uses this node's
// cluster port. IPv6 hosts go in brackets: static:[fd00::1]:7946.
package static

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoalhq/shoal/discovery"
)

// DefaultInterval is how often the list is offered to the cluster again,
// so that peers that were down at first are joined when they come up.
const DefaultInterval = 10 * time.Second

// Strategy returns a fixed list of peers.
type Strategy struct {
	peers    []string
	interval time.Duration
}

var _ discovery.Strategy = (*Strategy)(nil)
var _ discovery.Interval = (*Strategy)(nil)

// New returns a strategy for peers ("host:port" each).
func New(peers []string, interval time.Duration) (*Strategy, error) {
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: static: no peers", discovery.ErrInvalidSpec)
	}
	for _, p := range peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			return nil, fmt.Errorf("%w: static: peer %q: %v", discovery.ErrInvalidSpec, p, err)
		}
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	s := &Strategy{peers: slices.Clone(peers), interval: interval}
	slices.Sort(s.peers)
	s.peers = slices.Compact(s.peers)
	return s, nil
}

// FromSpec builds the strategy from a parsed spec.
func FromSpec(spec discovery.Spec, d discovery.Defaults) (*Strategy, error) {
	interval, err := spec.TakeInterval(DefaultInterval)
	if err != nil {
		return nil, err
	}
	if err := spec.Done(); err != nil {
		return nil, err
	}
	var peers []string
	for _, p := range strings.Split(spec.Arg, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(p); err != nil {
			// No port: use ours. A bare IPv6 address needs brackets.
			if strings.Count(p, ":") > 1 && !strings.HasPrefix(p, "[") {
				return nil, fmt.Errorf("%w: static: peer %q: put IPv6 addresses in brackets", discovery.ErrInvalidSpec, p)
			}
			p = net.JoinHostPort(strings.Trim(p, "[]"), strconv.Itoa(d.ClusterPort))
		}
		host, port, _ := net.SplitHostPort(p)
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return nil, fmt.Errorf("%w: static: peer %q: need host:port with port 1-65535", discovery.ErrInvalidSpec, p)
		}
		peers = append(peers, p)
	}
	return New(peers, interval)
}

// Name returns "static:" and the peers.
func (s *Strategy) Name() string { return "static:" + strings.Join(s.peers, ",") }

// Interval returns the polling interval.
func (s *Strategy) Interval() time.Duration { return s.interval }

// Discover returns the peers.
func (s *Strategy) Discover(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return slices.Clone(s.peers), nil
}
