package cluster

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(nodeMeta{link: "127.0.0.1:40000", incarnation: 1}))
	f.Add(encodeMeta(nodeMeta{link: "[fd00::1]:7000", incarnation: 0xfeedface}))
	f.Add(encodeMeta(nodeMeta{incarnation: 7}))
	f.Add([]byte{1, 15, '1', '2', '7', '.', '0', '.', '0', '.', '1', ':', '4', '0', '0', '0', '0'})
	f.Add([]byte{2, 0})
	f.Add([]byte{1, 5, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMeta(data)
		if err != nil {
			if !errors.Is(err, errBadMeta) {
				t.Fatalf("error %v does not wrap errBadMeta", err)
			}
			return
		}
		if data[0] == metaVersion1 {
			if m.incarnation != 0 || string(data[2:]) != m.link {
				t.Fatalf("version 1 %x decoded as %+v", data, m)
			}
			return
		}
		if !bytes.Equal(encodeMeta(m), data) {
			t.Fatalf("decoded %+v from %x, which re-encodes differently", m, data)
		}
	})
}

func FuzzDecodeNotice(f *testing.F) {
	f.Add(encodeNotice(leavingTag, "houseparty@10.0.0.1"))
	f.Add(encodeNotice(leavingAckTag, "houseparty@10.0.0.2"))
	f.Add([]byte{'L', 0})
	f.Add([]byte{'L', 9, 'a'})
	f.Add([]byte{'X', 1, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		tag, name, err := decodeNotice(data)
		if err != nil {
			if !errors.Is(err, errBadMessage) {
				t.Fatalf("error %v does not wrap errBadMessage", err)
			}
			return
		}
		if !bytes.Equal(encodeNotice(tag, name), data) {
			t.Fatalf("decoded %q from %x, which re-encodes differently", name, data)
		}
	})
}
