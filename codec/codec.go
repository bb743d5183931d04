// Package codec encodes the messages and handed-off state that cross
// between nodes.
//
// A Codec turns a Go value of a registered type into bytes and back. The
// wire form is a 4-byte type tag (the FNV-1a hash of the name the type was
// registered under, the same on every node) followed by the value's
// encoding. The default encoding is CBOR (RFC 8949) through
// github.com/fxamacker/cbor, a library built for decoding untrusted input:
// nesting depth, array and map sizes are bounded and duplicate map keys
// are rejected, so bytes off the network cannot make the decoder allocate
// without limit or panic.
//
// Types change between releases, and during a rolling update nodes of
// both run side by side: by default a struct field the receiver does not
// know is skipped and one the sender did not send keeps its zero value,
// so a message or a handed-off state crosses between the two builds.
// NewStrict returns a codec that refuses unknown fields instead (for
// tests, or for a cluster that must never drop a field silently).
//
// A type made only of bools, integers, strings and byte slices, or a
// struct of those, is encoded and decoded without the library, by a plan
// made when it is registered, byte for byte as the library does (see
// fast.go): a small message costs a fraction of the library's time, and
// nodes with and without the plan agree on the wire.
//
// Register every type that crosses the network once, at startup, on every
// node, under the same name. A registered type T crosses in both forms: a
// T decodes as a T and a *T as a *T (the pointer form has a tag of its
// own), so a process may hand off or reply with either. Common scalar
// types are registered by New.
package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/fxamacker/cbor/v2"
)

var (
	// ErrUnregistered means a value's type, or a received type tag, is not
	// registered.
	ErrUnregistered = errors.New("type not registered")
	// ErrMalformed means bytes could not be decoded.
	ErrMalformed = errors.New("malformed encoding")
	// ErrDuplicate means a name or type was registered twice, or two names
	// share a tag.
	ErrDuplicate = errors.New("duplicate registration")
)

// Codec encodes and decodes registered types. Safe for concurrent use;
// register types before encoding or decoding them.
type Codec struct {
	mu  sync.Mutex // serialises registrations
	reg atomic.Pointer[registry]
	enc cbor.UserBufferEncMode
	dec cbor.DecMode
	// bufs are the buffers values are encoded into before they are
	// appended where the caller wants them.
	bufs sync.Pool
}

// registry is what is registered. Registrations copy it and swap the
// copy in, so that encoding and decoding, which happen for every message,
// read it without a lock.
type registry struct {
	byType map[reflect.Type]uint32 // registered types and the pointers to them
	byTag  map[uint32]entry        // pointer forms' entries have ptr set
}

// entryFor returns the entry of v's type, for encoding.
func (r *registry) entryFor(v any) (uint32, entry, bool) {
	tag, ok := r.byType[reflect.TypeOf(v)]
	if !ok {
		return 0, entry{}, false
	}
	return tag, r.byTag[tag], true
}

type entry struct {
	name string
	typ  reflect.Type // the registered type (for a pointer form, its element)
	ptr  bool         // the pointer form: decodes as *typ
	plan *plan        // typ's fast path (fast.go); nil: the library's
}

// Limits bound what the decoder accepts.
const (
	MaxNesting  = 32
	MaxElements = 1 << 20
)

// New returns a CBOR codec with the scalar types registered: string, bool,
// int, int64, uint64, float64, []byte, []string, and the nil value.
// Unknown struct fields are skipped.
func New() *Codec { return newCodec(false) }

// NewStrict returns a codec like New's that refuses a value with a struct
// field its type does not have (ErrMalformed).
func NewStrict() *Codec { return newCodec(true) }

func newCodec(strict bool) *Codec {
	extra := cbor.ExtraDecErrorNone
	if strict {
		extra = cbor.ExtraDecErrorUnknownField
	}
	encOpts := cbor.CoreDetEncOptions()
	encOpts.Time = cbor.TimeRFC3339Nano // keep sub-second times (the default drops them)
	enc, err := encOpts.UserBufferEncMode()
	if err != nil {
		panic(fmt.Sprintf("codec: cbor encoder options: %v", err)) // constant options
	}
	dec, err := cbor.DecOptions{
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxElements,
		MaxMapPairs:       MaxElements,
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		ExtraReturnErrors: extra,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("codec: cbor decoder options: %v", err)) // constant options
	}
	c := &Codec{enc: enc, dec: dec}
	c.bufs.New = func() any { return new(bytes.Buffer) }
	c.reg.Store(&registry{byType: map[reflect.Type]uint32{}, byTag: map[uint32]entry{}})
	for name, v := range map[string]any{
		"string": "", "bool": false, "int": 0, "int64": int64(0), "uint64": uint64(0),
		"float64": float64(0), "bytes": []byte(nil), "strings": []string(nil),
	} {
		if err := c.register(name, reflect.TypeOf(v)); err != nil {
			panic(err) // constant names
		}
	}
	return c
}

// Register registers the type of sample under name. Every node must
// register the same types under the same names.
func (c *Codec) Register(name string, sample any) error {
	if name == "" || sample == nil {
		return fmt.Errorf("codec: register: need a name and a non-nil sample")
	}
	return c.register(name, reflect.TypeOf(sample))
}

// Register registers T under name on c.
func Register[T any](c *Codec, name string) error {
	var zero T
	return c.register(name, reflect.TypeOf(&zero).Elem())
}

// register registers t under name and, unless t is a pointer, *t in its
// pointer form (tag of "*"+name). A pointer type registered explicitly
// replaces the pointer form of its element.
func (c *Codec) register(name string, t reflect.Type) error {
	tag := Tag(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.reg.Load()
	r := &registry{byType: maps.Clone(cur.byType), byTag: maps.Clone(cur.byTag)}
	if e, ok := r.byTag[tag]; ok {
		return fmt.Errorf("codec: register %q (%v): %w with %q (%v)", name, t, ErrDuplicate, e.name, e.typ)
	}
	if old, ok := r.byType[t]; ok && !r.byTag[old].ptr {
		return fmt.Errorf("codec: register %q: %w: type %v", name, ErrDuplicate, t)
	}
	var ptag uint32
	pt := reflect.PointerTo(t)
	if t.Kind() != reflect.Pointer {
		ptag = Tag("*" + name)
		if e, ok := r.byTag[ptag]; ok {
			return fmt.Errorf("codec: register %q (%v): %w: its pointer form's tag is %q's (%v)", name, t, ErrDuplicate, e.name, e.typ)
		}
		if _, ok := r.byType[pt]; ok {
			ptag = 0 // the pointer type is registered in its own right
		}
	}
	if old, ok := r.byType[t]; ok { // t is a pointer form so far
		delete(r.byTag, old)
	}
	r.byType[t] = tag
	r.byTag[tag] = entry{name: name, typ: t, plan: planFor(t)}
	if ptag != 0 {
		r.byType[pt] = ptag
		r.byTag[ptag] = entry{name: name, typ: t, ptr: true, plan: planFor(t)}
	}
	c.reg.Store(r)
	return nil
}

// Tag returns the wire tag of a registered name.
func Tag(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return h
}

// nilTag marks the nil value.
const nilTag = 0

// Marshal encodes v, whose type must be registered (or v nil).
func (c *Codec) Marshal(v any) ([]byte, error) {
	return c.Append(nil, v)
}

// Append appends the encoding of v to b.
func (c *Codec) Append(b []byte, v any) ([]byte, error) {
	if v == nil {
		return binary.BigEndian.AppendUint32(b, nilTag), nil
	}
	tag, e, ok := c.reg.Load().entryFor(v)
	if !ok {
		return nil, fmt.Errorf("codec: marshal %T: %w (register it on every node)", v, ErrUnregistered)
	}
	if e.plan != nil {
		rv := reflect.ValueOf(v)
		if e.ptr {
			rv = rv.Elem() // invalid if v is a nil pointer: the library's
		}
		if rv.IsValid() {
			return e.plan.encode(binary.BigEndian.AppendUint32(b, tag), rv), nil
		}
	}
	buf := c.bufs.Get().(*bytes.Buffer)
	defer c.bufs.Put(buf)
	buf.Reset()
	if err := c.enc.MarshalToBuffer(v, buf); err != nil {
		return nil, fmt.Errorf("codec: marshal %T: %w", v, err)
	}
	b = binary.BigEndian.AppendUint32(b, tag)
	return append(b, buf.Bytes()...), nil
}

// Unmarshal decodes a value encoded by Marshal on any node with the same
// registrations.
func (c *Codec) Unmarshal(b []byte) (any, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("codec: %w: %d bytes", ErrMalformed, len(b))
	}
	tag := binary.BigEndian.Uint32(b)
	if tag == nilTag {
		if len(b) != 4 {
			return nil, fmt.Errorf("codec: %w: bytes after nil", ErrMalformed)
		}
		return nil, nil
	}
	e, ok := c.reg.Load().byTag[tag]
	if !ok {
		return nil, fmt.Errorf("codec: unmarshal tag %#x: %w", tag, ErrUnregistered)
	}
	t := e.typ
	if e.ptr {
		t = reflect.PointerTo(t)
	}
	p := reflect.New(t)
	if e.plan != nil {
		v := p.Elem()
		if e.ptr {
			v.Set(reflect.New(e.typ))
			v = v.Elem()
		}
		if e.plan.decode(b[4:], v) {
			return p.Elem().Interface(), nil
		}
		p = reflect.New(t) // what the plan wrote is not the library's to see
	}
	if err := c.dec.Unmarshal(b[4:], p.Interface()); err != nil {
		return nil, fmt.Errorf("codec: unmarshal %s: %w: %v", e.name, ErrMalformed, err)
	}
	return p.Elem().Interface(), nil
}

// Name returns the name v's type is registered under (a pointer form's is
// its element's, with a '*' before it).
func (c *Codec) Name(v any) (string, bool) {
	r := c.reg.Load()
	tag, ok := r.byType[reflect.TypeOf(v)]
	if !ok {
		return "", false
	}
	if e := r.byTag[tag]; e.ptr {
		return "*" + e.name, true
	}
	return r.byTag[tag].name, true
}
