package codec

import (
	"errors"
	"reflect"
	"testing"
)

type move struct {
	Person string
	Room   string
	Count  int
	Log    []string
}

type state struct {
	Name    string
	Members map[string]int
	Nested  *move
}

func newTest(t testing.TB) *Codec {
	t.Helper()
	c := New()
	if err := Register[move](c, "test.move"); err != nil {
		t.Fatal(err)
	}
	if err := c.Register("test.state", state{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	c := newTest(t)
	for _, v := range []any{
		nil, "ok", true, 42, int64(-7), uint64(1 << 63), 3.5, []byte{0, 1, 2}, []string{"a", "b"},
		move{Person: "person_1", Room: "room_2", Count: 3, Log: []string{"x"}},
		state{Name: "room_1", Members: map[string]int{"a": 1}, Nested: &move{Person: "p"}},
		// Pointer forms decode as pointers (TestPointerForms).
		&move{Person: "p", Count: 2}, (*move)(nil), &state{Name: "r"},
	} {
		b, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("marshal %#v: %v", v, err)
		}
		got, err := c.Unmarshal(b)
		if err != nil {
			t.Fatalf("unmarshal %#v: %v", v, err)
		}
		if !reflect.DeepEqual(got, v) || reflect.TypeOf(got) != reflect.TypeOf(v) {
			t.Fatalf("round trip %#v (%T) -> %#v (%T)", v, v, got, got)
		}
	}
}

// TestPointerForms: a registered T crosses as a T and a *T as a *T (a
// process handing off or replying with a pointer used to fail as
// unregistered; TestRoundTrip carries them); a pointer form's name has a
// '*'; a pointer type registered in its own right keeps its name.
func TestPointerForms(t *testing.T) {
	c := newTest(t)
	if n, ok := c.Name(&move{}); !ok || n != "*test.move" {
		t.Fatalf("Name(*move) = %q, %v", n, ok)
	}
	type explicit struct{ A int }
	if err := c.Register("test.explicit-ptr", &explicit{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Register("test.explicit", explicit{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Name(&explicit{}); n != "test.explicit-ptr" {
		t.Fatalf("Name of a pointer type registered in its own right = %q", n)
	}
	if _, err := c.Marshal(new(*move)); !errors.Is(err, ErrUnregistered) {
		t.Fatalf("marshal **move = %v, want ErrUnregistered", err)
	}
}

func TestErrors(t *testing.T) {
	c := newTest(t)
	type unknown struct{ A int }
	if _, err := c.Marshal(unknown{}); !errors.Is(err, ErrUnregistered) {
		t.Fatalf("marshal unregistered = %v", err)
	}
	if err := Register[move](c, "test.move.again"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("type registered twice = %v", err)
	}
	if err := Register[unknown](c, "test.move"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("name registered twice = %v", err)
	}
	other := New() // a node that lacks the registration
	b, _ := c.Marshal(move{Person: "p"})
	if _, err := other.Unmarshal(b); !errors.Is(err, ErrUnregistered) {
		t.Fatalf("unmarshal unknown tag = %v", err)
	}
	for _, bad := range [][]byte{nil, {0, 0}, {0, 0, 0, 0, 1}, append(append([]byte{}, b[:4]...), 0xff)} {
		if _, err := c.Unmarshal(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("unmarshal %x = %v; want ErrMalformed", bad, err)
		}
	}
	// A field the receiver does not know is skipped, or, strict, an
	// error.
	c2 := New()
	type moveV2 struct {
		Person, Room string
		Count        int
		Log          []string
		Extra        int
	}
	_ = Register[moveV2](c2, "test.move")
	b2, _ := c2.Marshal(moveV2{Person: "p", Extra: 1})
	v, err := c.Unmarshal(b2)
	if err != nil || v.(move).Person != "p" {
		t.Fatalf("unknown field: %v, %v; want it skipped", v, err)
	}
	strict := NewStrict()
	_ = Register[move](strict, "test.move")
	if _, err := strict.Unmarshal(b2); !errors.Is(err, ErrMalformed) {
		t.Fatalf("strict, unknown field = %v", err)
	}
	// A field the sender did not send keeps its zero value.
	b1, _ := c.Marshal(move{Person: "q", Count: 3})
	v, err = c2.Unmarshal(b1)
	if got, _ := v.(moveV2); err != nil || got.Person != "q" || got.Count != 3 || got.Extra != 0 {
		t.Fatalf("missing field: %v, %v", v, err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	c := newTest(f)
	for _, v := range []any{nil, "ok", 7, move{Person: "a", Log: []string{"b"}}, state{Members: map[string]int{"x": 1}}, &move{Person: "p"}, (*state)(nil)} {
		b, err := c.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xde, 0xad, 0xbe, 0xef})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := c.Unmarshal(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnregistered) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		// Whatever decodes re-encodes and decodes to the same value.
		b, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("decoded %#v but cannot re-encode: %v", v, err)
		}
		v2, err := c.Unmarshal(b)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("re-decode of %#v = %#v, %v", v, v2, err)
		}
	})
}
