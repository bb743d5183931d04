package dns

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/shoalhq/shoal/discovery"
)

// FromSpec builds the strategy a parsed spec names: an *A for "dns", an
// *SRV for "dnssrv" (grammar in the package doc). d.ClusterPort is the
// port of a dns spec without one; d.Logger becomes the strategy's logger.
// Errors wrap discovery.ErrInvalidSpec; unknown options are errors. It
// does not modify spec and does not query DNS.
func FromSpec(spec discovery.Spec, d discovery.Defaults) (discovery.Strategy, error) {
	spec.Options = maps.Clone(spec.Options)
	switch spec.Name {
	case "dns":
		a, err := fromSpecA(&spec, d)
		if err != nil {
			return nil, err
		}
		return a, nil
	case "dnssrv":
		s, err := fromSpecSRV(&spec, d)
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("%w: %q is not a dns strategy (want dns or dnssrv)", discovery.ErrInvalidSpec, spec.Name)
	}
}

// takeCommon takes the options both strategies accept.
func takeCommon(spec *discovery.Spec) (server string, interval time.Duration, err error) {
	interval, err = spec.TakeInterval(discovery.DefaultInterval)
	if err != nil {
		return "", 0, err
	}
	server, _ = spec.Take("server")
	if err := spec.Done(); err != nil {
		return "", 0, err
	}
	return server, interval, nil
}

func fromSpecA(spec *discovery.Spec, d discovery.Defaults) (*A, error) {
	cfg := DefaultAConfig()
	cfg.Logger = d.Logger
	cfg.Port = d.ClusterPort
	name, port, hasPort := strings.Cut(strings.TrimSpace(spec.Arg), ":")
	if name == "" {
		return nil, fmt.Errorf("%w: dns: no DNS name (want dns:NAME[:PORT])", discovery.ErrInvalidSpec)
	}
	cfg.Name = name
	if hasPort {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%w: dns: port %q must be 1-65535", discovery.ErrInvalidSpec, port)
		}
		cfg.Port = p
	} else if cfg.Port == 0 {
		return nil, fmt.Errorf("%w: dns: %s has no port and no cluster port is known", discovery.ErrInvalidSpec, name)
	}
	var err error
	if cfg.Server, cfg.Interval, err = takeCommon(spec); err != nil {
		return nil, err
	}
	a, err := NewA(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: dns: %w", discovery.ErrInvalidSpec, err)
	}
	return a, nil
}

func fromSpecSRV(spec *discovery.Spec, d discovery.Defaults) (*SRV, error) {
	cfg := DefaultSRVConfig()
	cfg.Logger = d.Logger
	name := strings.TrimSpace(spec.Arg)
	if name == "" {
		return nil, fmt.Errorf("%w: dnssrv: no DNS name (want dnssrv:_SERVICE._PROTO.NAME)", discovery.ErrInvalidSpec)
	}
	if strings.Contains(name, ":") {
		return nil, fmt.Errorf("%w: dnssrv: %q: no port allowed, SRV records carry their own", discovery.ErrInvalidSpec, name)
	}
	cfg.Name = name
	var err error
	if cfg.Server, cfg.Interval, err = takeCommon(spec); err != nil {
		return nil, err
	}
	s, err := NewSRV(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: dnssrv: %w", discovery.ErrInvalidSpec, err)
	}
	return s, nil
}
