// Package tlscert makes the self-signed certificate of the benchmarks'
// TLS 1.3 links on loopback (the limits of cmd/clusterbench, Hollywood's
// remote with TLS in cmd/hollywoodchild), so that every encrypted
// comparison row does the same handshake: an ECDSA P-256 key, TLS 1.3
// only, the server's certificate verified by the client, no client
// certificate.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Cert is a self-signed certificate for one DNS name and the pool that
// trusts it. Its configs may be used concurrently.
type Cert struct {
	name  string
	cert  tls.Certificate
	roots *x509.CertPool
}

// New makes a certificate for name, valid for an hour either side of now.
func New(name string) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlscert: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlscert: certificate: %w", err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlscert: parse: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(parsed)
	return &Cert{name: name, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, roots: roots}, nil
}

// Server returns a listener's config: TLS 1.3, this certificate.
func (c *Cert) Server() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{c.cert}}
}

// Client returns a dialer's config: TLS 1.3, trusting this certificate
// only, for its name whatever address is dialled.
func (c *Cert) Client() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: c.roots, ServerName: c.name}
}

// Both returns one config that serves as Server's and dials as Client's,
// for a peer that takes a single config for its listener and its dialer.
func (c *Cert) Both() *tls.Config {
	cfg := c.Client()
	cfg.Certificates = []tls.Certificate{c.cert}
	return cfg
}
