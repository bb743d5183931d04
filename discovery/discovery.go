// Package discovery defines how a node finds candidate peers: a Strategy
// reports the cluster addresses of nodes that may belong to the cluster,
// and nothing else. The cluster polls each strategy at its interval, diffs
// the answer against its members and joins the new ones; membership and
// failure detection stay with the cluster.
//
// Strategies live in subpackages (static, dns, gossip, kubernetes). Several
// may run at once. They are configured by a spec string, one or more
// strategies separated by ';':
//
//	NAME[:ARG][?KEY=VALUE&KEY=VALUE...]
//
// ARG is the strategy's main argument (a host list, a DNS name, a label
// selector); options follow '?', separated by '&', each split at its first
// '=' (so a value may itself contain '=' and ','). Every strategy accepts
// interval=DURATION (Go syntax: 500ms, 5s, 1m). See each subpackage for its
// ARG and options, and ParseSpec for the grammar.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Strategy finds candidate peers. Implementations must be safe for
// concurrent use; Discover must honour ctx.
type Strategy interface {
	// Name identifies the strategy in logs, e.g. "dns:hp.default.svc".
	Name() string
	// Discover returns the cluster addresses ("host:port") of candidate
	// peers. The list may include this node's own address; the cluster
	// ignores it. An error means this round found nothing usable; the
	// cluster keeps the members it has and retries with backoff.
	Discover(ctx context.Context) ([]string, error)
}

// Interval is implemented by strategies that want a polling interval other
// than DefaultInterval.
type Interval interface {
	Interval() time.Duration
}

// DefaultInterval is the polling interval of a strategy that does not say.
const DefaultInterval = 5 * time.Second

// ErrNoPeers is wrapped by the errors of strategies whose source answered
// that there is nobody (an empty DNS zone): the cluster logs it, keeps its
// members, and counts the round as answered (see cluster.Cluster.Settled).
var ErrNoPeers = errors.New("no peers found")

// ErrInvalidSpec means a discovery spec could not be parsed.
var ErrInvalidSpec = errors.New("invalid discovery spec")

// Spec is one parsed strategy spec.
type Spec struct {
	// Name is the strategy name: static, dns, dnssrv, gossip, kubernetes.
	Name string
	// Arg is the text between ':' and '?' (may be empty).
	Arg string
	// Options are the KEY=VALUE pairs after '?'.
	Options map[string]string
}

// Defaults are what a strategy may need to know about the node it serves.
type Defaults struct {
	// ClusterPort is this node's cluster (membership) port; strategies that
	// discover hosts without ports use it.
	ClusterPort int
	// Logger receives strategy events; nil discards them.
	Logger *slog.Logger
}

// ParseSpec splits a spec string into strategy specs. Empty parts (from
// a trailing ';') are skipped.
func ParseSpec(s string) ([]Spec, error) {
	var out []Spec
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		sp := Spec{Options: map[string]string{}}
		head, query, hasQuery := strings.Cut(part, "?")
		sp.Name, sp.Arg, _ = strings.Cut(head, ":")
		sp.Name = strings.ToLower(strings.TrimSpace(sp.Name))
		if sp.Name == "" {
			return nil, fmt.Errorf("%w: %q has no strategy name", ErrInvalidSpec, part)
		}
		if hasQuery {
			for _, kv := range strings.Split(query, "&") {
				if kv == "" {
					continue
				}
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("%w: %s: option %q is not KEY=VALUE", ErrInvalidSpec, sp.Name, kv)
				}
				if _, dup := sp.Options[k]; dup {
					return nil, fmt.Errorf("%w: %s: option %q given twice", ErrInvalidSpec, sp.Name, k)
				}
				sp.Options[k] = v
			}
		}
		out = append(out, sp)
	}
	return out, nil
}

// Take removes option key from the spec and returns its value and whether
// it was present.
func (s *Spec) Take(key string) (string, bool) {
	v, ok := s.Options[key]
	delete(s.Options, key)
	return v, ok
}

// TakeInterval removes and parses the interval option, returning def when
// it is absent. Intervals must be at least 100ms.
func (s *Spec) TakeInterval(def time.Duration) (time.Duration, error) {
	v, ok := s.Take("interval")
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 100*time.Millisecond {
		return 0, fmt.Errorf("%w: %s: interval %q must be a duration of at least 100ms", ErrInvalidSpec, s.Name, v)
	}
	return d, nil
}

// Done reports an error naming any option left untaken, so typos are not
// silently ignored. Call it after taking every known option.
func (s *Spec) Done() error {
	for k := range s.Options {
		return fmt.Errorf("%w: %s: unknown option %q", ErrInvalidSpec, s.Name, k)
	}
	return nil
}
