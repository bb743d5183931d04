package cluster

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta("127.0.0.1:40000"))
	f.Add(encodeMeta("[fd00::1]:7000"))
	f.Add(encodeMeta(""))
	f.Add([]byte{2, 0})
	f.Add([]byte{1, 5, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		addr, err := decodeMeta(data)
		if err != nil {
			if !errors.Is(err, errBadMeta) {
				t.Fatalf("error %v does not wrap errBadMeta", err)
			}
			return
		}
		if !bytes.Equal(encodeMeta(addr), data) {
			t.Fatalf("decoded %q from %x, which re-encodes differently", addr, data)
		}
	})
}

func FuzzDecodeLeaving(f *testing.F) {
	f.Add(encodeLeaving("houseparty@10.0.0.1"))
	f.Add([]byte{'L', 0})
	f.Add([]byte{'L', 9, 'a'})
	f.Add([]byte{'X', 1, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		name, err := decodeLeaving(data)
		if err != nil {
			if !errors.Is(err, errBadMessage) {
				t.Fatalf("error %v does not wrap errBadMessage", err)
			}
			return
		}
		if !bytes.Equal(encodeLeaving(name), data) {
			t.Fatalf("decoded %q from %x, which re-encodes differently", name, data)
		}
	})
}
