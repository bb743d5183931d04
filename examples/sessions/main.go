// Command sessions is an HTTP service of per-user sessions on Shoal: each
// session is a named process, started on first use on the node that owns
// its name, whose state survives a node's graceful stop (handed off) and
// its crash (checkpointed to the registry's replicas). See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/process"
)

// options are the command's flags.
type options struct {
	name, secret, http string
	port               int
	join               []string
}

// setup starts this program's Shoal node: the one place it meets Shoal.
func setup(ctx context.Context, o options, log *slog.Logger) (*shoal.Node, error) {
	kinds := process.NewKinds()
	err := kinds.RegisterWith("session", newSession, process.KindOptions{
		Messages:    []any{Put{}, Get{}, State{}},
		State:       State{},
		Checkpoints: process.CheckpointSync,
		Restart:     process.RestartPolicy{Mode: process.RestartPermanent},
	})
	if err != nil {
		return nil, err
	}
	node, err := shoal.Start(ctx, shoal.Config{
		Name:   o.name,
		Secret: o.secret,
		Port:   o.port,
		Join:   o.join,
		Kinds:  kinds,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if err := node.WaitReady(ctx); err != nil {
		node.Kill()
		return nil, err
	}
	return node, nil
}

// sessionSpec is how a session starts: its kind.
var sessionSpec = process.Spec{Kind: "session"}

// routes serves GET /sessions/{user}, PUT /sessions/{user}/{key} (the
// body is the value) and GET /healthz.
func routes(node *shoal.Node) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /sessions/{user}", func(w http.ResponseWriter, r *http.Request) {
		v, err := node.Get("session-"+r.PathValue("user"), sessionSpec).Call(r.Context(), Get{})
		reply(w, v, err)
	})
	mux.HandleFunc("PUT /sessions/{user}/{key}", func(w http.ResponseWriter, r *http.Request) {
		value, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		put := Put{Key: r.PathValue("key"), Value: string(value)}
		v, err := node.Get("session-"+r.PathValue("user"), sessionSpec).Call(r.Context(), put)
		reply(w, v, err)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := node.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then stops gracefully: the sessions move to
// the nodes that stay.
func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.name, "name", "sessions@127.0.0.1", "node name, unique in the cluster")
	fs.StringVar(&o.secret, "secret", os.Getenv("SESSIONS_SECRET"), "the cluster's shared secret (default $SESSIONS_SECRET)")
	fs.IntVar(&o.port, "port", 7946, "membership port on 127.0.0.1")
	fs.StringVar(&o.http, "http", "127.0.0.1:8080", "HTTP address")
	join := fs.String("join", "", "membership addresses of nodes to join, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *join != "" {
		o.join = strings.Split(*join, ",")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", o.http)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	node, err := setup(startCtx, o, log)
	cancel()
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: routes(node), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log = log.With("node", o.name)
	log.Info("serving", "http", ln.Addr().String(), "membership", node.Address())
	select {
	case <-ctx.Done():
	case err := <-served:
		node.Kill()
		return err
	}
	// Hand the sessions over while still answering, then stop serving and
	// leave.
	_ = node.Drain(context.Background())
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("http shutdown", "err", err)
	}
	if err := node.Stop(context.Background()); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
