// Command houseparty runs a House Party node: the Shoal process runtime and
// registry, the party, and its HTTP API.
//
// Configuration comes from the environment:
//
//	PORT                  HTTP port (default 4001)
//	HOUSEPARTY_HTTP_HOST  address the HTTP server binds (default: all interfaces)
//	HOUSEPARTY_GREETING   body of GET /hello (default "world")
//	SHOAL_BASENAME        node basename (default "houseparty")
//	SHOAL_HOST            node host (default 127.0.0.1); the node is basename@host
//
// SIGINT or SIGTERM stops the node gracefully.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/shoalhq/shoal/houseparty"
	"github.com/shoalhq/shoal/houseparty/httpapi"
	"github.com/shoalhq/shoal/process"
	"github.com/shoalhq/shoal/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Getenv, os.Stderr, nil))
}

// settings are the node's settings, read from the environment.
type settings struct {
	port     int
	httpHost string
	greeting string
	node     string
}

func readSettings(getenv func(string) string) (settings, error) {
	s := settings{port: 4001, httpHost: getenv("HOUSEPARTY_HTTP_HOST"), greeting: getenv("HOUSEPARTY_GREETING")}
	if v := getenv("PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return s, fmt.Errorf("PORT %q is not a number", v)
		}
		if n < 1 || n > 65535 {
			return s, fmt.Errorf("PORT %d is out of range 1-65535", n)
		}
		s.port = n
	}
	base, host := getenv("SHOAL_BASENAME"), getenv("SHOAL_HOST")
	if base == "" {
		base = "houseparty"
	}
	if host == "" {
		host = "127.0.0.1"
	}
	s.node = base + "@" + host
	return s, nil
}

// run runs the node until ctx ends and returns the exit code. ready, if
// not nil, receives the HTTP address once the node serves.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer, ready chan<- string) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	s, err := readSettings(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "houseparty: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.httpHost, strconv.Itoa(s.port)))
	if err != nil {
		fmt.Fprintf(stderr, "houseparty: PORT %d: cannot listen: %v\n", s.port, errors.Unwrap(err))
		return 1
	}
	log = log.With("node", s.node)

	rt, err := process.NewRuntime(process.Config{Node: s.node, Logger: log}, process.NewKinds())
	if err != nil {
		fmt.Fprintf(stderr, "houseparty: %v\n", err)
		return 1
	}
	reg, err := registry.New(registry.Config{Logger: log}, rt)
	if err != nil {
		fmt.Fprintf(stderr, "houseparty: %v\n", err)
		return 1
	}
	party, err := houseparty.New(houseparty.Config{Logger: log}, reg)
	if err != nil {
		fmt.Fprintf(stderr, "houseparty: %v\n", err)
		return 1
	}
	api, err := httpapi.New(httpapi.Config{Greeting: s.greeting, Logger: log}, party, httpapi.SingleNode(s.node))
	if err != nil {
		fmt.Fprintf(stderr, "houseparty: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
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
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Error("http shutdown", "err", err)
		code = 1
	}
	if err := rt.Shutdown(shutCtx); err != nil {
		log.Error("runtime shutdown", "err", err)
		code = 1
	}
	log.Info("stopped")
	return code
}
