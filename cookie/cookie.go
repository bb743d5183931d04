// Package cookie turns the cluster's shared secret (Erlang's cookie) into
// the keys that protect node-to-node traffic. The cookie itself never
// crosses the wire: every key is derived from it with HKDF-SHA256 under a
// distinct label, so a key for one purpose reveals nothing about another.
package cookie

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// MinLength is the shortest cookie accepted.
const MinLength = 16

// ErrTooShort means a cookie is shorter than MinLength.
var ErrTooShort = errors.New("cookie too short")

// Cookie is a cluster's shared secret. The zero value is not usable.
type Cookie struct {
	secret []byte
	random bool
}

// Parse returns the cookie s, which must be at least MinLength bytes.
func Parse(s string) (Cookie, error) {
	if len(s) < MinLength {
		return Cookie{}, fmt.Errorf("%w: %d bytes, need at least %d", ErrTooShort, len(s), MinLength)
	}
	return Cookie{secret: []byte(s)}, nil
}

// Random returns a fresh cookie known to no other node: a node that uses it
// can run alone but no cluster can form with it.
func Random() Cookie {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return Cookie{secret: []byte(hex.EncodeToString(b)), random: true}
}

// IsRandom reports whether the cookie came from Random.
func (c Cookie) IsRandom() bool { return c.random }

// IsZero reports whether c is the zero Cookie.
func (c Cookie) IsZero() bool { return len(c.secret) == 0 }

// Key derives n bytes for the given purpose, e.g. "shoal gossip v1".
func (c Cookie) Key(purpose string, n int) []byte {
	if c.IsZero() {
		panic("cookie: Key on zero Cookie") // programming error: callers validate first
	}
	k, err := hkdf.Key(sha256.New, c.secret, []byte("shoal cookie salt"), purpose, n)
	if err != nil {
		panic(fmt.Sprintf("cookie: hkdf: %v", err)) // only for n > 255*32
	}
	return k
}

// Key purposes used by Shoal.
const (
	PurposeGossip    = "shoal gossip v1"    // memberlist keyring (32 bytes, AES-256-GCM)
	PurposeLinkCA    = "shoal link ca v1"   // ed25519 seed of the link CA
	PurposeMulticast = "shoal multicast v1" // multicast discovery packets
)

// String never shows the secret.
func (c Cookie) String() string {
	if c.IsZero() {
		return "cookie(none)"
	}
	return "cookie(redacted)"
}
