// Package transport carries messages between nodes over links that are
// mutually authenticated and encrypted.
//
// A link is TLS 1.3 (Go's crypto/tls, not home-made crypto) with
// certificates derived from the cluster cookie: every node derives the same
// Ed25519 certificate-authority key from the cookie (HKDF, see package
// cookie) and signs a fresh certificate for itself, naming the node. Each
// side of a link accepts the other only if its certificate is signed by that
// key, so a handshake proves knowledge of the cookie without sending it, and
// a node with another cookie can neither connect nor accept. Everything
// after the handshake is encrypted by TLS.
//
// On a link, each side first sends a hello frame (protocol version and node
// name, which must match the certificate); after that, frames are opaque
// byte strings, each prefixed with its 4-byte big-endian length and at most
// Config.MaxFrame long.
package transport

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/shoalhq/shoal/cookie"
)

var (
	// ErrCookieMismatch means the peer's certificate is not signed with our
	// cookie, or the peer refused ours: the two nodes do not share a cookie.
	ErrCookieMismatch = errors.New("peer does not share our cookie")
	// ErrBadFraming means WriteFramed was given bytes that are not whole
	// frames, each with its length.
	ErrBadFraming = errors.New("bytes not framed")
	// ErrFrameTooLarge means a frame exceeds Config.MaxFrame.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrDropped means Config.Drop cut the way to the peer.
	ErrDropped = errors.New("traffic to peer dropped")
	// ErrBadHello means the peer's hello frame is malformed, of another
	// protocol version, or names another node than its certificate.
	ErrBadHello = errors.New("bad hello")
	// ErrClosed means the link or server is closed.
	ErrClosed = errors.New("transport closed")
)

// ProtocolVersion is the link protocol version sent in the hello.
const ProtocolVersion = 1

// MinFrame is the smallest Config.MaxFrame allowed (a hello must fit).
const MinFrame = 1024

// Config configures a Transport.
type Config struct {
	// Node is this node's name; it goes into this node's certificate.
	Node string
	// Cookie is the cluster secret.
	Cookie cookie.Cookie
	// CookieHint, if set, names where an operator sets the cookie (such as
	// an environment variable), for the warning about a peer that does
	// not share it.
	CookieHint string
	// Logger receives rejected links and errors; nil discards them.
	Logger *slog.Logger
	// HandshakeTimeout bounds the TLS handshake and hello; 0 means 5s.
	HandshakeTimeout time.Duration
	// MaxFrame is the largest frame accepted or sent; 0 means 16 MiB.
	MaxFrame int
	// Drop, if set, is asked before every dial and every send on a dialed
	// link; true refuses (and closes the link), as if the network between
	// here and addr were cut. For netsplit tests; nil drops nothing.
	Drop func(addr string) bool
}

// DefaultConfig returns defaults for node with cookie c.
func DefaultConfig(node string, c cookie.Cookie) Config {
	return Config{Node: node, Cookie: c, HandshakeTimeout: 5 * time.Second, MaxFrame: 16 << 20}
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	if c.Node == "" || len(c.Node) > 255 {
		return fmt.Errorf("transport config: node name must be 1-255 bytes, got %d", len(c.Node))
	}
	if c.Cookie.IsZero() {
		return errors.New("transport config: no cookie")
	}
	if c.MaxFrame != 0 && c.MaxFrame < MinFrame {
		return fmt.Errorf("transport config: MaxFrame %d is below the minimum %d", c.MaxFrame, MinFrame)
	}
	if c.HandshakeTimeout < 0 {
		return errors.New("transport config: negative HandshakeTimeout")
	}
	return nil
}

// Transport makes and accepts links for one node. Safe for concurrent use.
type Transport struct {
	node      string
	log       *slog.Logger
	handshake time.Duration
	maxFrame  int
	drop      func(addr string) bool
	hint      string // " (where the cookie is set)", or empty
	ca        *x509.Certificate
	serverTLS *tls.Config
	clientTLS *tls.Config

	rejectMu sync.Mutex
	rejected map[string]string // remote host -> last reason logged
}

// New returns a transport for cfg.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transport{
		node:      cfg.Node,
		log:       cfg.Logger,
		handshake: cfg.HandshakeTimeout,
		maxFrame:  cfg.MaxFrame,
		drop:      cfg.Drop,
		rejected:  make(map[string]string),
	}
	if cfg.CookieHint != "" {
		t.hint = " (" + cfg.CookieHint + ")"
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.handshake == 0 {
		t.handshake = 5 * time.Second
	}
	if t.maxFrame == 0 {
		t.maxFrame = 16 << 20
	}
	caKey := ed25519.NewKeyFromSeed(cfg.Cookie.Key(cookie.PurposeLinkCA, ed25519.SeedSize))
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "shoal cluster CA"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("transport: create CA certificate: %w", err)
	}
	if t.ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, fmt.Errorf("transport: parse CA certificate: %w", err)
	}
	leafPub, leafKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transport: node key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("transport: serial: %w", err)
	}
	now := time.Now()
	leafTmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cfg.Node},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, t.ca, leafPub, caKey)
	if err != nil {
		return nil, fmt.Errorf("transport: node certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	t.serverTLS = &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: t.verifyPeer,
	}
	t.clientTLS = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The default chain check knows nothing of our cookie-derived CA;
		// verifyPeer does the whole check instead.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: t.verifyPeer,
	}
	return t, nil
}

// Node returns this transport's node name.
func (t *Transport) Node() string { return t.node }

// verifyPeer accepts a peer certificate only if the cookie's CA key signed
// it and it is valid now.
func (t *Transport) verifyPeer(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: no certificate", ErrCookieMismatch)
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return fmt.Errorf("%w: unreadable certificate: %v", ErrCookieMismatch, err)
	}
	if err := leaf.CheckSignatureFrom(t.ca); err != nil {
		return fmt.Errorf("%w: certificate not signed with our cookie", ErrCookieMismatch)
	}
	now := time.Now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("%w: certificate outside its validity period", ErrCookieMismatch)
	}
	return nil
}

// classify turns a handshake failure into ErrCookieMismatch when the cause
// is a certificate rejected by either side.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrCookieMismatch) {
		return err
	}
	if code, ok := alertCode(err); ok {
		switch code {
		case 42, 43, 46, 48, 116: // bad_certificate, unsupported_certificate, certificate_unknown, unknown_ca, certificate_required
			return fmt.Errorf("%w: %v", ErrCookieMismatch, err)
		}
	}
	return err
}

// alertCode returns the TLS alert a peer sent, if err is one. crypto/tls
// reports a received alert as a *net.OpError with Op "remote error" whose
// Err is an unexported uint8 type, and an alert raised locally as
// tls.AlertError.
func alertCode(err error) (uint8, bool) {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return uint8(ae), true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
			return uint8(v.Uint()), true
		}
	}
	return 0, false
}

// reject logs why a link from or to remote failed, once per remote host
// and reason.
func (t *Transport) reject(remote, direction string, err error) {
	host, _, splitErr := net.SplitHostPort(remote)
	if splitErr != nil {
		host = remote
	}
	reason := err.Error()
	if errors.Is(err, ErrCookieMismatch) {
		reason = "cookie"
	}
	t.rejectMu.Lock()
	if len(t.rejected) > 10000 {
		clear(t.rejected)
	}
	seen := t.rejected[host] == reason
	t.rejected[host] = reason
	t.rejectMu.Unlock()
	if seen {
		return
	}
	if errors.Is(err, ErrCookieMismatch) {
		t.log.Warn("link "+direction+" "+remote+" rejected: the peer does not share our cookie"+t.hint, "peer", remote)
		return
	}
	t.log.Warn("link "+direction+" "+remote+" failed", "peer", remote, "err", err)
}

// Dial opens a link to the node listening at addr.
func (t *Transport) Dial(ctx context.Context, addr string) (*Link, error) {
	if t.drop != nil && t.drop(addr) {
		return nil, fmt.Errorf("dial %s: %w", addr, ErrDropped)
	}
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: t.clientTLS}
	hctx, cancel := context.WithTimeout(ctx, t.handshake)
	defer cancel()
	conn, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		err = classify(err)
		if errors.Is(err, ErrCookieMismatch) {
			t.reject(addr, "to", err)
		}
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	l, err := t.open(hctx, conn.(*tls.Conn))
	if err != nil {
		t.reject(addr, "to", err)
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if t.drop != nil {
		l.drop = func() bool { return t.drop(addr) }
	}
	return l, nil
}

// open exchanges hellos on an established TLS connection.
func (t *Transport) open(ctx context.Context, conn *tls.Conn) (*Link, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, classify(err)
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		conn.Close()
		return nil, fmt.Errorf("%w: no peer certificate", ErrCookieMismatch)
	}
	l := newLink(conn, t.maxFrame, certs[0].Subject.CommonName)
	if err := l.Send(encodeHello(t.node)); err != nil {
		conn.Close()
		return nil, classify(err)
	}
	frame, err := l.Recv()
	if err != nil {
		conn.Close()
		return nil, classify(err)
	}
	name, err := decodeHello(frame)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if name != l.peer {
		conn.Close()
		return nil, fmt.Errorf("%w: hello names %q but certificate names %q", ErrBadHello, name, l.peer)
	}
	_ = conn.SetDeadline(time.Time{})
	return l, nil
}

// encodeHello and decodeHello are the first frame of a link: "SHOAL",
// version, name length, name.
func encodeHello(node string) []byte {
	b := make([]byte, 0, 7+len(node))
	b = append(b, "SHOAL"...)
	b = append(b, ProtocolVersion, byte(len(node)))
	return append(b, node...)
}

func decodeHello(b []byte) (string, error) {
	if len(b) < 7 || string(b[:5]) != "SHOAL" {
		return "", fmt.Errorf("%w: not a Shoal hello", ErrBadHello)
	}
	if b[5] != ProtocolVersion {
		return "", fmt.Errorf("%w: protocol version %d, want %d", ErrBadHello, b[5], ProtocolVersion)
	}
	n := int(b[6])
	if n == 0 || len(b) != 7+n {
		return "", fmt.Errorf("%w: bad name length", ErrBadHello)
	}
	return string(b[7:]), nil
}

// Link is an authenticated, encrypted connection to one peer node. Send is
// safe for concurrent use; Recv must be called from one goroutine at a time.
type Link struct {
	conn     net.Conn
	peer     string
	maxFrame int
	r        *bufio.Reader
	consumed int // bytes of r's buffer that Next handed out last

	wmu          sync.Mutex
	w            *bufio.Writer
	drop         func() bool   // Config.Drop for the dialed address
	writeTimeout time.Duration // under wmu; 0: none

	closeOnce sync.Once
}

func newLink(conn net.Conn, maxFrame int, peer string) *Link {
	return &Link{
		conn:     conn,
		peer:     peer,
		maxFrame: maxFrame,
		r:        bufio.NewReaderSize(conn, 64<<10),
		w:        bufio.NewWriterSize(conn, 64<<10),
	}
}

// Peer returns the peer's node name, as its certificate states.
func (l *Link) Peer() string { return l.peer }

// RemoteAddr returns the peer's network address.
func (l *Link) RemoteAddr() net.Addr { return l.conn.RemoteAddr() }

// SetWriteTimeout bounds each Send and SendBatch from now on: one that
// has not written everything within d fails (the link is then unusable;
// close it). 0 means no bound.
func (l *Link) SetWriteTimeout(d time.Duration) {
	l.wmu.Lock()
	l.writeTimeout = d
	l.wmu.Unlock()
}

// deadlineLocked starts the write timeout, if any; wmu is held.
func (l *Link) deadlineLocked() {
	if l.writeTimeout > 0 {
		_ = l.conn.SetWriteDeadline(time.Now().Add(l.writeTimeout))
	}
}

// Send writes one frame and flushes it.
func (l *Link) Send(frame []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.deadlineLocked()
	if err := l.writeLocked(frame); err != nil {
		return err
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("send to %s: %w", l.peer, err)
	}
	return nil
}

// SendBatch writes several frames with one flush.
func (l *Link) SendBatch(frames [][]byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.deadlineLocked()
	for _, f := range frames {
		if err := l.writeLocked(f); err != nil {
			return err
		}
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("send to %s: %w", l.peer, err)
	}
	return nil
}

func (l *Link) writeLocked(frame []byte) error {
	if l.drop != nil && l.drop() {
		l.Close()
		return fmt.Errorf("send to %s: %w", l.peer, ErrDropped)
	}
	if len(frame) > l.maxFrame {
		return fmt.Errorf("send to %s: %w: %d > %d bytes", l.peer, ErrFrameTooLarge, len(frame), l.maxFrame)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(frame)))
	if _, err := l.w.Write(hdr[:]); err != nil {
		return fmt.Errorf("send to %s: %w", l.peer, err)
	}
	if _, err := l.w.Write(frame); err != nil {
		return fmt.Errorf("send to %s: %w", l.peer, err)
	}
	return nil
}

// WriteFramed writes frames already framed by AppendFrame (each with
// its length), in one write, and flushes them. It fails, writing nothing,
// if one is longer than the link's MaxFrame or its length runs past the
// end of frames.
func (l *Link) WriteFramed(frames []byte) error {
	for b := frames; len(b) > 0; {
		if len(b) < 4 {
			return fmt.Errorf("send to %s: %w: %d bytes after the last frame", l.peer, ErrBadFraming, len(b))
		}
		n := binary.BigEndian.Uint32(b)
		if int64(n) > int64(l.maxFrame) {
			return fmt.Errorf("send to %s: %w: %d > %d bytes", l.peer, ErrFrameTooLarge, n, l.maxFrame)
		}
		if int64(n) > int64(len(b)-4) {
			return fmt.Errorf("send to %s: %w: a frame of %d bytes, %d left", l.peer, ErrBadFraming, n, len(b)-4)
		}
		b = b[4+n:]
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.drop != nil && l.drop() {
		l.Close()
		return fmt.Errorf("send to %s: %w", l.peer, ErrDropped)
	}
	l.deadlineLocked()
	// An empty buffer (the usual case) writes frames straight to the
	// connection, without copying them.
	if _, err := l.w.Write(frames); err != nil {
		return fmt.Errorf("send to %s: %w", l.peer, err)
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("send to %s: %w", l.peer, err)
	}
	return nil
}

// AppendFrame appends frame to b with its length before it, as
// WriteFramed and the other side's reader expect.
func AppendFrame(b, frame []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(frame)))
	return append(b, frame...)
}

// Recv reads the next frame into a new slice.
func (l *Link) Recv() ([]byte, error) {
	f, err := l.Next()
	if err != nil {
		return nil, err
	}
	return append(make([]byte, 0, len(f)), f...), nil
}

// Next reads the next frame without copying it when it fits in the
// link's read buffer: the frame is valid only until the next call to
// Next or Recv. Decode or copy it before.
func (l *Link) Next() ([]byte, error) {
	f, err := nextFrame(l.r, l.maxFrame, &l.consumed)
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", l.peer, err)
	}
	return f, nil
}

// Buffered reports whether another frame, or part of one, has arrived
// and waits to be read: a reader that finds none is about to wait.
func (l *Link) Buffered() bool { return l.r.Buffered() > l.consumed }

// nextFrame reads a frame of at most max bytes from r, as ReadFrame does,
// but returns it in r's buffer when it fits there: *consumed is how much
// of the buffer it takes, discarded at the next call.
func nextFrame(r *bufio.Reader, max int, consumed *int) ([]byte, error) {
	if *consumed > 0 {
		if _, err := r.Discard(*consumed); err != nil {
			return nil, err // cannot happen: those bytes were buffered
		}
		*consumed = 0
	}
	hdr, err := r.Peek(4)
	if err != nil {
		if len(hdr) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr)
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, n, max)
	}
	if size := 4 + int(n); size <= r.Size() {
		b, err := r.Peek(size)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		*consumed = size
		return b[4:], nil
	}
	return ReadFrame(r, max)
}

// Close closes the link. It is idempotent.
func (l *Link) Close() error {
	var err error
	l.closeOnce.Do(func() { err = l.conn.Close() })
	return err
}

// ReadFrame reads one length-prefixed frame of at most max bytes from r.
// It never allocates more than the frame's real length plus a small
// constant: a huge announced length fails before any allocation.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// Server accepts links.
type Server struct {
	t      *Transport
	ln     net.Listener
	handle func(*Link)
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Listen accepts links on addr ("host:port"; port 0 picks one) and calls
// handle for each, in its own goroutine, once the peer is authenticated.
// handle owns the link; when it returns the link is closed.
func (t *Transport) Listen(addr string, handle func(*Link)) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for links on %s: %w", addr, err)
	}
	s := &Server{t: t, ln: ln, handle: handle, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // listener closed
		}
		if !s.track(conn, true) {
			conn.Close()
			return
		}
		s.wg.Add(1)
		go s.serve(conn)
	}
}

func (s *Server) serve(conn net.Conn) {
	defer s.wg.Done()
	defer s.track(conn, false)
	ctx, cancel := context.WithTimeout(context.Background(), s.t.handshake)
	l, err := s.t.open(ctx, tls.Server(conn, s.t.serverTLS))
	cancel()
	if err != nil {
		conn.Close()
		s.t.reject(conn.RemoteAddr().String(), "from", err)
		return
	}
	defer l.Close()
	s.handle(l)
}

// Close stops accepting, closes every link the server accepted, and waits
// for their handlers to return. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}
