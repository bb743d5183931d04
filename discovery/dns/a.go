package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/shoalhq/shoal/discovery"
)

// AConfig configures an A strategy.
type AConfig struct {
	// Name is the DNS name whose A and AAAA records list the peers, e.g. a
	// Kubernetes headless service "hp-headless.default.svc.cluster.local".
	Name string
	// Port is the cluster port joined to every address (1-65535).
	Port int
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
	// Logger receives warnings about queries that failed while others
	// found addresses; nil discards them.
	Logger *slog.Logger
}

// DefaultAConfig returns an AConfig with the default interval and query
// timeout. Name and Port must still be set.
func DefaultAConfig() AConfig {
	return AConfig{Interval: discovery.DefaultInterval, QueryTimeout: DefaultQueryTimeout}
}

// Validate reports, wrapping ErrInvalidConfig, what is wrong with c.
func (c AConfig) Validate() error {
	if err := validName(c.Name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("%w: port %d must be 1-65535", ErrInvalidConfig, c.Port)
	}
	return validCommon(c.Server, c.Interval, c.QueryTimeout)
}

// validCommon checks the fields AConfig and SRVConfig share.
func validCommon(server string, interval, timeout time.Duration) error {
	if server != "" {
		if err := validServer(server); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
	}
	if interval != 0 && interval < 100*time.Millisecond {
		return fmt.Errorf("%w: interval %v must be at least 100ms", ErrInvalidConfig, interval)
	}
	if timeout < 0 {
		return fmt.Errorf("%w: negative query timeout %v", ErrInvalidConfig, timeout)
	}
	return nil
}

// A discovers peers from the A and AAAA records of one name. It is
// immutable and safe for concurrent use.
type A struct {
	name     string
	port     int
	interval time.Duration
	res      resolver
	log      *slog.Logger
}

var (
	_ discovery.Strategy = (*A)(nil)
	_ discovery.Interval = (*A)(nil)
)

// NewA returns an A strategy for cfg, which it copies. It does not query
// DNS.
func NewA(cfg AConfig) (*A, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &A{
		name:     cfg.Name,
		port:     cfg.Port,
		interval: cfg.Interval,
		res:      newResolver(cfg.Server, cfg.Resolver, cfg.QueryTimeout),
		log:      cfg.Logger,
	}
	if a.interval == 0 {
		a.interval = discovery.DefaultInterval
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("strategy", a.Name())
	return a, nil
}

// Name returns "dns:NAME:PORT".
func (a *A) Name() string {
	return "dns:" + a.name + ":" + strconv.Itoa(a.port)
}

// Interval returns the polling interval.
func (a *A) Interval() time.Duration { return a.interval }

// Discover queries the A and AAAA records of the name and returns each
// address joined with the port, sorted and without duplicates. It blocks
// until the queries finish or ctx ends. See the package doc for errors.
func (a *A) Discover(ctx context.Context) ([]string, error) {
	addrs, err := a.res.lookupIP(ctx, a.name)
	out := joinPort(nil, addrs, uint16(a.port))
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: lookup %s at %s: %w", a.Name(), a.name, a.res.server(), noRecordsIfNil(err))
	}
	if err != nil {
		a.log.WarnContext(ctx, "some DNS queries failed", "name", a.name, "server", a.res.server(), "err", err)
	}
	return sortUnique(out), nil
}

// joinPort appends "ip:port" for each address to dst.
func joinPort(dst []string, addrs []netip.Addr, port uint16) []string {
	p := strconv.Itoa(int(port))
	for _, ad := range addrs {
		if ad.IsValid() {
			dst = append(dst, net.JoinHostPort(ad.String(), p))
		}
	}
	return dst
}

func sortUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// noRecordsIfNil returns err, or ErrNoRecords if err is nil.
func noRecordsIfNil(err error) error {
	if err == nil {
		return ErrNoRecords
	}
	return err
}
