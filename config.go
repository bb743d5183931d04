package shoal

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/process"
)

// ErrInvalidConfig is wrapped by every error Start returns for a Config
// it cannot use; the message names the field.
var ErrInvalidConfig = errors.New("shoal: invalid config")

// Config is a node's configuration. Only Name is required: the zero
// value of every other field is a working default.
type Config struct {
	// Name is the node's name, unique in the cluster; by convention
	// basename@host, such as "sessions@10.0.0.7". Required.
	Name string
	// Secret is the cluster's shared secret, at least 16 bytes, the same
	// on every node: it authenticates membership traffic and links.
	// Empty runs the node alone (a random secret; discovery is off), and
	// Start says so at info level.
	Secret string
	// Addr is the IP address the node binds and advertises; empty means
	// 127.0.0.1.
	Addr string
	// Port is the membership port (TCP and UDP) on Addr; 0 picks a free
	// port (Address tells which). Set it when other nodes find this one
	// by address (discovery, Join): discovery strategies assume the same
	// port on every node.
	Port int
	// LinkPort is where links from other nodes are accepted; 0 picks a
	// free port, which membership advertises to the others.
	LinkPort int
	// Join lists membership addresses (host:port) of nodes to join at
	// start; Start fails if it names nodes and none answers. Empty means
	// none: Discovery finds the peers, or other nodes join this one.
	Join []string
	// Discovery finds candidate peers (packages under discovery/); may be
	// empty.
	Discovery []discovery.Strategy
	// Kinds are the node's process kinds, the same on every node; nil
	// means an empty table.
	Kinds *process.Kinds
	// Codec carries the messages and states that cross between nodes; nil
	// means codec.New(). The registry adds its own types to it.
	Codec *codec.Codec
	// Logger receives the node's events, each with the node's name
	// ("node" attribute: do not add one); nil discards them.
	Logger *slog.Logger
	// ProbeInterval is how often a member probes another; a node killed
	// without leaving is reported down within about 12 probe intervals.
	// 0 means 400 ms.
	ProbeInterval time.Duration
	// Replicas is how many nodes after a registry partition's primary
	// hold copies of its records: 0 means 1; a negative number keeps a
	// single copy. The same on every node.
	Replicas int
	// Quorum, if above 0, is the number of members a node must see to
	// serve registry operations (a minority side of a netsplit stops
	// answering rather than run copies of the other side's processes).
	Quorum int
	// Partitions is the number of registry partitions names hash to; 0
	// means 1,024. The same on every node.
	Partitions int
	// DrainTimeout, LeaveTimeout and ShutdownTimeout are the budgets of
	// Stop's three steps: handing every process to the nodes that stay
	// (0 means 15 s), telling the cluster this node leaves (0 means 10 s)
	// and stopping the processes that are left (0 means 5 s). A context
	// given to Stop with an earlier deadline shortens them.
	DrainTimeout, LeaveTimeout, ShutdownTimeout time.Duration
	// CodecCheck says whether messages to processes on this node, and
	// their replies, go through the codec as if they crossed to another
	// node, so that a type that cannot cross fails here too, at the call
	// (process.ErrWontCross), and a one-node test catches it. The default,
	// CodecCheckAuto, checks in test binaries (go test) only: it costs an
	// encoding per local message.
	CodecCheck CodecCheck
	// CookieHint, if set, names where an operator sets the secret (an
	// environment variable, a file), for the warnings about peers that do
	// not share it.
	CookieHint string
}

// CodecCheck is when local messages go through the codec (Config.CodecCheck).
type CodecCheck uint8

const (
	// CodecCheckAuto checks under go test and not otherwise.
	CodecCheckAuto CodecCheck = iota
	// CodecCheckAlways checks every local message.
	CodecCheckAlways
	// CodecCheckNever hands local messages over as they are.
	CodecCheckNever
)

// on reports whether local messages are checked.
func (c CodecCheck) on() bool {
	return c == CodecCheckAlways || (c == CodecCheckAuto && testing.Testing())
}

// Budgets used when a Config leaves them at 0.
const (
	DefaultDrainTimeout    = 15 * time.Second
	DefaultLeaveTimeout    = 10 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultProbeInterval   = 400 * time.Millisecond
)

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1"
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = DefaultLeaveTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Kinds == nil {
		c.Kinds = process.NewKinds()
	}
	if c.Codec == nil {
		c.Codec = codec.New()
	}
	return c
}

// invalid returns an ErrInvalidConfig naming field.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: Config.%s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// validate checks a Config with its defaults set; the error names the
// first field that is wrong. It returns the cookie Secret stands for.
func (c Config) validate() (cookie.Cookie, error) {
	switch {
	case c.Name == "":
		return cookie.Cookie{}, invalid("Name", "is required: a name unique in the cluster, such as \"sessions@10.0.0.7\"")
	case len(c.Name) > 255 || strings.ContainsFunc(c.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return cookie.Cookie{}, invalid("Name", "%q must be 1-255 bytes without spaces or control characters", c.Name)
	case net.ParseIP(c.Addr) == nil:
		return cookie.Cookie{}, invalid("Addr", "%q is not an IP address", c.Addr)
	case c.Port < 0 || c.Port > 65535:
		return cookie.Cookie{}, invalid("Port", "%d is out of range 0-65535", c.Port)
	case c.LinkPort < 0 || c.LinkPort > 65535:
		return cookie.Cookie{}, invalid("LinkPort", "%d is out of range 0-65535", c.LinkPort)
	case c.LinkPort != 0 && c.LinkPort == c.Port:
		return cookie.Cookie{}, invalid("LinkPort", "%d is also Config.Port: links need a port of their own", c.LinkPort)
	case c.ProbeInterval < 50*time.Millisecond:
		return cookie.Cookie{}, invalid("ProbeInterval", "%v must be at least 50ms", c.ProbeInterval)
	case c.Quorum < 0:
		return cookie.Cookie{}, invalid("Quorum", "%d must not be negative", c.Quorum)
	case c.Partitions < 0:
		return cookie.Cookie{}, invalid("Partitions", "%d must not be negative", c.Partitions)
	case c.DrainTimeout < 0:
		return cookie.Cookie{}, invalid("DrainTimeout", "%v must not be negative", c.DrainTimeout)
	case c.LeaveTimeout < 0:
		return cookie.Cookie{}, invalid("LeaveTimeout", "%v must not be negative", c.LeaveTimeout)
	case c.CodecCheck > CodecCheckNever:
		return cookie.Cookie{}, invalid("CodecCheck", "%d is not CodecCheckAuto, CodecCheckAlways or CodecCheckNever", c.CodecCheck)
	case c.ShutdownTimeout < 0:
		return cookie.Cookie{}, invalid("ShutdownTimeout", "%v must not be negative", c.ShutdownTimeout)
	}
	for i, a := range c.Join {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return cookie.Cookie{}, invalid(fmt.Sprintf("Join[%d]", i), "%q is not host:port", a)
		}
	}
	for i, s := range c.Discovery {
		if s == nil {
			return cookie.Cookie{}, invalid(fmt.Sprintf("Discovery[%d]", i), "is nil")
		}
	}
	if c.Secret == "" {
		if len(c.Join) > 0 || len(c.Discovery) > 0 {
			return cookie.Cookie{}, invalid("Secret", "is empty but Config.Join or Config.Discovery is set: a node without a secret runs alone; give every node the same secret")
		}
		return cookie.Random(), nil
	}
	ck, err := cookie.Parse(c.Secret)
	if err != nil {
		return cookie.Cookie{}, fmt.Errorf("%w: Config.Secret: %w", ErrInvalidConfig, err)
	}
	return ck, nil
}

// Option changes how Start builds a node, beyond its Config: hooks for
// metrics and tests.
type Option func(*options)

type options struct {
	observeCall func(node string, took time.Duration, err error)
	observeOp   func(op string, took time.Duration, err error)
	drop        func(addr string) bool
	noRegistry  bool
}

// ObserveCalls has f told of every call this node makes to a process on
// another node: the node, how long it took, its error (metrics). f runs
// on the caller's or a link's goroutine and must be quick.
func ObserveCalls(f func(node string, took time.Duration, err error)) Option {
	return func(o *options) { o.observeCall = f }
}

// ObserveOps has f told of every registry operation (register,
// unregister, whereis, join, leave): how long it took and its error
// (metrics). f runs on the caller's goroutine and must be quick.
func ObserveOps(f func(op string, took time.Duration, err error)) Option {
	return func(o *options) { o.observeOp = f }
}

// DropTraffic has drop asked before the node sends anything to a network
// address (membership packets and streams, links); true drops it, as a
// cut network would. For fault tests (netsplits, lost links).
func DropTraffic(drop func(addr string) bool) Option {
	return func(o *options) { o.drop = drop }
}

// WithoutRegistry starts a node with no share of the registry: processes
// are reached by ref (Node.Runtime), not by name, and the registry's
// operations fail with ErrNoRegistry. For a program that only sends
// messages between nodes, and for measuring that alone.
func WithoutRegistry() Option {
	return func(o *options) { o.noRegistry = true }
}
