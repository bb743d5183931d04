// Package admin serves a node's operator API: what the cluster's members
// are, where a name runs, what is registered, the node's numbers, and
// Go's profiler (net/http/pprof), all behind one bearer token. It is what
// an operator uses instead of a remote shell into the node (the seeds'
// remsh, which gives whoever reaches it the whole node).
//
// Every route answers 401 without "Authorization: Bearer <token>". The
// token is derived from the cluster's cookie (api.Token), so every node of a
// cluster takes the same one and an operator who holds the cookie can
// compute it; a deployment may set its own instead (SHOAL_ADMIN_TOKEN in
// cmd/houseparty).
//
// Routes (GET, JSON; the answers' types are in package api):
//
//	/admin/members                      the members as this node sees them
//	/admin/whereis?name=N               the node and process id of name (404 if none)
//	/admin/registered[?node=N&kind=K]   the registered names, optionally of one node or kind
//	/admin/stats                        this node's numbers
//	/admin/inspect?name=N               what there is to know of name's process (404 if none)
//	POST /admin/drain?node=N            hand every process of node N to the others (N may be any member)
//	/debug/pprof/...                    Go's profiler
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"
	"time"

	"github.com/shoalhq/shoal/admin/api"
	"github.com/shoalhq/shoal/cluster"
	"github.com/shoalhq/shoal/registry"
)

// Members is what the API needs of cluster membership.
type Members interface {
	Members() []cluster.Member
}

// Config is what the API serves.
type Config struct {
	// Token is the bearer token every route needs (at least api.MinToken
	// characters).
	Token string
	// Members lists the cluster's members; Registry answers the name
	// routes. Both required.
	Members  Members
	Registry *registry.Registry
	// Timeout bounds one request's work; 0 means 10 s.
	Timeout time.Duration
	// DrainTimeout bounds a drain (POST /admin/drain); 0 means 60 s.
	DrainTimeout time.Duration
	// Logger receives refused requests (at debug) and failures; nil
	// discards them.
	Logger *slog.Logger
}

// API is a node's operator API.
type API struct {
	cfg Config
	mux *http.ServeMux
}

// ErrConfig means a Config is not usable.
var ErrConfig = errors.New("admin: invalid config")

// New returns the API, or an error naming the field that is wrong.
func New(cfg Config) (*API, error) {
	switch {
	case len(cfg.Token) < api.MinToken:
		return nil, fmt.Errorf("%w: Token must be at least %d characters", ErrConfig, api.MinToken)
	case cfg.Members == nil:
		return nil, fmt.Errorf("%w: Members is nil", ErrConfig)
	case cfg.Registry == nil:
		return nil, fmt.Errorf("%w: Registry is nil", ErrConfig)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &API{cfg: cfg, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /admin/members", a.members)
	a.mux.HandleFunc("GET /admin/whereis", a.byName("whereis", a.whereis))
	a.mux.HandleFunc("GET /admin/registered", a.registered)
	a.mux.HandleFunc("GET /admin/stats", a.stats)
	a.mux.HandleFunc("GET /admin/inspect", a.byName("inspect", a.inspect))
	a.mux.HandleFunc("POST /admin/drain", a.drain)
	a.mux.HandleFunc("/debug/pprof/", pprof.Index)
	a.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	a.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	a.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return a, nil
}

// Handler returns the API's handler: mount it at /admin/ and
// /debug/pprof/.
func (a *API) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(a.cfg.Token)) != 1 {
			a.cfg.Logger.Debug("admin request refused: no or wrong token", "path", r.URL.Path, "from", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal admin"`)
			http.Error(w, "unauthorized: the admin API needs Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		a.mux.ServeHTTP(w, r)
	})
}

// Paths says whether path is one of the API's (for a node's top-level
// router).
func Paths(path string) bool {
	return strings.HasPrefix(path, "/admin/") || strings.HasPrefix(path, "/debug/pprof/")
}

func (a *API) members(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.cfg.Members.Members())
}

// byName serves a route about one name (?name=N): 400 without one, 404
// if it is not registered, else ask's answer as JSON.
func (a *API) byName(route string, ask func(ctx context.Context, name string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			http.Error(w, route+" needs ?name=", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
		defer cancel()
		v, err := ask(ctx, name)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			http.Error(w, fmt.Sprintf("%s is not registered", name), http.StatusNotFound)
			return
		case err != nil:
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) whereis(ctx context.Context, name string) (any, error) {
	ref, err := a.cfg.Registry.Whereis(ctx, name)
	return api.Location{Name: name, Node: ref.Node, ID: ref.ID}, err
}

func (a *API) inspect(ctx context.Context, name string) (any, error) {
	in, err := a.cfg.Registry.Inspect(ctx, name)
	return api.Inspection{
		Name: in.Name, Node: in.Ref.Node, ID: in.Ref.ID, Kind: in.Kind, Groups: in.Groups,
		Generation: in.Generation, Incarnation: in.Incarnation, Mailbox: in.Mailbox,
		Summary: in.Summary, Described: in.Described, DescribeError: in.DescribeError,
	}, err
}

func (a *API) drain(w http.ResponseWriter, r *http.Request) {
	node := r.URL.Query().Get("node")
	if node == "" {
		http.Error(w, "drain needs ?node=", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.DrainTimeout)
	defer cancel()
	began := time.Now()
	a.cfg.Logger.Info("draining a node, as an operator asked", "drained", node, "from", r.RemoteAddr)
	if err := a.cfg.Registry.DrainNode(ctx, node); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Drained{Node: node, Seconds: time.Since(began).Seconds()})
}

func (a *API) registered(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	entries, err := a.cfg.Registry.Registered(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	node, kind := r.URL.Query().Get("node"), r.URL.Query().Get("kind")
	out := make([]api.Registered, 0, len(entries))
	for _, e := range entries {
		if (node == "" || e.Ref.Node == node) && (kind == "" || e.Kind == kind) {
			out = append(out, api.Registered{Name: e.Name, Node: e.Ref.Node, ID: e.Ref.ID, Kind: e.Kind})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) stats(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rt := a.cfg.Registry.Runtime()
	st := api.Stats{
		Node: rt.Node(), Local: a.cfg.Registry.Local(), Processes: rt.Len(),
		Members: len(a.cfg.Members.Members()), Synced: "yes",
		Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc,
	}
	if err := a.cfg.Registry.Synced(); err != nil {
		st.Synced = err.Error()
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.cfg.Logger.Error("admin request failed", "path", r.URL.Path, "err", err)
	http.Error(w, err.Error(), http.StatusServiceUnavailable)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
