package gossip

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/shoalhq/shoal/cookie"
)

// Wire format; see the package documentation.
const (
	magic         = "SHMC"
	wireVersion   = 1
	headerLen     = len(magic) + 1
	nonceLen      = 12
	tagLen        = 16
	stampLen      = 8
	minAddrLen    = len("a:1")
	maxAddrLen    = 255
	minPacketLen  = headerLen + nonceLen + stampLen + minAddrLen + tagLen
	maxPacketLen  = headerLen + nonceLen + stampLen + maxAddrLen + tagLen
	keyLen        = 32 // AES-256
	readBufferLen = maxPacketLen + 1
)

// Reasons a packet is dropped. They stay unexported: the receive loop logs
// them and nothing outside the package sees a packet.
var (
	// errMalformed: not a Shoal heartbeat (wrong magic, version or length).
	errMalformed = errors.New("not a shoal multicast heartbeat")
	// errForeignCookie: shaped like a heartbeat but fails authentication.
	errForeignCookie = errors.New("heartbeat does not authenticate with our cookie")
	// errStale: authentic but stamped outside the accepted time window.
	errStale = errors.New("heartbeat timestamp outside the accepted window")
	// errBadAddress: authentic but the announced address is unusable.
	errBadAddress = errors.New("heartbeat announces an invalid address")
)

// heartbeat is the content of one packet.
type heartbeat struct {
	addr string    // the sender's cluster address, "host:port"
	sent time.Time // the sender's wall clock when it sealed the packet
}

// newAEAD returns the AES-256-GCM cipher keyed from c for multicast.
func newAEAD(c cookie.Cookie) (cipher.AEAD, error) {
	block, err := aes.NewCipher(c.Key(cookie.PurposeMulticast, keyLen))
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// encodePacket seals hb under a fresh random nonce.
func encodePacket(aead cipher.AEAD, hb heartbeat) ([]byte, error) {
	if err := checkAddr(hb.addr); err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceLen)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	return sealPacket(aead, hb, nonce), nil
}

// sealPacket seals hb under nonce. GCM is deterministic for a given
// nonce, which the fuzz test uses to check that whatever decodes was
// sealed with our key.
func sealPacket(aead cipher.AEAD, hb heartbeat, nonce []byte) []byte {
	out := make([]byte, 0, headerLen+nonceLen+stampLen+len(hb.addr)+tagLen)
	out = append(out, magic...)
	out = append(out, wireVersion)
	out = append(out, nonce...)
	plain := make([]byte, 0, stampLen+len(hb.addr))
	plain = binary.BigEndian.AppendUint64(plain, uint64(hb.sent.UnixNano()))
	plain = append(plain, hb.addr...)
	return aead.Seal(out, nonce, plain, out[:headerLen])
}

// decodePacket opens a packet read off the network. It accepts only
// packets sealed with aead's key, stamped no more than maxAge before now
// and no more than maxSkew after it, announcing a valid address. The
// error wraps errMalformed, errForeignCookie, errStale or errBadAddress.
func decodePacket(aead cipher.AEAD, b []byte, now time.Time, maxAge, maxSkew time.Duration) (heartbeat, error) {
	if len(b) < headerLen || string(b[:len(magic)]) != magic {
		return heartbeat{}, fmt.Errorf("%w: no magic prefix (%d bytes)", errMalformed, len(b))
	}
	if v := b[len(magic)]; v != wireVersion {
		return heartbeat{}, fmt.Errorf("%w: unsupported version %d", errMalformed, v)
	}
	if len(b) < minPacketLen || len(b) > maxPacketLen {
		return heartbeat{}, fmt.Errorf("%w: length %d outside [%d, %d]", errMalformed, len(b), minPacketLen, maxPacketLen)
	}
	nonce := b[headerLen : headerLen+nonceLen]
	plain, err := aead.Open(nil, nonce, b[headerLen+nonceLen:], b[:headerLen])
	if err != nil {
		return heartbeat{}, errForeignCookie
	}
	// Authentic from here on: the length bounds above guarantee the stamp.
	ns := int64(binary.BigEndian.Uint64(plain[:stampLen]))
	sent := time.Unix(0, ns)
	if age := now.Sub(sent); age > maxAge {
		return heartbeat{}, fmt.Errorf("%w: sent %s ago, limit %s", errStale, age, maxAge)
	} else if -age > maxSkew {
		return heartbeat{}, fmt.Errorf("%w: sent %s in the future, limit %s", errStale, -age, maxSkew)
	}
	hb := heartbeat{addr: string(plain[stampLen:]), sent: sent}
	if err := checkAddr(hb.addr); err != nil {
		return heartbeat{}, err
	}
	return hb, nil
}

// checkAddr reports whether a is a usable cluster address: "host:port"
// with a non-empty host, a port in 1..65535, printable ASCII only, at most
// maxAddrLen bytes. The error wraps errBadAddress.
func checkAddr(a string) error {
	if len(a) < minAddrLen || len(a) > maxAddrLen {
		return fmt.Errorf("%w: %d bytes, want %d..%d", errBadAddress, len(a), minAddrLen, maxAddrLen)
	}
	for i := 0; i < len(a); i++ {
		if a[i] <= ' ' || a[i] > '~' {
			return fmt.Errorf("%w: %q: byte %d is not printable ASCII", errBadAddress, a, i)
		}
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", errBadAddress, a, err)
	}
	if host == "" {
		return fmt.Errorf("%w: %q has no host", errBadAddress, a)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%w: %q: port must be 1..65535", errBadAddress, a)
	}
	return nil
}
