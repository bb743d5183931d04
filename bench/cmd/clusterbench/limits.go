package main

// The limits of the remote rows, measured in the same run: what a plain
// Go program does over one TLS 1.3 connection on loopback, with nothing
// of an actor system around it.
//
//   - tls:cast: one-way 28-byte frames (a 4-byte length, 24 bytes of
//     payload) written through a buffered writer and counted by the
//     reader (the remote cast's limit);
//   - tls:call: a 28-byte frame written and flushed, echoed back, read
//     (the remote call's limit: a TLS ping-pong).

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

const frameLen = 28

// tlsPair returns both ends of a TLS 1.3 connection over loopback, the
// server's certificate verified by the client.
func tlsPair() (client, server *tls.Conn, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "limit"},
		DNSNames:     []string{"limit"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	})
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
	client, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: "limit"})
	if err != nil {
		return nil, nil, err
	}
	select {
	case server = <-accepted:
		return client, server, nil
	case err := <-failed:
		client.Close()
		return nil, nil, err
	}
}

// readFrames reads n frames from r, echoing each through w if w is not
// nil, and reports
// the first error.
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
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func frame() [frameLen]byte {
	var f [frameLen]byte
	binary.BigEndian.PutUint32(f[:4], frameLen-4)
	return f
}

// tlsCast writes p.casts frames one way and reports frames/s once the
// reader has them all.
func tlsCast(p params) (result, error) {
	c, s, err := tlsPair()
	if err != nil {
		return result{}, fmt.Errorf("tls pair: %w", err)
	}
	defer c.Close()
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- readFrames(s, nil, p.casts) }()
	w := bufio.NewWriterSize(c, 64<<10)
	f := frame()
	start := time.Now()
	for range p.casts {
		if _, err := w.Write(f[:]); err != nil {
			return result{}, err
		}
	}
	if err := w.Flush(); err != nil {
		return result{}, err
	}
	if err := <-done; err != nil {
		return result{}, fmt.Errorf("read frames: %w", err)
	}
	return result{PerSecond: float64(p.casts) / time.Since(start).Seconds()}, nil
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
