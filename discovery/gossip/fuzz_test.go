package gossip

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"testing"
	"time"
)

// FuzzDecodePacket feeds arbitrary bytes to the network decoder. It must
// never panic, must fail only with its sentinel errors, and must accept
// only packets sealed with our key: GCM is deterministic for a nonce, so
// anything that decodes must re-seal, under the nonce it carries, to
// exactly the input. The seeds cover valid packets, truncations, another
// cookie's packets, stale and future stamps, and garbage.
func FuzzDecodePacket(f *testing.F) {
	ours, err := newAEAD(testCookie(f, "fuzz ours"))
	if err != nil {
		f.Fatal(err)
	}
	theirs, err := newAEAD(testCookie(f, "fuzz theirs"))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	const maxAge, maxSkew = 30 * time.Second, 5 * time.Second

	seal := func(a cipher.AEAD, addr string, sent time.Time) []byte {
		p, err := encodePacket(a, heartbeat{addr: addr, sent: sent})
		if err != nil {
			f.Fatal(err)
		}
		return p
	}
	valid := [][]byte{
		seal(ours, "10.0.0.1:7946", now),
		seal(ours, "[fe80::1%eth0]:7946", now.Add(-maxAge)),
		seal(ours, "node-1.hp.default.svc.cluster.local:7946", now.Add(maxSkew)),
		sealPacket(ours, heartbeat{addr: "a:1", sent: now}, make([]byte, nonceLen)),
	}
	for _, v := range valid {
		if _, err := decodePacket(ours, v, now, maxAge, maxSkew); err != nil {
			f.Fatalf("seed does not decode: %v", err)
		}
		f.Add(v)
		for _, n := range []int{0, 1, len(magic), headerLen, headerLen + nonceLen, len(v) - tagLen, len(v) - 1} {
			f.Add(bytes.Clone(v[:n])) // truncated
		}
		f.Add(append(bytes.Clone(v), 0)) // extended
	}
	f.Add(seal(theirs, "10.0.0.1:7946", now))                                              // another cookie
	f.Add(seal(ours, "10.0.0.1:7946", now.Add(-maxAge-time.Second)))                       // stale
	f.Add(seal(ours, "10.0.0.1:7946", now.Add(maxSkew+time.Second)))                       // future
	f.Add(sealPacket(ours, heartbeat{addr: "no-port", sent: now}, make([]byte, nonceLen))) // sealed junk address
	f.Add([]byte("heartbeat::" + `{"node":"app@10.0.0.1"}`))                               // a libcluster heartbeat
	f.Add([]byte(magic + "\x01" + string(make([]byte, 64))))                               // zeros after a valid header
	f.Add([]byte(magic + "\x02" + string(make([]byte, 64))))                               // future version
	f.Add(bytes.Repeat([]byte{0xff}, maxPacketLen))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		hb, err := decodePacket(ours, data, now, maxAge, maxSkew)
		if !bytes.Equal(in, data) {
			t.Fatal("decodePacket modified its input")
		}
		if err != nil {
			if hb != (heartbeat{}) {
				t.Fatalf("error %v with a non-zero heartbeat %+v", err, hb)
			}
			if !errors.Is(err, errMalformed) && !errors.Is(err, errForeignCookie) &&
				!errors.Is(err, errStale) && !errors.Is(err, errBadAddress) {
				t.Fatalf("unexpected error %v", err)
			}
		} else {
			nonce := data[headerLen : headerLen+nonceLen]
			if again := sealPacket(ours, hb, nonce); !bytes.Equal(again, data) {
				t.Fatalf("decoded %+v from bytes that are not its sealing:\n got %x\nwant %x", hb, data, again)
			}
			if err := checkAddr(hb.addr); err != nil {
				t.Fatalf("decoded a bad address: %v", err)
			}
			if age := now.Sub(hb.sent); age > maxAge || -age > maxSkew {
				t.Fatalf("decoded a heartbeat %s old", age)
			}
		}
		hb2, err2 := decodePacket(theirs, data, now, maxAge, maxSkew)
		if err == nil && err2 == nil {
			t.Fatalf("bytes decode under two keys: %+v and %+v", hb, hb2)
		}
		if err2 == nil {
			nonce := data[headerLen : headerLen+nonceLen]
			if again := sealPacket(theirs, hb2, nonce); !bytes.Equal(again, data) {
				t.Fatalf("decoded %+v under the other key from bytes that are not its sealing", hb2)
			}
		}
	})
}
