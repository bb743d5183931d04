package codec

import "testing"

type benchSmall struct {
	N    int64
	Name string
}

// BenchmarkSmall encodes and decodes a small struct, the size of most
// messages between processes.
func BenchmarkSmall(b *testing.B) {
	c := New()
	if err := Register[benchSmall](c, "bench.small"); err != nil {
		b.Fatal(err)
	}
	v := benchSmall{N: 42, Name: "room-7"}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			var err error
			if buf, err = c.Append(buf[:0], v); err != nil {
				b.Fatal(err)
			}
		}
	})
	enc, err := c.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Unmarshal(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
