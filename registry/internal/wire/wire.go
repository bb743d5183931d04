// Package wire holds the pieces of the registry's hand-written encodings
// (the directory's records and stream messages, the host's envelope):
// unsigned varints, strings and byte strings as a varint length and the
// bytes, booleans as a byte, and length-prefixed parts. A part's length
// is known, so a reader skips fields a later release appended to it and
// reads fields an earlier release had not yet written as zero: parts can
// grow between releases the way the codec's structs do.
//
// Written here rather than taken from a library: the encodings are a
// handful of fixed layouts on the hottest path (every registration and
// checkpoint), where a generic encoder's reflection cost more than the
// rest of the work (see registry/internal/directory/wire.go).
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is what a malformed encoding fails with.
var ErrMalformed = errors.New("malformed encoding")

// AppendString appends s, length first.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBytes appends p, length first.
func AppendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendBool appends v as a byte.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendPrefixed appends what body appends, prefixed with its length.
// The length is written in one byte first and moved if it needs more.
func AppendPrefixed(b []byte, body func([]byte) []byte) []byte {
	at := len(b)
	b = append(b, 0)
	b = body(b)
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b
	}
	var l [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(l[:], uint64(n))
	b = append(b, l[:k-1]...) // room for the longer prefix
	copy(b[at+k:], b[at+1:at+1+n])
	copy(b[at:], l[:k])
	return b
}

// Reader decodes. The first error sticks: every read after it returns
// a zero value, and End reports it.
type Reader struct {
	b   []byte
	err error
	// part: the bytes are a whole part (its length was known), so one
	// that ends at a field leaves that field and the rest zero.
	part bool
}

// NewReader reads b, which must hold exactly what is read (End fails on
// bytes left over, and on a read past its end).
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// NewPart reads b as a whole part (see Prefixed).
func NewPart(b []byte) *Reader { return &Reader{b: b, part: true} }

func (d *Reader) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	d.b = nil
}

// End reports the first error, or bytes left over, naming what was read.
func (d *Reader) End(what string) error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("bytes after the " + what)
	}
	if d.err != nil {
		return fmt.Errorf("decode %s: %w", what, d.err)
	}
	return nil
}

// Format reads a format byte and fails unless it is want.
func (d *Reader) Format(want byte) {
	if f := d.Byte(); f != want && d.err == nil {
		d.fail(fmt.Sprintf("format %d, want %d", f, want))
	}
}

// Byte reads a byte.
func (d *Reader) Byte() byte {
	if len(d.b) == 0 {
		if !d.part {
			d.fail("truncated")
		}
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// Bool reads a boolean.
func (d *Reader) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad boolean")
	return false
}

// Uvarint reads an unsigned varint.
func (d *Reader) Uvarint() uint64 {
	if len(d.b) == 0 && d.part {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Int reads a non-negative int of at most 2^31.
func (d *Reader) Int() int {
	v := d.Uvarint()
	if v > 1<<31 {
		d.fail("number out of range")
		return 0
	}
	return int(v)
}

// Count reads a number of elements of at least min bytes each: never
// more than the bytes left can hold, so a count cannot make a reader
// allocate beyond its input.
func (d *Reader) Count(min int) int {
	n := d.Int()
	if n > len(d.b)/min {
		d.fail("count beyond the bytes left")
		return 0
	}
	return n
}

// take returns the next n bytes (aliasing the input).
func (d *Reader) take(n int) []byte {
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// String reads a string.
func (d *Reader) String() string { return string(d.take(d.Count(1))) }

// Bytes reads a byte string into a copy (nil for an empty one): the
// input stays the caller's.
func (d *Reader) Bytes() []byte {
	p := d.take(d.Count(1))
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

// Shared reads a byte string that aliases the input (nil for an empty
// one): for a reader of a copy that is the reader's own.
func (d *Reader) Shared() []byte {
	p := d.take(d.Count(1))
	if len(p) == 0 {
		return nil
	}
	return p
}

// Prefixed reads a length-prefixed part with f: what f leaves of it (a
// later release's fields) is skipped, and fields past its end (an
// earlier release's part) read as zero.
func (d *Reader) Prefixed(f func(p *Reader)) {
	body := d.take(d.Count(1))
	if d.err != nil {
		return
	}
	p := NewPart(body)
	f(p)
	if p.err != nil {
		d.err = p.err
		d.b = nil
	}
}
