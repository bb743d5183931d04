package codec

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// The fast path. Most messages between processes are small structs of
// scalar fields, or scalars; the general CBOR library spends some 250 ns
// decoding one (a validation pass, then a reflective walk matching keys
// to fields), which was most of a remote cast's cost on its receiving
// node. For a type made only of what this file knows (bool, integers,
// strings, byte slices, and structs of those with no tags, no embedded
// fields and no custom marshalling) the codec keeps a plan made at
// registration, and encodes and decodes with it.
//
// The plan writes the same bytes as the library (Core Deterministic
// Encoding: shortest integers and lengths, map keys in bytewise order,
// nil byte slices as null), so nodes with and without it agree on the
// wire. It decodes only that canonical form, exactly: anything else (an
// unknown or repeated key, another type, a longer integer encoding, an
// indefinite length, trailing bytes, invalid UTF-8) goes to the library,
// which decodes it or returns its error. So the plan never accepts what
// the library would refuse, nor decodes a value differently; the fuzz
// test FuzzFastMatchesLibrary holds it to that.

// plan encodes and decodes one type without the library.
type plan struct {
	kind   reflect.Kind // reflect.Struct, or the scalar's kind
	fields []planField  // a struct's exported fields, in wire order
}

// planField is one field of a struct plan.
type planField struct {
	index int
	kind  reflect.Kind
	key   []byte // the field's name encoded as a CBOR text string
}

var (
	typeCBORMarshaler   = reflect.TypeFor[cbor.Marshaler]()
	typeCBORUnmarshaler = reflect.TypeFor[cbor.Unmarshaler]()
	typeBinMarshaler    = reflect.TypeFor[encoding.BinaryMarshaler]()
	typeBinUnmarshaler  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	typeTextMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	typeTextUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// custom reports whether t, or *t, marshals itself in a way the library
// honours.
func custom(t reflect.Type) bool {
	for _, i := range []reflect.Type{typeCBORMarshaler, typeCBORUnmarshaler, typeBinMarshaler, typeBinUnmarshaler, typeTextMarshaler, typeTextUnmarshaler} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			return true
		}
	}
	return false
}

// scalar reports whether a value of t is one the plan encodes itself.
func scalar(t reflect.Type) bool {
	if custom(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8 && !custom(t.Elem())
	}
	return false
}

// planFor returns t's plan, or nil if the library must do it.
func planFor(t reflect.Type) *plan {
	if scalar(t) {
		return &plan{kind: t.Kind()}
	}
	if t.Kind() != reflect.Struct || custom(t) {
		return nil
	}
	p := &plan{kind: reflect.Struct}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || f.Tag != "" {
			return nil // embedding and tags change names and rules
		}
		if !f.IsExported() {
			continue // neither side sees it
		}
		if !scalar(f.Type) {
			return nil
		}
		p.fields = append(p.fields, planField{index: i, kind: f.Type.Kind(), key: appendText(nil, f.Name)})
	}
	slices.SortFunc(p.fields, func(a, b planField) int { return bytes.Compare(a.key, b.key) })
	return p
}

// CBOR's major types and the simple values the plan uses.
const (
	majorUint  = 0
	majorNeg   = 1
	majorBytes = 2
	majorText  = 3
	majorMap   = 5
	cborFalse  = 0xf4
	cborTrue   = 0xf5
	cborNull   = 0xf6
)

// appendHead appends a head of the major type with argument n, in its
// shortest form.
func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

func appendText(b []byte, s string) []byte {
	return append(appendHead(b, majorText, uint64(len(s))), s...)
}

// encode appends v (of the plan's type) to b.
func (p *plan) encode(b []byte, v reflect.Value) []byte {
	if p.kind != reflect.Struct {
		return appendScalar(b, v)
	}
	b = appendHead(b, majorMap, uint64(len(p.fields)))
	for _, f := range p.fields {
		b = appendScalar(append(b, f.key...), v.Field(f.index))
	}
	return b
}

func appendScalar(b []byte, v reflect.Value) []byte {
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return append(b, cborTrue)
		}
		return append(b, cborFalse)
	case reflect.String:
		return appendText(b, v.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := v.Int(); n < 0 {
			return appendHead(b, majorNeg, uint64(-1-n))
		} else {
			return appendHead(b, majorUint, uint64(n))
		}
	case reflect.Slice:
		if v.IsNil() {
			return append(b, cborNull)
		}
		return append(appendHead(b, majorBytes, uint64(v.Len())), v.Bytes()...)
	default: // the unsigned kinds
		return appendHead(b, majorUint, v.Uint())
	}
}

// decode decodes b into v (settable, of the plan's type, zero); false if
// b is not what encode writes, for the library to judge.
func (p *plan) decode(b []byte, v reflect.Value) bool {
	if p.kind != reflect.Struct {
		rest, ok := decodeScalar(b, v)
		return ok && len(rest) == 0
	}
	n, b, ok := head(b, majorMap)
	if !ok || n > uint64(len(p.fields)) {
		return false
	}
	var seen uint64 // fields decoded; more than 64 fields: no repeat check needed past 64
	next := 0       // keys come in wire order: each after the last
	for range n {
		i := next
		for i < len(p.fields) && !bytes.HasPrefix(b, p.fields[i].key) {
			i++
		}
		if i == len(p.fields) {
			return false // unknown, repeated or out of order
		}
		if i < 64 {
			if seen&(1<<i) != 0 {
				return false
			}
			seen |= 1 << i
		}
		f := p.fields[i]
		if b, ok = decodeScalar(b[len(f.key):], v.Field(f.index)); !ok {
			return false
		}
		next = i + 1
	}
	return len(b) == 0
}

// head reads a head of the given major type in its shortest form.
func head(b []byte, major byte) (n uint64, rest []byte, ok bool) {
	if len(b) == 0 || b[0]>>5 != major {
		return 0, nil, false
	}
	info := b[0] & 0x1f
	switch {
	case info < 24:
		return uint64(info), b[1:], true
	case info == 24 && len(b) >= 2 && b[1] >= 24:
		return uint64(b[1]), b[2:], true
	case info == 25 && len(b) >= 3:
		n = uint64(binary.BigEndian.Uint16(b[1:]))
		return n, b[3:], n > math.MaxUint8
	case info == 26 && len(b) >= 5:
		n = uint64(binary.BigEndian.Uint32(b[1:]))
		return n, b[5:], n > math.MaxUint16
	case info == 27 && len(b) >= 9:
		n = binary.BigEndian.Uint64(b[1:])
		return n, b[9:], n > math.MaxUint32
	}
	return 0, nil, false
}

// decodeScalar decodes one value of v's kind from the front of b.
func decodeScalar(b []byte, v reflect.Value) (rest []byte, ok bool) {
	switch v.Kind() {
	case reflect.Bool:
		if len(b) == 0 || (b[0] != cborTrue && b[0] != cborFalse) {
			return nil, false
		}
		v.SetBool(b[0] == cborTrue)
		return b[1:], true
	case reflect.String:
		n, b, ok := head(b, majorText)
		if !ok || n > uint64(len(b)) || !utf8.Valid(b[:n]) {
			return nil, false
		}
		v.SetString(string(b[:n]))
		return b[n:], true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if len(b) == 0 {
			return nil, false
		}
		neg := b[0]>>5 == majorNeg
		major := byte(majorUint)
		if neg {
			major = majorNeg
		}
		n, b, ok := head(b, major)
		if !ok || n > math.MaxInt64 {
			return nil, false
		}
		x := int64(n)
		if neg {
			x = -1 - x
		}
		if v.OverflowInt(x) {
			return nil, false
		}
		v.SetInt(x)
		return b, true
	case reflect.Slice:
		if len(b) > 0 && b[0] == cborNull {
			return b[1:], true // nil, as it is
		}
		n, b, ok := head(b, majorBytes)
		if !ok || n > uint64(len(b)) {
			return nil, false
		}
		v.SetBytes(append(make([]byte, 0, n), b[:n]...))
		return b[n:], true
	default: // the unsigned kinds
		n, b, ok := head(b, majorUint)
		if !ok || v.OverflowUint(n) {
			return nil, false
		}
		v.SetUint(n)
		return b, true
	}
}
