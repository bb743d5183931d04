package cluster

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/transport"
)

// maxBackoff caps the retry interval of a failing strategy.
const maxBackoff = time.Minute

// starter is implemented by strategies with background work (multicast
// gossip); the cluster starts them before polling and closes them (if
// they implement io.Closer) at shutdown.
type starter interface {
	Start(ctx context.Context) error
}

// runStrategy polls s until the cluster stops.
func (c *Cluster) runStrategy(s discovery.Strategy) {
	defer c.wg.Done()
	_, needsStart := s.(starter)
	interval := discovery.DefaultInterval
	if iv, ok := s.(discovery.Interval); ok && iv.Interval() > 0 {
		interval = iv.Interval()
	}
	log := c.log.With("strategy", s.Name())
	backoff := interval
	lastErr := ""
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-timer.C:
		}
		var addrs []string
		var err error
		if needsStart {
			if err = s.(starter).Start(c.ctx); err == nil {
				needsStart = false
			}
		}
		if err == nil {
			addrs, err = s.Discover(c.ctx)
		}
		wait := interval
		if err != nil && errors.Is(err, discovery.ErrNoPeers) {
			// An answer all the same: nobody is there yet.
			c.mu.Lock()
			c.settled[s.Name()] = true
			c.mu.Unlock()
		}
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			// Logged once per change of error, not once per attempt.
			if msg := err.Error(); msg != lastErr {
				log.Warn("discovery failed; keeping current members and retrying with backoff", "err", err)
				lastErr = msg
			}
			backoff = min(backoff*2, max(interval, maxBackoff))
			wait = backoff
		} else {
			if lastErr != "" {
				log.Info("discovery recovered", "peers", len(addrs))
				lastErr = ""
			}
			backoff = interval
			c.mu.Lock()
			c.found[s.Name()] = slices.Clone(addrs)
			c.mu.Unlock()
			c.joinNew(addrs)
			c.mu.Lock()
			c.settled[s.Name()] = true
			c.mu.Unlock()
		}
		timer.Reset(wait)
	}
}

// joinNew joins the addresses that are not already live members.
func (c *Cluster) joinNew(addrs []string) {
	known := map[string]bool{c.Address(): true}
	for _, m := range c.Members() {
		if m.Status == StatusAlive || m.Status == StatusSuspect {
			known[m.Address] = true
		}
	}
	for _, a := range addrs {
		if known[a] || c.ctx.Err() != nil {
			continue
		}
		_, err := c.ml.Join([]string{a})
		c.logJoin(a, err)
	}
}

// noteChange records msg as the latest outcome for key ("" = success) and
// reports whether it differs from the previous one, and what that was.
func (c *Cluster) noteChange(key, msg string) (changed bool, last string) {
	c.joinLogMu.Lock()
	defer c.joinLogMu.Unlock()
	last, seen := c.joinLog[key]
	if len(c.joinLog) > 10000 {
		clear(c.joinLog)
	}
	c.joinLog[key] = msg
	return !seen || last != msg, last
}

// logJoin logs a join failure once per address and error, and a recovery.
func (c *Cluster) logJoin(addr string, err error) {
	msg := ""
	if err != nil {
		err = explainJoin(err)
		msg = err.Error()
	}
	changed, last := c.noteChange("join "+addr, msg)
	switch {
	case !changed:
	case err != nil && errors.Is(err, transport.ErrCookieMismatch):
		c.log.Warn("cannot join "+addr+": it does not share our cookie"+c.hint(), "peer", addr)
	case err != nil:
		c.log.Warn("cannot join "+addr, "peer", addr, "err", err)
	case last != "":
		c.log.Info("joined "+addr+" after earlier failures", "peer", addr)
	}
}

// memberlist reports failures only as text; these fragments are how it
// says a peer encrypts with another key (or none).
var cookieFragments = []string{"no installed keys could decrypt", "decrypt packet failed", "encryption is configured but remote state is not encrypted"}

func isCookieText(s string) bool {
	s = strings.ToLower(s)
	for _, f := range cookieFragments {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

// explainJoin marks memberlist join errors caused by a cookie mismatch.
func explainJoin(err error) error {
	if err != nil && isCookieText(err.Error()) {
		return errors.Join(transport.ErrCookieMismatch, err)
	}
	return err
}

// logMemberlist routes one memberlist log line: "[LEVEL] memberlist: msg".
func (c *Cluster) logMemberlist(line string) {
	if c.quiet.Load() {
		return // after Shutdown returned: see Cluster.quiet
	}
	line = strings.TrimSpace(line)
	level, msg, _ := strings.Cut(line, " ")
	msg = strings.TrimPrefix(msg, "memberlist: ")
	if c.closing.Load() {
		// Failing on its own closed sockets, probes that get no answer
		// any more: what stopping looks like from inside.
		c.log.Debug("membership (stopping): " + msg)
		return
	}
	if i := strings.Index(msg, "from="); isCookieText(msg) && i >= 0 {
		from := ""
		if f := strings.Fields(msg[i+5:]); len(f) > 0 {
			from = f[0]
		}
		host, _, err := net.SplitHostPort(from)
		if err != nil {
			host = from
		}
		if changed, _ := c.noteChange("gossip "+host, "cookie"); changed {
			c.log.Warn("gossip from "+host+" rejected: it does not share our cookie"+c.hint(), "peer", host)
		}
		return
	}
	if rest, ok := strings.CutPrefix(msg, "Suspect "); ok {
		if name, ok := strings.CutSuffix(rest, " has failed, no acks received"); ok {
			c.markSuspect(name)
		}
	}
	if isCookieText(msg) {
		// Our own join was refused; logJoin reports it.
		c.log.Debug("membership: " + msg)
		return
	}
	switch level {
	case "[ERR]":
		c.log.Error("membership: " + msg)
	case "[WARN]":
		c.log.Warn("membership: " + msg)
	case "[INFO]":
		c.log.Info("membership: " + msg)
	default:
		c.log.Debug("membership: " + msg)
	}
}
