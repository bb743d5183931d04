package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalhq/shoal/internal/syncbuf"

	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/transport"
)

const secret = "the-shared-cookie-of-this-test-cluster"

// logBuf is a buffer loggers may write to concurrently.
type logBuf = syncbuf.Buffer

func newTransport(t *testing.T, node, secret string, logs io.Writer) *transport.Transport {
	t.Helper()
	c, err := cookie.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := transport.DefaultConfig(node, c)
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// echoServer answers every frame with the same frame and records them.
type echoServer struct {
	mu     sync.Mutex
	frames [][]byte
	peers  []string
}

func (e *echoServer) handle(l *transport.Link) {
	for {
		f, err := l.Recv()
		if err != nil {
			return
		}
		e.mu.Lock()
		e.frames = append(e.frames, f)
		e.peers = append(e.peers, l.Peer())
		e.mu.Unlock()
		if err := l.Send(f); err != nil {
			return
		}
	}
}

func (e *echoServer) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.frames)
}

func listen(t *testing.T, tr *transport.Transport, h func(*transport.Link)) *transport.Server {
	t.Helper()
	srv, err := tr.Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestLinkRoundTrip(t *testing.T) {
	a := newTransport(t, "a@127.0.0.1", secret, nil)
	b := newTransport(t, "b@127.0.0.1", secret, nil)
	echo := &echoServer{}
	srv := listen(t, b, echo.handle)
	l, err := a.Dial(context.Background(), srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Peer() != "b@127.0.0.1" {
		t.Fatalf("peer = %q", l.Peer())
	}
	if err := l.SendBatch([][]byte{[]byte("one"), {}, []byte("three")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "", "three"} {
		got, err := l.Recv()
		if err != nil || string(got) != want {
			t.Fatalf("recv = %q, %v; want %q", got, err, want)
		}
	}
	echo.mu.Lock()
	defer echo.mu.Unlock()
	if echo.peers[0] != "a@127.0.0.1" {
		t.Fatalf("server saw peer %q", echo.peers[0])
	}
}

func TestWrongCookieRejectedBothWays(t *testing.T) {
	var goodLogs, badLogs logBuf
	good := newTransport(t, "good@127.0.0.1", secret, &goodLogs)
	bad := newTransport(t, "bad@127.0.0.1", "an-entirely-different-cookie!!", &badLogs)
	goodEcho, badEcho := &echoServer{}, &echoServer{}
	goodSrv := listen(t, good, goodEcho.handle)
	badSrv := listen(t, bad, badEcho.handle)

	// The intruder dials the good node.
	if _, err := bad.Dial(context.Background(), goodSrv.Addr().String()); !errors.Is(err, transport.ErrCookieMismatch) {
		t.Fatalf("intruder dial = %v; want ErrCookieMismatch", err)
	}
	// The good node dials the intruder.
	if _, err := good.Dial(context.Background(), badSrv.Addr().String()); !errors.Is(err, transport.ErrCookieMismatch) {
		t.Fatalf("dial to intruder = %v; want ErrCookieMismatch", err)
	}
	if goodEcho.count() != 0 || badEcho.count() != 0 {
		t.Fatal("a frame crossed a link between different cookies")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(goodLogs.String(), "does not share our cookie") || !strings.Contains(badLogs.String(), "does not share our cookie") {
		if time.Now().After(deadline) {
			t.Fatalf("rejection not logged clearly.\ngood:\n%s\nbad:\n%s", goodLogs.String(), badLogs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Once per peer host, not once per attempt.
	_, _ = bad.Dial(context.Background(), goodSrv.Addr().String())
	if n := strings.Count(badLogs.String(), "does not share our cookie"); n != 1 {
		t.Fatalf("rejection logged %d times on the dialer; want once\n%s", n, badLogs.String())
	}
	// Both sides go on: good nodes still link.
	other := newTransport(t, "other@127.0.0.1", secret, nil)
	l, err := other.Dial(context.Background(), goodSrv.Addr().String())
	if err != nil {
		t.Fatalf("good peers cannot link after a rejection: %v", err)
	}
	l.Close()
}

// recorder is a TCP proxy that records every byte it forwards.
type recorder struct {
	ln  net.Listener
	mu  sync.Mutex
	buf bytes.Buffer
	wg  sync.WaitGroup
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				return
			}
			r.wg.Add(2)
			go r.pipe(in, out)
			go r.pipe(out, in)
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *recorder) pipe(from, to net.Conn) {
	defer r.wg.Done()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.buf.Write(buf[:n])
			r.mu.Unlock()
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

func TestCapturedLinkIsNotPlaintext(t *testing.T) {
	a := newTransport(t, "a@127.0.0.1", secret, nil)
	b := newTransport(t, "b@127.0.0.1", secret, nil)
	srv := listen(t, b, (&echoServer{}).handle)
	rec := newRecorder(t, srv.Addr().String())
	l, err := a.Dial(context.Background(), rec.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("KNOWN-PAYLOAD: room_7 person_42 entered")
	for range 10 {
		if err := l.Send(payload); err != nil {
			t.Fatal(err)
		}
		if got, err := l.Recv(); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("echo = %q, %v", got, err)
		}
	}
	l.Close()
	captured := rec.bytes()
	if len(captured) < 10*len(payload) {
		t.Fatalf("captured only %d bytes", len(captured))
	}
	for _, secretBytes := range [][]byte{payload, []byte("KNOWN-PAYLOAD"), []byte(secret), []byte("room_7")} {
		if bytes.Contains(captured, secretBytes) {
			t.Fatalf("captured link bytes contain %q", secretBytes)
		}
	}
}

func TestFrameLimits(t *testing.T) {
	small := smallTransport(t)
	b := newTransport(t, "b@127.0.0.1", secret, nil)
	srv := listen(t, b, (&echoServer{}).handle)
	l, err := small.Dial(context.Background(), srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Send(make([]byte, transport.MinFrame+1)); !errors.Is(err, transport.ErrFrameTooLarge) {
		t.Fatalf("oversized send = %v", err)
	}
	// The peer may send up to its own limit; ours refuses what exceeds ours.
	if err := l.Send(make([]byte, transport.MinFrame)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := transport.ReadFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), 1<<20); !errors.Is(err, transport.ErrFrameTooLarge) {
		t.Fatalf("huge announced frame = %v", err)
	}
}

func TestServerCloseEndsLinks(t *testing.T) {
	a := newTransport(t, "a@127.0.0.1", secret, nil)
	b := newTransport(t, "b@127.0.0.1", secret, nil)
	srv, err := b.Listen("127.0.0.1:0", (&echoServer{}).handle)
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.Dial(context.Background(), srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() { _, err := l.Recv(); done <- err }()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("recv after server close succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("link not closed by server Close")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestNonShoalPeerRejected(t *testing.T) {
	b := newTransport(t, "b@127.0.0.1", secret, nil)
	echo := &echoServer{}
	srv := listen(t, b, echo.handle)
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(conn); err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("server kept a garbage connection open")
		}
	}
	if echo.count() != 0 {
		t.Fatal("garbage reached the handler")
	}
}

// TestWriteFramed writes frames framed by AppendFrame in one write, one
// of them larger than the reader's buffer, and reads them back with Next
// and Recv; frames that are not whole, or too large, write nothing.
func TestWriteFramed(t *testing.T) {
	a := newTransport(t, "a@127.0.0.1", secret, nil)
	b := newTransport(t, "b@127.0.0.1", secret, nil)
	srv := listen(t, b, (&echoServer{}).handle)
	l, err := a.Dial(context.Background(), srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	big := bytes.Repeat([]byte("0123456789"), 10_000) // 100 kB: past the 64 kB read buffer
	want := [][]byte{[]byte("one"), {}, big, []byte("four")}
	var framed []byte
	for _, f := range want {
		framed = transport.AppendFrame(framed, f)
	}
	if err := l.WriteFramed(framed[:len(framed)-1]); !errors.Is(err, transport.ErrBadFraming) {
		t.Fatalf("a cut frame = %v, want ErrBadFraming", err)
	}
	if err := l.WriteFramed(append(framed, 0, 0)); !errors.Is(err, transport.ErrBadFraming) {
		t.Fatalf("bytes after the last frame = %v, want ErrBadFraming", err)
	}
	if err := l.WriteFramed(framed); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		var got []byte
		if i%2 == 0 {
			got, err = l.Next()
		} else {
			got, err = l.Recv()
		}
		if err != nil || !bytes.Equal(got, w) {
			t.Fatalf("frame %d: %d bytes, %v; want %d bytes", i, len(got), err, len(w))
		}
	}
	if l.Buffered() {
		t.Fatal("Buffered after the last frame")
	}

	small := smallTransport(t)
	ls, err := small.Dial(context.Background(), srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	tooBig := transport.AppendFrame(transport.AppendFrame(nil, []byte("fits")), make([]byte, transport.MinFrame+1))
	if err := ls.WriteFramed(tooBig); !errors.Is(err, transport.ErrFrameTooLarge) {
		t.Fatalf("an oversized frame = %v, want ErrFrameTooLarge", err)
	}
	if err := ls.WriteFramed(transport.AppendFrame(nil, []byte("after"))); err != nil {
		t.Fatal(err)
	}
	if got, err := ls.Next(); err != nil || string(got) != "after" {
		t.Fatalf("after a refused write: %q, %v (the refused frames must not have been written)", got, err)
	}
}

// smallTransport returns a transport whose frames are at most MinFrame.
func smallTransport(t *testing.T) *transport.Transport {
	t.Helper()
	c, _ := cookie.Parse(secret)
	cfg := transport.DefaultConfig("small@127.0.0.1", c)
	cfg.MaxFrame = transport.MinFrame
	small, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return small
}
