package wire

import (
	"bytes"
	"errors"
	"testing"
)

// TestPrefixLengths: parts whose length needs 1, 2 and 3 bytes.
func TestPrefixLengths(t *testing.T) {
	for _, n := range []int{0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 100000} {
		b := AppendPrefixed([]byte{9}, func(b []byte) []byte { return append(b, bytes.Repeat([]byte{7}, n)...) })
		d := NewReader(b[1:])
		var got []byte
		d.Prefixed(func(p *Reader) { got = p.take(len(p.b)) })
		if err := d.End("part"); err != nil || len(got) != n || b[0] != 9 || (n > 0 && (got[0] != 7 || got[n-1] != 7)) {
			t.Fatalf("part of %d bytes: %v, read %d", n, err, len(got))
		}
	}
}

// TestParts: a part skips what its reader leaves and reads zero past its
// end; a message read past its end is malformed.
func TestParts(t *testing.T) {
	b := AppendPrefixed(nil, func(b []byte) []byte {
		return AppendString(AppendBool(b, true), "later field")
	})
	b = AppendString(b, "after")
	d := NewReader(b)
	var v bool
	var missing uint64
	d.Prefixed(func(p *Reader) { v = p.Bool() })
	after := d.String()
	if err := d.End("message"); err != nil || !v || after != "after" {
		t.Fatalf("skipping a later field: %v, %v, %q", err, v, after)
	}
	d = NewReader(AppendPrefixed(nil, func(b []byte) []byte { return AppendBool(b, true) }))
	d.Prefixed(func(p *Reader) { v, missing = p.Bool(), p.Uvarint() })
	if err := d.End("message"); err != nil || !v || missing != 0 {
		t.Fatalf("a field past the part's end: %v, %v, %d", err, v, missing)
	}
	d = NewReader(AppendBool(nil, true))
	d.Bool()
	d.Uvarint()
	if err := d.End("message"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a message read past its end: %v", err)
	}
	d = NewReader([]byte{0xff, 0xff, 0xff, 0x0f, 1})
	if n := d.Count(1); n != 0 || !errors.Is(d.End("list"), ErrMalformed) {
		t.Fatalf("a count beyond the bytes: %d, %v", n, d.End("list"))
	}
}
