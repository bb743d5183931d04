// Package cli is the operator's command line (cmd/shoal, and the node
// binary's "shoal" subcommand, so that the image carries it at no cost):
// it asks a running Shoal cluster what is where, through any node's
// operator API (package admin), instead of a shell into a node. It
// imports only package admin/api and the cookie.
//
//	shoal [flags] members                 the members and their status
//	shoal [flags] whereis NAME            the node and process id of a name
//	shoal [flags] registered [--node N] [--kind K] [--count]
//	                                      the registered names (or their number)
//	shoal [flags] stats                   the node's numbers
//	shoal [flags] inspect NAME            a name's node, kind, groups, generation,
//	                                      mailbox and the process's own summary
//	shoal [flags] drain NODE              hand every process of NODE to the others
//	                                      (before taking it away)
//
// Flags (before the command):
//
//	--addr HOST:PORT   the node's HTTP address (default $SHOAL_ADDR, else localhost:4001);
//	                   through Kubernetes: kubectl port-forward deploy/houseparty 4001
//	--json             print the API's JSON instead of a table
//
// The token is $SHOAL_ADMIN_TOKEN, else derived from $SHOAL_COOKIE (or the
// file $SHOAL_COOKIE_FILE names), as the nodes derive it. Exit status: 0,
// 1 when the node refuses or fails, 2 on a usage error.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoalhq/shoal/admin/api"
	"github.com/shoalhq/shoal/cookie"
)

// errUsage is a usage error (exit 2).
var errUsage = errors.New("usage")

const usage = `usage: shoal [--addr HOST:PORT] [--json] COMMAND
commands:
  members                                 the members and their status
  whereis NAME                            where a name runs
  registered [--node N] [--kind K] [--count]
                                          the registered names
  stats                                   the node's numbers
  inspect NAME                            what there is to know of a name's process
  drain NODE                              hand every process of NODE to the others
the token: $SHOAL_ADMIN_TOKEN, else derived from $SHOAL_COOKIE or $SHOAL_COOKIE_FILE`

// Run runs one command (args without the program's name) and returns the
// exit status.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := command(ctx, args, getenv, stdout)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "shoal: %v\n%s\n", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "shoal: %v\n", err)
		return 1
	}
}

func command(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("shoal", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", or(getenv("SHOAL_ADDR"), "localhost:4001"), "node HTTP address")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	token, err := tokenFrom(getenv)
	if err != nil {
		return err
	}
	c := client{base: "http://" + *addr, token: token, http: &http.Client{Timeout: 30 * time.Second}}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "members":
		if len(rest) > 0 {
			return fmt.Errorf("%w: members takes no arguments", errUsage)
		}
		var ms []api.Member
		body, err := c.get(ctx, "/admin/members", nil, &ms)
		if err != nil || *asJSON {
			return printed(stdout, body, err)
		}
		return table(stdout, []string{"NODE", "STATUS", "INCARNATION", "ADDRESS"}, len(ms), func(i int) []string {
			m := ms[i]
			name := m.Name
			if m.Self {
				name += " (asked)"
			}
			return []string{name, m.Status, fmt.Sprintf("%016x", m.Incarnation), m.Address}
		})
	case "whereis":
		if len(rest) != 1 {
			return fmt.Errorf("%w: whereis takes one NAME", errUsage)
		}
		var loc api.Location
		body, err := c.get(ctx, "/admin/whereis", url.Values{"name": {rest[0]}}, &loc)
		if err != nil || *asJSON {
			return printed(stdout, body, err)
		}
		_, err = fmt.Fprintf(stdout, "%s runs on %s (process %d)\n", loc.Name, loc.Node, loc.ID)
		return err
	case "registered":
		sub := flag.NewFlagSet("registered", flag.ContinueOnError)
		sub.SetOutput(io.Discard)
		node := sub.String("node", "", "only the names on this node")
		kind := sub.String("kind", "", "only the names of this kind")
		count := sub.Bool("count", false, "print the number only")
		if err := sub.Parse(rest); err != nil || sub.NArg() > 0 {
			return fmt.Errorf("%w: registered [--node N] [--kind K] [--count]", errUsage)
		}
		q := url.Values{}
		if *node != "" {
			q.Set("node", *node)
		}
		if *kind != "" {
			q.Set("kind", *kind)
		}
		var rs []api.Registered
		body, err := c.get(ctx, "/admin/registered", q, &rs)
		switch {
		case err != nil:
			return err
		case *count && *asJSON:
			return printed(stdout, []byte(fmt.Sprintf("{\"count\":%d}\n", len(rs))), nil)
		case *count:
			_, err = fmt.Fprintln(stdout, len(rs))
			return err
		case *asJSON:
			return printed(stdout, body, nil)
		}
		slices.SortFunc(rs, func(a, b api.Registered) int { return strings.Compare(a.Name, b.Name) })
		return table(stdout, []string{"NAME", "KIND", "NODE", "PROCESS"}, len(rs), func(i int) []string {
			return []string{rs[i].Name, rs[i].Kind, rs[i].Node, fmt.Sprint(rs[i].ID)}
		})
	case "stats":
		if len(rest) > 0 {
			return fmt.Errorf("%w: stats takes no arguments", errUsage)
		}
		var st api.Stats
		body, err := c.get(ctx, "/admin/stats", nil, &st)
		if err != nil || *asJSON {
			return printed(stdout, body, err)
		}
		return table(stdout, []string{"NODE", "LOCAL", "PROCESSES", "MEMBERS", "SYNCED", "GOROUTINES", "HEAP"}, 1, func(int) []string {
			return []string{st.Node, fmt.Sprint(st.Local), fmt.Sprint(st.Processes), fmt.Sprint(st.Members), st.Synced,
				fmt.Sprint(st.Goroutines), fmt.Sprintf("%.1f MB", float64(st.HeapBytes)/1e6)}
		})
	case "inspect":
		if len(rest) != 1 {
			return fmt.Errorf("%w: inspect takes one NAME", errUsage)
		}
		var in api.Inspection
		body, err := c.get(ctx, "/admin/inspect", url.Values{"name": {rest[0]}}, &in)
		if err != nil || *asJSON {
			return printed(stdout, body, err)
		}
		summary := in.Summary
		switch {
		case in.DescribeError != "":
			summary = "(no answer: " + in.DescribeError + ")"
		case !in.Described:
			summary = "(its kind does not describe itself)"
		}
		rows := [][2]string{
			{"name", in.Name}, {"node", fmt.Sprintf("%s (process %d)", in.Node, in.ID)}, {"kind", in.Kind},
			{"groups", strings.Join(in.Groups, ", ")}, {"generation", fmt.Sprint(in.Generation)},
			{"incarnation", fmt.Sprintf("%016x", in.Incarnation)}, {"mailbox", fmt.Sprint(in.Mailbox)}, {"summary", summary},
		}
		return table(stdout, nil, len(rows), func(i int) []string { return rows[i][:] })
	case "drain":
		if len(rest) != 1 {
			return fmt.Errorf("%w: drain takes one NODE", errUsage)
		}
		var d api.Drained
		c.http = &http.Client{Timeout: 90 * time.Second} // the node gives a drain 60 s
		body, err := c.do(ctx, http.MethodPost, "/admin/drain", url.Values{"node": {rest[0]}}, &d)
		if err != nil || *asJSON {
			return printed(stdout, body, err)
		}
		_, err = fmt.Fprintf(stdout, "%s drained in %.1f s: its processes run on the other nodes; it places nothing and is not ready until it stops\n", d.Node, d.Seconds)
		return err
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// tokenFrom returns SHOAL_ADMIN_TOKEN, or the token derived from the
// cookie.
func tokenFrom(getenv func(string) string) (string, error) {
	if t := getenv("SHOAL_ADMIN_TOKEN"); t != "" {
		return t, nil
	}
	secret := getenv("SHOAL_COOKIE")
	if f := getenv("SHOAL_COOKIE_FILE"); f != "" && secret == "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("SHOAL_COOKIE_FILE: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if secret == "" {
		return "", errors.New("no token: set SHOAL_ADMIN_TOKEN, or SHOAL_COOKIE (or SHOAL_COOKIE_FILE) to the cluster's cookie")
	}
	c, err := cookie.Parse(secret)
	if err != nil {
		return "", fmt.Errorf("SHOAL_COOKIE: %w", err)
	}
	return api.Token(c), nil
}

// client asks one node's operator API.
type client struct {
	base  string
	token string
	http  *http.Client
}

// get fetches path?q, decodes the JSON answer into v and returns it raw.
func (c client) get(ctx context.Context, path string, q url.Values, v any) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, q, v)
}

// do asks method path?q, decodes the JSON answer into v and returns it
// raw.
func (c client) do(ctx context.Context, method, path string, q url.Values, v any) ([]byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("%s refused the token (401): check SHOAL_ADMIN_TOKEN or SHOAL_COOKIE", c.base)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("%s: undecodable answer: %w", path, err)
	}
	return body, nil
}

// printed writes body unless err.
func printed(w io.Writer, body []byte, err error) error {
	if err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// table writes a header (if any) and n rows, aligned.
func table(w io.Writer, header []string, n int, row func(i int) []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for i := range n {
		fmt.Fprintln(tw, strings.Join(row(i), "\t"))
	}
	return tw.Flush()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
