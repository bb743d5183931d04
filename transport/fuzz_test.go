package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func FuzzReadFrame(f *testing.F) {
	frame := func(payload []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
		return append(b, payload...)
	}
	f.Add(frame([]byte("hello")))
	f.Add(frame(nil))
	f.Add([]byte{0, 0, 0, 9, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0})
	f.Add(append(frame([]byte("one")), frame([]byte("two"))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 10
		r := bytes.NewReader(data)
		for {
			got, err := ReadFrame(r, max)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(got) > max {
				t.Fatalf("frame of %d bytes exceeds max", len(got))
			}
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	f.Add(encodeHello("houseparty@10.0.0.1"))
	f.Add(encodeHello("a"))
	f.Add([]byte("SHOAL"))
	f.Add([]byte("SHOAL\x02\x01a"))
	f.Add([]byte("SHOAL\x01\x05ab"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		name, err := decodeHello(data)
		if err != nil {
			if !errors.Is(err, ErrBadHello) {
				t.Fatalf("error %v does not wrap ErrBadHello", err)
			}
			return
		}
		if !bytes.Equal(encodeHello(name), data) {
			t.Fatalf("decoded %q from %q but it re-encodes differently", name, data)
		}
	})
}

// FuzzNextFrame reads the same bytes with nextFrame, through a read
// buffer too small for some frames, and with ReadFrame: both must give
// the same frames and the same kind of end.
func FuzzNextFrame(f *testing.F) {
	frame := func(payload []byte) []byte { return AppendFrame(nil, payload) }
	f.Add(frame([]byte("hello")))
	f.Add(append(frame([]byte("one")), frame(bytes.Repeat([]byte("x"), 40))...))
	f.Add([]byte{0, 0, 0, 9, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 10
		in := bufio.NewReaderSize(bytes.NewReader(data), 16) // 16: bufio's least
		ref := bytes.NewReader(data)
		consumed := 0
		for {
			got, err := nextFrame(in, max, &consumed)
			want, werr := ReadFrame(ref, max)
			if (err == nil) != (werr == nil) {
				t.Fatalf("nextFrame: %v, ReadFrame: %v", err, werr)
			}
			if err != nil {
				for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, ErrFrameTooLarge} {
					if errors.Is(werr, target) && !errors.Is(err, target) {
						t.Fatalf("nextFrame: %v, ReadFrame: %v", err, werr)
					}
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("nextFrame %x, ReadFrame %x", got, want)
			}
		}
	})
}
