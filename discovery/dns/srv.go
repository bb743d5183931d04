package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/shoalhq/shoal/discovery"
)

// SRVConfig configures an SRV strategy.
type SRVConfig struct {
	// Name is the DNS name whose SRV records list the peers, usually
	// _SERVICE._PROTO.HOST, e.g.
	// "_cluster._tcp.hp-headless.default.svc.cluster.local".
	Name string
	// Server is the DNS server ("HOST:PORT") to query. Empty means the
	// system resolver (Resolver).
	Server string
	// Resolver is used when Server is empty; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Interval is how often the cluster should poll; zero means
	// discovery.DefaultInterval. At least 100ms otherwise.
	Interval time.Duration
	// QueryTimeout bounds each DNS query sent to Server (each round trip);
	// zero means DefaultQueryTimeout. Discover's ctx bounds the whole call.
	QueryTimeout time.Duration
	// Logger receives warnings about targets that could not be resolved
	// while others were; nil discards them.
	Logger *slog.Logger
}

// DefaultSRVConfig returns an SRVConfig with the default interval and query
// timeout. Name must still be set.
func DefaultSRVConfig() SRVConfig {
	return SRVConfig{Interval: discovery.DefaultInterval, QueryTimeout: DefaultQueryTimeout}
}

// Validate reports, wrapping ErrInvalidConfig, what is wrong with c.
func (c SRVConfig) Validate() error {
	if err := validName(c.Name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return validCommon(c.Server, c.Interval, c.QueryTimeout)
}

// SRV discovers peers from the SRV records of one name: each record's
// target host, resolved to its addresses, joined with the record's port.
// It is immutable and safe for concurrent use.
type SRV struct {
	name     string
	interval time.Duration
	res      resolver
	log      *slog.Logger
}

var (
	_ discovery.Strategy = (*SRV)(nil)
	_ discovery.Interval = (*SRV)(nil)
)

// NewSRV returns an SRV strategy for cfg, which it copies. It does not
// query DNS.
func NewSRV(cfg SRVConfig) (*SRV, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &SRV{
		name:     cfg.Name,
		interval: cfg.Interval,
		res:      newResolver(cfg.Server, cfg.Resolver, cfg.QueryTimeout),
		log:      cfg.Logger,
	}
	if s.interval == 0 {
		s.interval = discovery.DefaultInterval
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("strategy", s.Name())
	return s, nil
}

// Name returns "dnssrv:NAME".
func (s *SRV) Name() string { return "dnssrv:" + s.name }

// Interval returns the polling interval.
func (s *SRV) Interval() time.Duration { return s.interval }

// Discover queries the SRV records of the name and returns "ip:port" for
// every address of every target, sorted and without duplicates. Target
// addresses come from the answer's additional section when it has them,
// else from A/AAAA queries, one per distinct target, in turn. It blocks
// until the queries finish or ctx ends. See the package doc for errors.
func (s *SRV) Discover(ctx context.Context) ([]string, error) {
	server := s.res.server()
	recs, err := s.res.lookupSRV(ctx, s.name)
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: lookup %s at %s: %w", s.Name(), s.name, server, noRecordsIfNil(err))
	}
	if err != nil {
		s.log.WarnContext(ctx, "some SRV records unusable", "name", s.name, "server", server, "err", err)
	}
	var (
		out      []string
		failed   error // the most telling target failure
		resolved = map[string][]netip.Addr{}
	)
	for _, rec := range recs {
		if rec.target == "." {
			continue // RFC 2782: service decidedly not available here
		}
		addrs := rec.addrs
		if len(addrs) == 0 {
			var known bool
			if addrs, known = resolved[rec.target]; !known {
				if cerr := ctx.Err(); cerr != nil {
					return nil, fmt.Errorf("%s: lookup %s at %s: %w", s.Name(), s.name, server, cerr)
				}
				var terr error
				addrs, terr = s.res.lookupIP(ctx, rec.target)
				resolved[rec.target] = addrs
				switch {
				case terr == nil:
				case len(addrs) == 0:
					failed = worse(failed, terr)
				default:
					s.log.WarnContext(ctx, "some DNS queries failed", "name", rec.target, "server", server, "err", terr)
				}
			}
		}
		out = joinPort(out, addrs, rec.port)
	}
	if len(out) == 0 {
		if failed == nil {
			failed = fmt.Errorf("%w: no SRV target of %s is available", ErrNoRecords, s.name)
		}
		return nil, fmt.Errorf("%s: lookup %s at %s: no SRV target resolved: %w", s.Name(), s.name, server, failed)
	}
	if failed != nil {
		s.log.WarnContext(ctx, "some SRV targets did not resolve", "name", s.name, "server", server, "err", failed)
	}
	return sortUnique(out), nil
}
