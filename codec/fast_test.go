package codec

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// fastAll has a field of every kind the fast path knows.
type fastAll struct {
	B   bool
	I   int
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	U   uint
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	S   string
	Bs  []byte
	AB  int // keys that differ by case only
	Ab  int
	n   int //nolint:unused // unexported: on neither side of the wire
}

type (
	fastName   string
	fastTagged struct {
		N int `cbor:"n"`
	}
	fastEmbed  struct{ fastAll }
	fastNested struct{ T time.Time }
	fastText   struct{ N textInt }
	textInt    int
)

func (t textInt) MarshalText() ([]byte, error) { return []byte("x"), nil }
func (t *textInt) UnmarshalText([]byte) error  { return nil }

// fastTypes are the types the differential tests run on.
var fastTypes = []reflect.Type{
	reflect.TypeFor[fastAll](), reflect.TypeFor[int64](), reflect.TypeFor[int8](), reflect.TypeFor[uint16](),
	reflect.TypeFor[string](), reflect.TypeFor[fastName](), reflect.TypeFor[[]byte](), reflect.TypeFor[bool](),
	reflect.TypeFor[struct{}](),
}

func TestFastPlanChoice(t *testing.T) {
	for _, ty := range fastTypes {
		if planFor(ty) == nil {
			t.Errorf("%v: no fast plan", ty)
		}
	}
	for _, ty := range []reflect.Type{
		reflect.TypeFor[fastTagged](), reflect.TypeFor[fastEmbed](), reflect.TypeFor[fastNested](),
		reflect.TypeFor[fastText](), reflect.TypeFor[textInt](), reflect.TypeFor[float64](),
		reflect.TypeFor[[]string](), reflect.TypeFor[*fastAll](), reflect.TypeFor[time.Time](),
	} {
		if planFor(ty) != nil {
			t.Errorf("%v: a fast plan, want the library's", ty)
		}
	}
}

// checkSameAsLibrary encodes v with its plan and with the library: the
// bytes must be the same, and decode back to v both ways.
func checkSameAsLibrary(t *testing.T, c *Codec, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	p := planFor(rv.Type())
	got := p.encode(nil, rv)
	want, err := c.enc.Marshal(v)
	if err != nil {
		t.Fatalf("library: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%T %+v: plan wrote %x, the library %x", v, v, got, want)
	}
	checkDecodeSame(t, c, rv.Type(), got)
}

// checkDecodeSame decodes b with the plan of ty and, if the plan takes
// it, with the library: both must give the same value.
func checkDecodeSame(t *testing.T, c *Codec, ty reflect.Type, b []byte) (planned bool) {
	t.Helper()
	fast := reflect.New(ty).Elem()
	if !planFor(ty).decode(b, fast) {
		return false
	}
	lib := reflect.New(ty)
	if err := c.dec.Unmarshal(b, lib.Interface()); err != nil {
		t.Fatalf("%v from %x: the plan decoded %+v, the library refused: %v", ty, b, fast, err)
	}
	if !reflect.DeepEqual(fast.Interface(), lib.Elem().Interface()) {
		t.Fatalf("%v from %x: the plan decoded %#v, the library %#v", ty, b, fast, lib.Elem())
	}
	return true
}

func TestFastSameAsLibrary(t *testing.T) {
	c := New()
	ints := []int64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -24, -25, -256, -257, -65537, math.MinInt32, math.MinInt64}
	for _, n := range ints {
		checkSameAsLibrary(t, c, n)
		checkSameAsLibrary(t, c, fastAll{I: int(n), I64: n, U64: uint64(n), U: uint(n), I8: int8(n), U8: uint8(n), U16: uint16(n), I32: int32(n), U32: uint32(n)})
	}
	checkSameAsLibrary(t, c, uint64(math.MaxUint64))
	for _, s := range []string{"", "a", "room-7", string(make([]byte, 23)), string(make([]byte, 24)), string(make([]byte, 300)), "ünïcödé"} {
		checkSameAsLibrary(t, c, s)
		checkSameAsLibrary(t, c, fastName(s))
		checkSameAsLibrary(t, c, fastAll{S: s, Bs: []byte(s)})
	}
	checkSameAsLibrary(t, c, []byte(nil))
	checkSameAsLibrary(t, c, []byte{})
	checkSameAsLibrary(t, c, true)
	checkSameAsLibrary(t, c, fastAll{B: true, AB: 1, Ab: 2})
	checkSameAsLibrary(t, c, struct{}{})

	// Invalid UTF-8 encodes as the library does, and decodes as it does:
	// refused.
	checkSameAsLibrary(t, c, fastAll{})
	bad := planFor(reflect.TypeFor[string]()).encode(nil, reflect.ValueOf("\xff"))
	if checkDecodeSame(t, c, reflect.TypeFor[string](), bad) {
		t.Fatal("the plan decoded invalid UTF-8")
	}
}

// TestFastLeavesTheRestToTheLibrary: what the plan does not take, the
// codec still decodes, or refuses, as the library does.
func TestFastLeavesTheRestToTheLibrary(t *testing.T) {
	c := New()
	if err := Register[fastAll](c, "fast.all"); err != nil {
		t.Fatal(err)
	}
	tag := Tag("fast.all")
	frame := func(body ...byte) []byte { return append(appendUint32(tag), body...) }
	for _, tc := range []struct {
		name string
		body []byte
		want any   // the value, or
		err  error // the error
	}{
		{"lower-case key", []byte{0xa1, 0x61, 'i', 0x05}, fastAll{I: 5}, nil},
		{"long integer form", []byte{0xa1, 0x61, 'I', 0x18, 0x05}, fastAll{I: 5}, nil},
		{"keys out of order", []byte{0xa2, 0x61, 'U', 0x01, 0x61, 'I', 0x02}, fastAll{I: 2, U: 1}, nil},
		{"unknown key", []byte{0xa2, 0x61, 'I', 0x02, 0x61, 'Z', 0x01}, fastAll{I: 2}, nil},
		{"repeated key", []byte{0xa2, 0x61, 'I', 0x02, 0x61, 'I', 0x03}, nil, ErrMalformed},
		{"overflow", []byte{0xa1, 0x62, 'I', '8', 0x19, 0x01, 0x00}, nil, ErrMalformed},
		{"wrong type", []byte{0xa1, 0x61, 'S', 0x01}, nil, ErrMalformed},
		{"trailing bytes", []byte{0xa1, 0x61, 'I', 0x01, 0x00}, nil, ErrMalformed},
		{"cut short", []byte{0xa2, 0x61, 'I', 0x01}, nil, ErrMalformed},
	} {
		got, err := c.Unmarshal(frame(tc.body...))
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v, %v; want %#v", tc.name, got, err, tc.want)
		}
	}
	strict := NewStrict()
	if err := Register[fastAll](strict, "fast.all"); err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Unmarshal(frame(0xa1, 0x61, 'Z', 0x01)); !errors.Is(err, ErrMalformed) {
		t.Errorf("strict, unknown key: %v, want ErrMalformed", err)
	}
	// The pointer form, and a nil pointer, which the plan leaves alone.
	for _, v := range []any{&fastAll{I: 7, S: "x"}, (*fastAll)(nil)} {
		b, err := c.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Unmarshal(b)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%#v: back as %#v, %v", v, got, err)
		}
	}
}

func appendUint32(n uint32) []byte {
	return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// FuzzFastMatchesLibrary decodes bytes with each type's plan and, where
// the plan takes them, with the library: the values must be the same;
// and it encodes values made of the input both ways: the bytes must be.
func FuzzFastMatchesLibrary(f *testing.F) {
	c := New()
	for _, v := range []any{fastAll{I: -3, S: "a", Bs: []byte{1}}, int64(300), "room", []byte(nil), true} {
		rv := reflect.ValueOf(v)
		f.Add(planFor(rv.Type()).encode(nil, rv), int64(-7), uint64(1<<40), "x", []byte("y"), true)
	}
	f.Add([]byte{0xa1, 0x61, 'I', 0x18, 0x05}, int64(math.MinInt64), uint64(math.MaxUint64), "\xff", []byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, i int64, u uint64, s string, bs []byte, flag bool) {
		for _, ty := range fastTypes {
			checkDecodeSame(t, c, ty, data)
		}
		checkSameAsLibrary(t, c, fastAll{B: flag, I: int(i), I8: int8(i), I16: int16(i), I32: int32(i), I64: i,
			U: uint(u), U8: uint8(u), U16: uint16(u), U32: uint32(u), U64: u, S: s, Bs: bs, AB: int(i >> 3)})
		checkSameAsLibrary(t, c, fastName(s))
		checkSameAsLibrary(t, c, bs)
	})
}
