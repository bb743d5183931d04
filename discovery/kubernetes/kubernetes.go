package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/shoalhq/shoal/discovery"
)

// Errors returned by this package, always wrapped with what failed.
var (
	// ErrInvalidConfig means a Config failed Validate.
	ErrInvalidConfig = errors.New("kubernetes: invalid config")
	// ErrNoCredentials means New found no way to reach an API server: no
	// kubeconfig was given, the process is not in a pod, and no kubeconfig
	// file exists.
	ErrNoCredentials = errors.New("kubernetes: no API server credentials")
	// ErrForbidden means the API server answered 403: the identity lacks
	// the RBAC permission the message names.
	ErrForbidden = errors.New("kubernetes: forbidden")
	// ErrUnauthorized means the API server answered 401: it rejected the
	// credentials (an expired, revoked or foreign token).
	ErrUnauthorized = errors.New("kubernetes: unauthorized")
	// ErrAPI means any other failure to list from the API server
	// (unreachable, timeout, server error); the cause is wrapped too.
	ErrAPI = errors.New("kubernetes: API request failed")
)

// Source says which objects the strategy reads addresses from.
type Source string

// Sources.
const (
	// SourcePods lists pods matching the selector.
	SourcePods Source = "pods"
	// SourceEndpointSlices lists discovery.k8s.io/v1 EndpointSlices.
	SourceEndpointSlices Source = "endpointslices"
)

// Mode says how a discovered pod becomes a host name.
type Mode string

// Modes.
const (
	// ModeIP reports the pod IP.
	ModeIP Mode = "ip"
	// ModeDNS reports the pod's DNS name, A-B-C-D.NS.pod.CLUSTER_DOMAIN.
	ModeDNS Mode = "dns"
	// ModeHostname reports HOSTNAME.SUBDOMAIN.NS.svc.CLUSTER_DOMAIN, the
	// name a headless Service gives a pod with spec.hostname and
	// spec.subdomain.
	ModeHostname Mode = "hostname"
)

// Defaults used by DefaultConfig and for zero Config fields.
const (
	// DefaultPort is the memberlist port, used when neither Config.Port nor
	// discovery.Defaults.ClusterPort says otherwise.
	DefaultPort = 7946
	// DefaultClusterDomain is the DNS domain of most clusters.
	DefaultClusterDomain = "cluster.local"
	// DefaultNamespace is the namespace used when nothing else names one.
	DefaultNamespace = "default"
	// ServiceNameLabel is the label an EndpointSlice carries naming its
	// Service.
	ServiceNameLabel = discoveryv1.LabelServiceName
	// NamespaceFile is where a pod's service account namespace is mounted.
	NamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

// Config configures a Strategy. The zero value of Source, Mode,
// ClusterDomain and Interval means their default; Selector (or, with
// SourceEndpointSlices, Service) and Port must be set.
type Config struct {
	// Selector is a label selector (labels.Parse syntax) for pods, or for
	// EndpointSlices with SourceEndpointSlices. Required with SourcePods.
	Selector string
	// Namespace to list in. Empty: the service-account namespace file,
	// then $POD_NAMESPACE, then the kubeconfig context's namespace, then
	// "default", resolved once by New.
	Namespace string
	// Source of addresses; empty means SourcePods.
	Source Source
	// Service, with SourceEndpointSlices only, selects the slices labelled
	// kubernetes.io/service-name=Service (ANDed with Selector if set).
	Service string
	// Mode of the reported host; empty means ModeIP.
	Mode Mode
	// Port of the peers' cluster listener, 1-65535.
	Port int
	// Subdomain, with ModeHostname only, overrides each pod's
	// spec.subdomain (for EndpointSlices, the slice's Service name).
	Subdomain string
	// ClusterDomain is the cluster DNS domain; empty means
	// DefaultClusterDomain.
	ClusterDomain string
	// Kubeconfig is the path of a kubeconfig file to take credentials,
	// server and CA from (its current context). Empty: in-cluster service
	// account when in a pod, else $KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Interval between polls, reported by Strategy.Interval; at least
	// 100ms, zero means discovery.DefaultInterval.
	Interval time.Duration
	// Logger receives skipped-pod notices and API warnings; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in and no
// selector: pods, ip mode, port DefaultPort, cluster.local, 5s.
func DefaultConfig() Config {
	return Config{
		Source:        SourcePods,
		Mode:          ModeIP,
		Port:          DefaultPort,
		ClusterDomain: DefaultClusterDomain,
		Interval:      discovery.DefaultInterval,
	}
}

// withDefaults returns a copy with zero fields defaulted.
func (c Config) withDefaults() Config {
	if c.Source == "" {
		c.Source = SourcePods
	}
	if c.Mode == "" {
		c.Mode = ModeIP
	}
	c.ClusterDomain = strings.Trim(c.ClusterDomain, ".")
	if c.ClusterDomain == "" {
		c.ClusterDomain = DefaultClusterDomain
	}
	if c.Interval == 0 {
		c.Interval = discovery.DefaultInterval
	}
	c.Selector = strings.TrimSpace(c.Selector)
	return c
}

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig. It does not touch the network or the file system.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch c.Source {
	case SourcePods:
		if c.Selector == "" {
			return bad("a label selector is required with source=pods (an empty one would match every pod in the namespace)")
		}
		if c.Service != "" {
			return bad("service=%q is only meaningful with source=endpointslices", c.Service)
		}
	case SourceEndpointSlices:
		if c.Selector == "" && c.Service == "" {
			return bad("source=endpointslices needs a service name or a label selector")
		}
	default:
		return bad("source %q is not pods or endpointslices", c.Source)
	}
	if c.Selector != "" {
		if _, err := labels.Parse(c.Selector); err != nil {
			return bad("label selector %q: %v", c.Selector, err)
		}
	}
	if c.Service != "" {
		if errs := validation.IsDNS1035Label(c.Service); len(errs) > 0 {
			return bad("service %q: %s", c.Service, strings.Join(errs, "; "))
		}
	}
	switch c.Mode {
	case ModeIP, ModeDNS:
		if c.Subdomain != "" {
			return bad("subdomain=%q is only meaningful with mode=hostname", c.Subdomain)
		}
	case ModeHostname:
		if c.Subdomain != "" {
			if errs := validation.IsDNS1123Label(c.Subdomain); len(errs) > 0 {
				return bad("subdomain %q: %s", c.Subdomain, strings.Join(errs, "; "))
			}
		}
	default:
		return bad("mode %q is not ip, dns or hostname", c.Mode)
	}
	if c.Namespace != "" {
		if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
			return bad("namespace %q: %s", c.Namespace, strings.Join(errs, "; "))
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		return bad("port %d is not in 1-65535", c.Port)
	}
	if errs := validation.IsDNS1123Subdomain(c.ClusterDomain); len(errs) > 0 {
		return bad("cluster domain %q: %s", c.ClusterDomain, strings.Join(errs, "; "))
	}
	if c.Interval < 100*time.Millisecond {
		return bad("interval %v is under 100ms", c.Interval)
	}
	return nil
}

// Strategy lists pods or EndpointSlices from the Kubernetes API. It is
// safe for concurrent use; each Discover is one or more List calls.
type Strategy struct {
	cfg      Config // defaulted, namespace resolved
	selector string // effective label selector
	creds    string // where the credentials came from, for error messages
	name     string
	log      *slog.Logger
	api      *rest.RESTClient // for pods (core/v1) or EndpointSlices (discovery/v1)

	mu      sync.Mutex
	skipped map[string]bool // objects already logged as skipped, by key
}

var (
	_ discovery.Strategy = (*Strategy)(nil)
	_ discovery.Interval = (*Strategy)(nil)
)

// New validates cfg, resolves the namespace and loads credentials (see the
// package doc for the order). It reads files but does not contact the API
// server; a missing permission shows up in Discover. cfg is copied.
func New(cfg Config) (*Strategy, error) {
	return newStrategy(cfg, osEnv())
}

func newStrategy(cfg Config, env env) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rc, creds, kubeNS, err := loadREST(cfg.Kubeconfig, env)
	if err != nil {
		return nil, err
	}
	rc.UserAgent = "shoal-discovery-kubernetes"
	rc.WarningHandlerWithContext = warningLogger{log}
	if rc.Timeout == 0 {
		rc.Timeout = 30 * time.Second
	}
	if cfg.Namespace == "" {
		cfg.Namespace = defaultNamespace(env, kubeNS)
	}
	s := &Strategy{cfg: cfg, creds: creds, log: log, skipped: map[string]bool{}}
	s.selector = cfg.Selector
	switch cfg.Source {
	case SourcePods:
		c, err := newListClient(rc, corev1.SchemeGroupVersion, "/api")
		if err != nil {
			return nil, fmt.Errorf("%w: client for %s: %w", ErrInvalidConfig, creds, err)
		}
		s.api = c
	case SourceEndpointSlices:
		if cfg.Service != "" {
			sel := ServiceNameLabel + "=" + cfg.Service
			if s.selector != "" {
				sel += "," + s.selector
			}
			s.selector = sel
		}
		c, err := newListClient(rc, discoveryv1.SchemeGroupVersion, "/apis")
		if err != nil {
			return nil, fmt.Errorf("%w: client for %s: %w", ErrInvalidConfig, creds, err)
		}
		s.api = c
	}
	s.name = fmt.Sprintf("kubernetes:%s@%s(%s,%s)", s.selector, cfg.Namespace, cfg.Source, cfg.Mode)
	return s, nil
}

// FromSpec builds a Strategy from a parsed "kubernetes:SELECTOR?..." spec
// (options in the package doc). Port defaults to d.ClusterPort, the logger
// to d.Logger. Unknown or empty options are errors wrapping
// discovery.ErrInvalidSpec; so are invalid values. spec is not modified.
func FromSpec(spec discovery.Spec, d discovery.Defaults) (discovery.Strategy, error) {
	sp := discovery.Spec{Name: spec.Name, Arg: spec.Arg, Options: maps.Clone(spec.Options)}
	if sp.Name == "" {
		sp.Name = "kubernetes"
	}
	cfg := DefaultConfig()
	cfg.Selector = strings.TrimSpace(sp.Arg)
	cfg.Logger = d.Logger
	if d.ClusterPort != 0 {
		cfg.Port = d.ClusterPort
	}
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", discovery.ErrInvalidSpec, sp.Name, fmt.Sprintf(format, args...))
	}
	for _, opt := range []struct {
		key string
		dst *string
	}{
		{"namespace", &cfg.Namespace},
		{"source", (*string)(&cfg.Source)},
		{"service", &cfg.Service},
		{"mode", (*string)(&cfg.Mode)},
		{"subdomain", &cfg.Subdomain},
		{"cluster_domain", &cfg.ClusterDomain},
		{"kubeconfig", &cfg.Kubeconfig},
	} {
		if v, ok := sp.Take(opt.key); ok {
			if v == "" {
				return nil, invalid("option %q is empty", opt.key)
			}
			*opt.dst = v
		}
	}
	cfg.Source = Source(strings.ToLower(string(cfg.Source)))
	cfg.Mode = Mode(strings.ToLower(string(cfg.Mode)))
	if v, ok := sp.Take("port"); ok {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return nil, invalid("port %q is not a number in 1-65535", v)
		}
		cfg.Port = p
	}
	iv, err := sp.TakeInterval(cfg.Interval)
	if err != nil {
		return nil, err
	}
	cfg.Interval = iv
	if err := sp.Done(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", discovery.ErrInvalidSpec, err)
	}
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Name identifies the strategy in logs: "kubernetes:SELECTOR@NS(SOURCE,MODE)",
// e.g. "kubernetes:app=hp@default(pods,ip)". It does not block.
func (s *Strategy) Name() string { return s.name }

// Interval is the polling interval the cluster should use. It does not
// block.
func (s *Strategy) Interval() time.Duration { return s.cfg.Interval }

// Namespace is the namespace the strategy lists in, after defaulting. It
// does not block.
func (s *Strategy) Namespace() string { return s.cfg.Namespace }

// Discover lists the pods or EndpointSlices matching the selector and
// returns the sorted, de-duplicated addresses of the peers among them
// (running and not terminating, Ready or not: see podIsPeer); an empty
// list (nil error) when nothing matches. It blocks for the List calls,
// honours ctx, and may be called concurrently. Errors wrap ErrForbidden,
// ErrUnauthorized or ErrAPI.
func (s *Strategy) Discover(ctx context.Context) ([]string, error) {
	var (
		out     []string
		skipped []skip
	)
	cont := ""
	switch s.cfg.Source {
	case SourcePods:
		for {
			var list corev1.PodList
			if err := s.list(ctx, "pods", cont, &list); err != nil {
				return nil, s.apiError("pods", "", err)
			}
			a, sk := podAddrs(list.Items, s.cfg)
			out, skipped = append(out, a...), append(skipped, sk...)
			if cont = list.Continue; cont == "" {
				break
			}
		}
	case SourceEndpointSlices:
		for {
			var list discoveryv1.EndpointSliceList
			if err := s.list(ctx, "endpointslices", cont, &list); err != nil {
				return nil, s.apiError("endpointslices", discoveryv1.GroupName, err)
			}
			a, sk := sliceAddrs(list.Items, s.cfg)
			out, skipped = append(out, a...), append(skipped, sk...)
			if cont = list.Continue; cont == "" {
				break
			}
		}
	}
	s.logSkipped(skipped)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// listPage bounds the objects of one List response.
const listPage = 500

// list fetches one page of resource in the strategy's namespace, matching
// its selector, from continue token cont, into out.
func (s *Strategy) list(ctx context.Context, resource, cont string, out runtime.Object) error {
	req := s.api.Get().Namespace(s.cfg.Namespace).Resource(resource).
		Param("limit", strconv.Itoa(listPage))
	if s.selector != "" {
		req = req.Param("labelSelector", s.selector)
	}
	if cont != "" {
		req = req.Param("continue", cont)
	}
	return req.Do(ctx).Into(out)
}

// logSkipped logs each skipped object once while it stays skipped; an
// object that recovers and is skipped again is logged again.
func (s *Strategy) logSkipped(sk []skip) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(sk))
	for _, k := range sk {
		seen[k.key] = true
		if !s.skipped[k.key] {
			s.log.Warn("kubernetes discovery: skipping peer", "name", s.name, "object", k.key, "reason", k.reason)
		}
	}
	s.skipped = seen
}

// apiError turns a List failure into one clear error: what was listed,
// where, with which credentials, and for 403 the RBAC rule to add.
func (s *Strategy) apiError(resource, group string, err error) error {
	what := fmt.Sprintf("list %s (selector %q) in namespace %q with %s", resource, s.selector, s.cfg.Namespace, s.creds)
	var status interface{ Status() metav1.Status }
	code := 0
	if errors.As(err, &status) {
		code = int(status.Status().Code)
	}
	switch code {
	case http.StatusForbidden:
		return fmt.Errorf("%w: %s: RBAC must grant verb \"list\" on resource %q (apiGroups: [%q]) in namespace %q to this identity (a Role with get/list/watch and a RoleBinding): %w",
			ErrForbidden, what, resource, group, s.cfg.Namespace, err)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %s: the API server rejected the credentials (expired or invalid token?): %w", ErrUnauthorized, what, err)
	default:
		return fmt.Errorf("%w: %s: %w", ErrAPI, what, err)
	}
}

// skip records an object that matched but yields no address, and why.
type skip struct{ key, reason string }

// podAddrs returns the addresses of the pods that are peers, and the
// peers it had to skip (hostname mode without a hostname or subdomain).
func podAddrs(pods []corev1.Pod, cfg Config) ([]string, []skip) {
	var out []string
	var sk []skip
	for i := range pods {
		p := &pods[i]
		if !podIsPeer(p) {
			continue
		}
		var host string
		switch cfg.Mode {
		case ModeIP:
			host = p.Status.PodIP
		case ModeDNS:
			host = podDNSName(p.Status.PodIP, p.Namespace, cfg.ClusterDomain)
		case ModeHostname:
			sub := cfg.Subdomain
			if sub == "" {
				sub = p.Spec.Subdomain
			}
			switch {
			case p.Spec.Hostname == "":
				sk = append(sk, skip{"pod/" + p.Namespace + "/" + p.Name, "mode=hostname but the pod has no spec.hostname"})
				continue
			case sub == "":
				sk = append(sk, skip{"pod/" + p.Namespace + "/" + p.Name, "mode=hostname but the pod has no spec.subdomain and no subdomain= option is set"})
				continue
			}
			host = serviceHostname(p.Spec.Hostname, sub, p.Namespace, cfg.ClusterDomain)
		}
		out = append(out, joinHostPort(host, cfg.Port))
	}
	return out, sk
}

// podIsPeer reports whether a pod may be a peer: Running, with a pod IP,
// not being deleted. Whether it is Ready does not matter: a node becomes
// Ready only once it has joined its peers, so a fresh set of pods that
// waited for each other's readiness would each start a cluster of one.
// Pending pods have no node process to join yet, Failed and Succeeded
// ones none any more, and a pod being deleted is leaving.
func podIsPeer(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
}

// sliceAddrs returns the addresses of the endpoints of the slices that are
// peers (endpointIsPeer).
// An endpoint's addresses are fungible (one pod); the first is used.
func sliceAddrs(items []discoveryv1.EndpointSlice, cfg Config) ([]string, []skip) {
	var out []string
	var sk []skip
	for i := range items {
		es := &items[i]
		for j := range es.Endpoints {
			ep := &es.Endpoints[j]
			if !endpointIsPeer(ep) || len(ep.Addresses) == 0 {
				continue
			}
			addr := ep.Addresses[0]
			var host string
			switch cfg.Mode {
			case ModeIP:
				host = addr
			case ModeDNS:
				if es.AddressType == discoveryv1.AddressTypeFQDN {
					host = addr
				} else {
					host = podDNSName(addr, es.Namespace, cfg.ClusterDomain)
				}
			case ModeHostname:
				sub := cfg.Subdomain
				if sub == "" {
					sub = es.Labels[ServiceNameLabel]
				}
				key := "endpointslice/" + es.Namespace + "/" + es.Name + "/" + addr
				switch {
				case ep.Hostname == nil || *ep.Hostname == "":
					sk = append(sk, skip{key, "mode=hostname but the endpoint has no hostname"})
					continue
				case sub == "":
					sk = append(sk, skip{key, "mode=hostname but the slice names no service and no subdomain= option is set"})
					continue
				}
				host = serviceHostname(*ep.Hostname, sub, es.Namespace, cfg.ClusterDomain)
			}
			out = append(out, joinHostPort(host, cfg.Port))
		}
	}
	return out, sk
}

// endpointIsPeer reports whether an endpoint may be a peer: any endpoint
// whose conditions.terminating is not true (nil means false, per the
// API), ready or not, for the reason podIsPeer gives. The EndpointSlice
// controller lists only pods that have an IP and have not finished; one
// still Pending may be among them, which costs a failed join until its
// node listens.
func endpointIsPeer(ep *discoveryv1.Endpoint) bool {
	return ep.Conditions.Terminating == nil || !*ep.Conditions.Terminating
}

// podDNSName is the pod A record name: the IP with '.' and ':' as '-'.
func podDNSName(ip, namespace, domain string) string {
	dashed := strings.NewReplacer(".", "-", ":", "-").Replace(ip)
	return dashed + "." + namespace + ".pod." + domain
}

// serviceHostname is the record a headless Service gives a pod with a
// hostname and subdomain.
func serviceHostname(hostname, subdomain, namespace, domain string) string {
	return hostname + "." + subdomain + "." + namespace + ".svc." + domain
}

// joinHostPort is net.JoinHostPort with an int port (brackets for IPv6).
func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}
