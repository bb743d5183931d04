// Command houseparty runs a House Party node: cluster membership and
// discovery, the Shoal process runtime and registry, the party, and its
// HTTP API.
//
// Configuration comes from the environment, or from the matching flag,
// which wins:
//
//	PORT                  -port           HTTP port (default 4001)
//	HOUSEPARTY_HTTP_HOST  -http-host      address the HTTP server binds (default: all interfaces)
//	HOUSEPARTY_GREETING   -greeting       body of GET /hello (default "world")
//	SHOAL_BASENAME        -basename       node basename (default "houseparty")
//	SHOAL_HOST            -host           IP address to bind and advertise (default 127.0.0.1),
//	                                      or "auto": this machine's first non-loopback address
//	                                      (in a container); the node is basename@host
//	SHOAL_CLUSTER_PORT    -cluster-port   membership port, TCP and UDP (default 7946)
//	SHOAL_LINK_PORT       -link-port      port for node-to-node links (default 0: any free port,
//	                                      advertised to the other nodes)
//	SHOAL_COOKIE          -cookie         the cluster's shared secret, at least 16 bytes
//	SHOAL_COOKIE_FILE     -cookie-file    a file holding the cookie (a mounted Secret)
//	SHOAL_DISCOVERY       -discovery      discovery strategies, ';'-separated (see package discovery/all)
//	SHOAL_PROBE_INTERVAL  -probe-interval failure-detection probe interval (default 400ms;
//	                                      a crashed node is reported down within about 12x this)
//	SHOAL_REPLICAS        -replicas       copies of each registry partition besides its primary
//	                                      (default 1; 0 keeps one copy); the same on every node
//	SHOAL_PLACEMENT       -placement      "any" (default: every side of a netsplit keeps serving)
//	                                      or "quorum:M": a node serves only while it sees at least
//	                                      M members, M usually a majority of the cluster
//	HOUSEPARTY_CHECKPOINTS -checkpoints   how rooms and people save their state to the registry's
//	                                      replicas: "sync" (default: a count never goes back,
//	                                      even after a crash), "async" (every 100ms: a crash may
//	                                      lose the last changes) or "off" (a crash restarts them
//	                                      from scratch)
//	SHOAL_STRICT_CODEC    -strict-codec   "true" refuses messages and states with fields this
//	                                      build does not know (default false: skipped, so that
//	                                      two builds can run side by side in a rolling update)
//	HOUSEPARTY_ADMIN_TOKEN -admin-token   if set (16 characters or more), the routes that change
//	                                      the party (/scenario/*) need "Authorization: Bearer
//	                                      <token>" (default: open, as the seed's were)
//	SHOAL_ADMIN_TOKEN     -admin-api-token bearer token of the operator API (/admin/*,
//	                                      /debug/pprof/*; package admin), 16 characters or more
//	                                      (default: derived from the cookie, admin/api.Token)
//	SHOAL_LOG_LEVEL       -log-level      debug, info (default), warn or error; debug adds a
//	                                      line per HTTP request
//	SHOAL_LOG_FORMAT      -log-format     text (default: key=value lines) or json (one object
//	                                      per line, for a log collector)
//	SHOAL_METRICS         -metrics        "true" (default) serves Prometheus metrics at /metrics
//	                                      (package metrics; open, like most exporters), "false"
//	                                      serves none and observes no latency
//
// Without a cookie the node runs alone and says so. SIGINT or SIGTERM
// makes the node leave the cluster gracefully and stop.
//
// "houseparty shoal COMMAND" runs the operator command instead (package
// admin/cli, the same as cmd/shoal): the image carries it at no cost.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/admin"
	adminapi "github.com/shoalhq/shoal/admin/api"
	"github.com/shoalhq/shoal/admin/cli"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/all"
	"github.com/shoalhq/shoal/houseparty"
	"github.com/shoalhq/shoal/houseparty/httpapi"
	"github.com/shoalhq/shoal/houseparty/liveview"
	"github.com/shoalhq/shoal/metrics"
	"github.com/shoalhq/shoal/process"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "shoal" {
		// The operator command (cmd/shoal), carried in the node's binary.
		os.Exit(cli.Run(context.Background(), os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil))
}

// settings are the node's settings, from flags and the environment.
type settings struct {
	port          int
	httpHost      string
	greeting      string
	basename      string
	host          string
	clusterPort   int
	linkPort      int
	cookie        string
	cookieFile    string
	discovery     string
	probeInterval time.Duration
	replicas      int
	quorum        int
	checkpoints   process.CheckpointMode
	strictCodec   bool
	logLevel      slog.Level
	logJSON       bool
	metrics       bool
	adminToken    string // the party's routes (HOUSEPARTY_ADMIN_TOKEN)
	adminAPIToken string // the operator API's (SHOAL_ADMIN_TOKEN)
}

func (s settings) node() string { return s.basename + "@" + s.host }

// readSettings parses flags over the environment. Errors name the setting.
func readSettings(args []string, getenv func(string) string) (settings, error) {
	s := settings{}
	fs := flag.NewFlagSet("houseparty", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.String("port", getenv("PORT"), "HTTP port")
	fs.StringVar(&s.httpHost, "http-host", getenv("HOUSEPARTY_HTTP_HOST"), "HTTP bind address")
	fs.StringVar(&s.greeting, "greeting", getenv("HOUSEPARTY_GREETING"), "greeting")
	fs.StringVar(&s.basename, "basename", or(getenv("SHOAL_BASENAME"), "houseparty"), "node basename")
	fs.StringVar(&s.host, "host", or(getenv("SHOAL_HOST"), "127.0.0.1"), "node IP address")
	clusterPort := fs.String("cluster-port", or(getenv("SHOAL_CLUSTER_PORT"), "7946"), "membership port")
	linkPort := fs.String("link-port", or(getenv("SHOAL_LINK_PORT"), "0"), "link port")
	fs.StringVar(&s.cookie, "cookie", getenv("SHOAL_COOKIE"), "cluster cookie")
	fs.StringVar(&s.cookieFile, "cookie-file", getenv("SHOAL_COOKIE_FILE"), "file holding the cookie")
	fs.StringVar(&s.discovery, "discovery", getenv("SHOAL_DISCOVERY"), "discovery strategies")
	probe := fs.String("probe-interval", or(getenv("SHOAL_PROBE_INTERVAL"), "400ms"), "failure-detection probe interval")
	replicas := fs.String("replicas", or(getenv("SHOAL_REPLICAS"), "1"), "replicas per partition")
	place := fs.String("placement", or(getenv("SHOAL_PLACEMENT"), "any"), "placement: any or quorum:M")
	ckpt := fs.String("checkpoints", or(getenv("HOUSEPARTY_CHECKPOINTS"), "sync"), "checkpoints: sync, async or off")
	strict := fs.String("strict-codec", or(getenv("SHOAL_STRICT_CODEC"), "false"), "refuse unknown fields")
	fs.StringVar(&s.adminToken, "admin-token", getenv("HOUSEPARTY_ADMIN_TOKEN"), "bearer token the routes that change the party need")
	fs.StringVar(&s.adminAPIToken, "admin-api-token", getenv("SHOAL_ADMIN_TOKEN"), "bearer token of the operator API")
	level := fs.String("log-level", or(getenv("SHOAL_LOG_LEVEL"), "info"), "log level: debug, info, warn or error")
	format := fs.String("log-format", or(getenv("SHOAL_LOG_FORMAT"), "text"), "log format: text or json")
	metricsOn := fs.String("metrics", or(getenv("SHOAL_METRICS"), "true"), "serve Prometheus metrics at /metrics")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	s.port = 4001
	if *port != "" {
		if s.port, err = parsePort("PORT", *port, false); err != nil {
			return s, err
		}
	}
	if s.clusterPort, err = parsePort("SHOAL_CLUSTER_PORT", *clusterPort, false); err != nil {
		return s, err
	}
	if s.linkPort, err = parsePort("SHOAL_LINK_PORT", *linkPort, true); err != nil {
		return s, err
	}
	if s.host == "auto" {
		if s.host, err = autoHost(); err != nil {
			return s, fmt.Errorf("SHOAL_HOST auto: %w", err)
		}
	}
	if net.ParseIP(s.host) == nil {
		return s, fmt.Errorf("SHOAL_HOST %q is not an IP address (nor \"auto\")", s.host)
	}
	if s.basename == "" || strings.ContainsAny(s.basename, "@ \t") {
		return s, fmt.Errorf("SHOAL_BASENAME %q must be non-empty, without '@' or spaces", s.basename)
	}
	if s.probeInterval, err = time.ParseDuration(*probe); err != nil || s.probeInterval < 50*time.Millisecond {
		return s, fmt.Errorf("SHOAL_PROBE_INTERVAL %q must be a duration of at least 50ms", *probe)
	}
	if s.replicas, err = strconv.Atoi(*replicas); err != nil || s.replicas < 0 || s.replicas > 5 {
		return s, fmt.Errorf("SHOAL_REPLICAS %q must be a number from 0 to 5", *replicas)
	}
	if s.quorum, err = parsePlacement(*place); err != nil {
		return s, err
	}
	if s.checkpoints, err = process.ParseCheckpointMode(*ckpt); err != nil {
		return s, fmt.Errorf("HOUSEPARTY_CHECKPOINTS %q must be sync, async or off", *ckpt)
	}
	if s.strictCodec, err = strconv.ParseBool(*strict); err != nil {
		return s, fmt.Errorf("SHOAL_STRICT_CODEC %q must be true or false", *strict)
	}
	if s.metrics, err = strconv.ParseBool(*metricsOn); err != nil {
		return s, fmt.Errorf("SHOAL_METRICS %q must be true or false", *metricsOn)
	}
	if !goodToken(s.adminToken) {
		return s, fmt.Errorf("HOUSEPARTY_ADMIN_TOKEN must be at least %d characters, without spaces", adminapi.MinToken)
	}
	if !goodToken(s.adminAPIToken) {
		return s, fmt.Errorf("SHOAL_ADMIN_TOKEN must be at least %d characters, without spaces", adminapi.MinToken)
	}
	switch strings.ToLower(*level) {
	case "debug":
		s.logLevel = slog.LevelDebug
	case "info":
		s.logLevel = slog.LevelInfo
	case "warn":
		s.logLevel = slog.LevelWarn
	case "error":
		s.logLevel = slog.LevelError
	default:
		return s, fmt.Errorf("SHOAL_LOG_LEVEL %q must be debug, info, warn or error", *level)
	}
	switch strings.ToLower(*format) {
	case "text":
	case "json":
		s.logJSON = true
	default:
		return s, fmt.Errorf("SHOAL_LOG_FORMAT %q must be text or json", *format)
	}
	return s, nil
}

// goodToken reports whether a bearer token setting is usable: unset, or
// long enough not to be guessed (adminapi.MinToken) and without spaces.
func goodToken(t string) bool {
	return t == "" || (len(t) >= adminapi.MinToken && !strings.ContainsFunc(t, unicode.IsSpace))
}

// logger returns the node's logger, writing to w as the settings say.
func (s settings) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: s.logLevel}
	if s.logJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// route sends the operator API's paths to ops, /metrics to metrics (if
// not nil), the live view's to view, the rest to api.
func route(ops, metrics, view, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case admin.Paths(r.URL.Path):
			ops.ServeHTTP(w, r)
		case r.URL.Path == "/metrics" && metrics != nil:
			metrics.ServeHTTP(w, r)
		case liveview.Paths(r.URL.Path):
			view.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// logRequests logs each request at debug level, once it is answered.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Debug("http request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "took", time.Since(start), "from", r.RemoteAddr)
	})
}

// statusRecorder remembers a response's status and size.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap gives http.ResponseController the writer underneath.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes a flush on (a streamed answer).
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// parsePlacement reads SHOAL_PLACEMENT: "any" (0) or "quorum:M" (M).
func parsePlacement(v string) (int, error) {
	if v == "any" {
		return 0, nil
	}
	m, ok := strings.CutPrefix(v, "quorum:")
	n, err := strconv.Atoi(m)
	if !ok || err != nil || n < 1 {
		return 0, fmt.Errorf("SHOAL_PLACEMENT %q must be any or quorum:M with M at least 1", v)
	}
	return n, nil
}

// nodeConfig is the Shoal node's configuration from the settings, with
// the cookie's secret (empty: the node runs alone) and the discovery
// strategies.
func (s settings) nodeConfig(log *slog.Logger, secret string, strategies []discovery.Strategy, cdc *codec.Codec) shoal.Config {
	cfg := shoal.Config{
		Name:          s.node(),
		Secret:        secret,
		Addr:          s.host,
		Port:          s.clusterPort,
		LinkPort:      s.linkPort,
		Discovery:     strategies,
		Codec:         cdc,
		Logger:        log,
		ProbeInterval: s.probeInterval,
		Replicas:      s.replicas,
		Quorum:        s.quorum,
		// Each step of a graceful stop has its own deadline; 40 s in all
		// at most, with 10 s more for the HTTP server between the first
		// two. Leave waits at most 5 s for its broadcast (peers stopping
		// at the same time never answer it), then shuts membership down
		// within what is left: 5 s more for that.
		DrainTimeout:    15 * time.Second,
		LeaveTimeout:    10 * time.Second,
		ShutdownTimeout: 5 * time.Second,
		CookieHint:      "check SHOAL_COOKIE or SHOAL_COOKIE_FILE on every node",
	}
	if s.replicas == 0 {
		cfg.Replicas = -1 // one copy: Shoal's 0 means its default
	}
	return cfg
}

// autoHost returns the first non-loopback unicast address of an interface
// that is up, IPv4 before IPv6: a container's address on its network.
func autoHost() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list interfaces: %w", err)
	}
	var v6 string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP.String(), nil
			}
			if v6 == "" {
				v6 = ipn.IP.String()
			}
		}
	}
	if v6 != "" {
		return v6, nil
	}
	return "", errors.New("no interface that is up has a non-loopback address")
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func parsePort(name, v string, zeroOK bool) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", name, v)
	}
	lo := 1
	if zeroOK {
		lo = 0
	}
	if n < lo || n > 65535 {
		return 0, fmt.Errorf("%s %d is out of range %d-65535", name, n, lo)
	}
	return n, nil
}

// loadSecret returns the configured cookie's secret, or "" when none is
// set (the node then runs alone).
func loadSecret(s settings) (string, error) {
	secret := s.cookie
	if s.cookieFile != "" {
		if secret != "" {
			return "", errors.New("set SHOAL_COOKIE or SHOAL_COOKIE_FILE, not both")
		}
		b, err := os.ReadFile(s.cookieFile)
		if err != nil {
			return "", fmt.Errorf("SHOAL_COOKIE_FILE: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if secret == "" {
		return "", nil
	}
	if _, err := cookie.Parse(secret); err != nil {
		return "", fmt.Errorf("SHOAL_COOKIE: %w", err)
	}
	return secret, nil
}

// run runs the node until ctx ends and returns the exit code. ready, if
// not nil, receives the HTTP address once the node serves.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) int {
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "houseparty: %v\n", err)
		return code
	}
	s, err := readSettings(args, getenv)
	if err != nil {
		return fail(2, err)
	}
	secret, err := loadSecret(s)
	if err != nil {
		return fail(2, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.httpHost, strconv.Itoa(s.port)))
	if err != nil {
		return fail(1, fmt.Errorf("PORT %d: cannot listen: %v", s.port, errors.Unwrap(err)))
	}
	defer ln.Close()
	plain := s.logger(stderr) // Shoal adds the node to its lines
	log := plain.With("node", s.node())
	ck := cookie.Random()
	if secret != "" {
		ck, _ = cookie.Parse(secret) // checked by loadSecret
	}
	strategies, err := all.Parse(s.discovery, all.Node{
		Defaults: discovery.Defaults{ClusterPort: s.clusterPort, Logger: log},
		Self:     net.JoinHostPort(s.host, strconv.Itoa(s.clusterPort)),
		Cookie:   ck,
	})
	if err != nil {
		return fail(2, fmt.Errorf("SHOAL_DISCOVERY: %w", err))
	}
	if secret == "" && len(strategies) > 0 {
		log.Warn("no cookie: the node runs alone and does not use SHOAL_DISCOVERY (set SHOAL_COOKIE or SHOAL_COOKIE_FILE on every node)")
		strategies = nil
	}
	// The wire: one codec with every type that crosses between nodes.
	cdc := codec.New()
	if s.strictCodec {
		cdc = codec.NewStrict()
	}
	if err := houseparty.RegisterTypes(cdc); err != nil {
		return fail(1, err)
	}
	var (
		mets *metrics.Metrics
		opts []shoal.Option
	)
	if s.metrics {
		if mets, err = metrics.New(s.node()); err != nil {
			return fail(1, err)
		}
		opts = append(opts, shoal.ObserveCalls(mets.ObserveCall), shoal.ObserveOps(mets.ObserveOp))
	}
	node, err := shoal.Start(ctx, s.nodeConfig(plain, secret, strategies, cdc), opts...)
	if err != nil {
		return fail(1, err)
	}
	defer node.Kill() // after Stop, nothing; on an early return, stops the node
	members, reg := node.Cluster(), node.Registry()
	pcfg := houseparty.DefaultConfig()
	pcfg.Logger, pcfg.Checkpoints = log, s.checkpoints
	party, err := houseparty.New(pcfg, reg)
	if err != nil {
		return fail(1, err)
	}
	// Ready once discovery has had its first answer (and what it found
	// joined) and the registry holds every member's registrations.
	api, err := httpapi.New(httpapi.Config{Greeting: s.greeting, Logger: log, Ready: node.Ready, AdminToken: s.adminToken}, party, members)
	if err != nil {
		return fail(1, err)
	}
	// The operator API, on the same port: its token is the cookie's
	// unless one is set (a node alone has a random cookie: nobody can
	// use it then without SHOAL_ADMIN_TOKEN).
	adminToken := s.adminAPIToken
	if adminToken == "" {
		adminToken = adminapi.Token(node.Cookie())
	}
	ops, err := admin.New(admin.Config{Token: adminToken, Members: members, Registry: reg, Logger: log})
	if err != nil {
		return fail(1, err)
	}
	switch {
	case s.adminAPIToken != "":
		log.Info("operator API at /admin/ and /debug/pprof/", "token", "SHOAL_ADMIN_TOKEN")
	case secret == "":
		log.Info("operator API at /admin/ and /debug/pprof/ is closed: no cookie and no SHOAL_ADMIN_TOKEN")
	default:
		log.Info("operator API at /admin/ and /debug/pprof/", "token", "derived from the cookie")
	}
	var metricsHandler http.Handler
	if mets != nil {
		err := mets.Watch(metrics.Sources{Members: members, Runtime: node.Runtime(), Registry: reg, Remote: node.Remote()})
		if err == nil {
			err = mets.Register(partyCollector{party: party, timeout: 5 * time.Second})
		}
		if err != nil {
			return fail(1, err)
		}
		metricsHandler = mets.Handler()
	}
	view, err := liveview.New(liveview.Config{Party: party, Cluster: members, Counts: reg.Counts, ScenarioProtected: s.adminToken != "", Logger: log})
	if err != nil {
		return fail(1, err)
	}
	view.Start()
	defer view.Close()
	srv := &http.Server{Handler: logRequests(log, route(ops.Handler(), metricsHandler, view.Handler(), api.Handler())), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(view.Close) // its streams never end by themselves
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("house party serving", "http", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}

	code := 0
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err := <-served:
		log.Error("http server failed", "err", err)
		code = 1
	}
	// Hand every process to the nodes that stay while still serving HTTP
	// (/readyz answers 503 "draining", so no new traffic comes), then stop
	// serving, leave and stop: nothing is lost on a rolling update.
	if node.Drain(context.Background()) != nil {
		code = 1
	}
	httpCtx, cancelHTTP := context.WithTimeout(context.Background(), 10*time.Second)
	if err := srv.Shutdown(httpCtx); err != nil {
		log.Error("http shutdown", "err", err)
		code = 1
	}
	cancelHTTP()
	if err := node.Stop(context.Background()); err != nil {
		log.Error("stop", "err", err)
		code = 1
	}
	log.Info("stopped")
	return code
}
