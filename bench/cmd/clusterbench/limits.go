package main

// The limits of the remote rows, measured in the same run: what a plain
// Go program does over one TLS 1.3 connection on loopback, with nothing
// of an actor system around it.
//
//   - tls:cast: one-way 28-byte frames (a 4-byte length, 24 bytes of
//     payload) written through a buffered writer and counted by the
//     reader (the remote cast's limit);
//   - tls:call: a 28-byte frame written and flushed, echoed back, read
//     (the remote call's limit: a TLS ping-pong);
//   - tls:cast16: 16 goroutines writing their shares of the frames
//     through one buffered writer, each frame under a mutex (the writer
//     flushes when full, and once after the last), counted by the reader;
//   - tls:call16: 16 goroutines, each with one frame in flight carrying
//     its number, written under a mutex and flushed by the last caller
//     of those waiting for it (frames batch as Shoal's do); the server echoes
//     each (flushing when it has read all it has), and one reader on the
//     client hands each echo to its goroutine by number, on a channel of
//     its own.
//
// The certificate is bench/internal/tlscert's (as Hollywood's with TLS).

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalhq/shoal/bench/internal/harness"
	"github.com/shoalhq/shoal/bench/internal/tlscert"
)

const frameLen = 28

// tlsPair returns both ends of a TLS 1.3 connection over loopback, the
// server's certificate verified by the client, each with a deadline
// waitLimit away.
func tlsPair() (client, server *tls.Conn, err error) {
	cert, err := tlscert.New("limit")
	if err != nil {
		return nil, nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cert.Server())
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan *tls.Conn, 1)
	failed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			failed <- err
			return
		}
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			failed <- err
			return
		}
		accepted <- tc
	}()
	client, err = tls.Dial("tcp", ln.Addr().String(), cert.Client())
	if err != nil {
		return nil, nil, err
	}
	select {
	case server = <-accepted:
		// Every read and write of a measurement ends by waitLimit.
		deadline := time.Now().Add(waitLimit)
		if err := errors.Join(client.SetDeadline(deadline), server.SetDeadline(deadline)); err != nil {
			client.Close()
			server.Close()
			return nil, nil, err
		}
		return client, server, nil
	case err := <-failed:
		client.Close()
		return nil, nil, err
	}
}

// readFrames reads n frames from r, echoing each through w if w is not
// nil (flushed whenever no more of r is buffered: at once when one frame
// is in flight), and reports the first error.
func readFrames(r io.Reader, w *bufio.Writer, n int) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var f [frameLen]byte
	for range n {
		if _, err := io.ReadFull(br, f[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(f[:4]) != frameLen-4 {
			return errors.New("bad frame")
		}
		if w != nil {
			if _, err := w.Write(f[:]); err != nil {
				return err
			}
			if br.Buffered() == 0 {
				if err := w.Flush(); err != nil {
					return err
				}
			}
		}
	}
	if w != nil {
		return w.Flush()
	}
	return nil
}

func frame() [frameLen]byte {
	var f [frameLen]byte
	binary.BigEndian.PutUint32(f[:4], frameLen-4)
	return f
}

// tlsCall makes p.calls sequential round trips of one frame.
func tlsCall(p params) (result, error) {
	c, s, err := tlsPair()
	if err != nil {
		return result{}, fmt.Errorf("tls pair: %w", err)
	}
	defer c.Close()
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- readFrames(s, bufio.NewWriterSize(s, 4<<10), p.calls) }()
	w := bufio.NewWriterSize(c, 4<<10)
	r := bufio.NewReaderSize(c, 4<<10)
	f := frame()
	var back [frameLen]byte
	start := time.Now()
	for range p.calls {
		if _, err := w.Write(f[:]); err != nil {
			return result{}, err
		}
		if err := w.Flush(); err != nil {
			return result{}, err
		}
		if _, err := io.ReadFull(r, back[:]); err != nil {
			return result{}, err
		}
	}
	el := time.Since(start)
	if err := <-done; err != nil {
		return result{}, fmt.Errorf("echo frames: %w", err)
	}
	return result{PerSecond: float64(p.calls) / el.Seconds()}, nil
}

// limitSenders is the goroutines of the 16-sender limits.
const limitSenders = 16

// tlsCast writes p.casts frames one way from senders goroutines through
// one buffered writer (under a mutex when there are several) and reports
// frames/s once the reader has them all.
func tlsCast(p params, senders int) (result, error) {
	c, s, err := tlsPair()
	if err != nil {
		return result{}, fmt.Errorf("tls pair: %w", err)
	}
	defer c.Close()
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- readFrames(s, nil, p.casts) }()
	var mu sync.Mutex
	w := bufio.NewWriterSize(c, 64<<10)
	start := time.Now()
	err = harness.Parallel(senders, func(i int) error {
		f := frame()
		for range harness.Share(p.casts, senders, i) {
			if senders > 1 {
				mu.Lock()
			}
			_, err := w.Write(f[:])
			if senders > 1 {
				mu.Unlock()
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		c.Close() // ends the reader
		<-done
		return result{}, err
	}
	if err := <-done; err != nil {
		return result{}, fmt.Errorf("read frames: %w", err)
	}
	return result{PerSecond: float64(p.casts) / time.Since(start).Seconds()}, nil
}

// tlsCall16 is tlsCall with limitSenders goroutines, each with one frame
// in flight.
func tlsCall16(p params) (result, error) {
	c, s, err := tlsPair()
	if err != nil {
		return result{}, fmt.Errorf("tls pair: %w", err)
	}
	defer c.Close()
	defer s.Close()
	echoed := make(chan error, 1)
	go func() { echoed <- readFrames(s, bufio.NewWriterSize(s, 4<<10), p.calls) }()

	// One reader hands each echo to its caller, by the number in its
	// payload; it closes every caller's channel when it ends.
	replies := make([]chan struct{}, limitSenders)
	for i := range replies {
		replies[i] = make(chan struct{}, 1)
	}
	read := make(chan error, 1)
	go func() {
		defer func() {
			for _, ch := range replies {
				close(ch)
			}
		}()
		r := bufio.NewReaderSize(c, 4<<10)
		var back [frameLen]byte
		for range p.calls {
			if _, err := io.ReadFull(r, back[:]); err != nil {
				read <- err
				return
			}
			id := binary.BigEndian.Uint32(back[4:8])
			if id >= limitSenders {
				read <- fmt.Errorf("echo for caller %d", id)
				return
			}
			replies[id] <- struct{}{}
		}
		read <- nil
	}()

	var mu sync.Mutex
	var waiting atomic.Int32 // callers at or in the lock
	w := bufio.NewWriterSize(c, 4<<10)
	start := time.Now()
	err = harness.Parallel(limitSenders, func(i int) error {
		f := frame()
		binary.BigEndian.PutUint32(f[4:8], uint32(i))
		for range harness.Share(p.calls, limitSenders, i) {
			waiting.Add(1)
			mu.Lock()
			_, err := w.Write(f[:])
			if waiting.Add(-1) == 0 && err == nil {
				err = w.Flush() // the last of those waiting flushes for all
			}
			mu.Unlock()
			if err != nil {
				return err
			}
			if _, ok := <-replies[i]; !ok {
				return errors.New("reader ended")
			}
		}
		return nil
	})
	el := time.Since(start)
	if err != nil {
		c.Close() // ends the reader and the echo
		<-read
		<-echoed
		return result{}, err
	}
	if err := <-read; err != nil {
		return result{}, fmt.Errorf("read echoes: %w", err)
	}
	if err := <-echoed; err != nil {
		return result{}, fmt.Errorf("echo frames: %w", err)
	}
	return result{PerSecond: float64(p.calls) / el.Seconds()}, nil
}
