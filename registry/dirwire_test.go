package registry

import (
	"reflect"
	"testing"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/registry/internal/directory"
)

// TestDirWireRoundTrip: the envelope crosses the codec whole, empty or
// with bodies, and a cut one is refused.
func TestDirWireRoundTrip(t *testing.T) {
	c := codec.New()
	if err := RegisterTypes(c); err != nil {
		t.Fatal(err)
	}
	from, to := directory.NodeID{Name: "node-a", Inc: 1 << 62}, directory.NodeID{Name: "b", Inc: 3}
	for _, w := range []dirWire{
		{From: from, To: to, Shape: [2]int{1024, 1}},
		{From: from, To: to, Shape: [2]int{8, 2}, Bodies: [][]byte{{1}, make([]byte, 300), {2, 3}}},
	} {
		b, err := c.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Unmarshal(b)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("round trip: %v: %+v, want %+v", err, got, w)
		}
		raw, _ := w.MarshalBinary()
		for cut := range len(raw) {
			var g dirWire
			if g.UnmarshalBinary(raw[:cut]) == nil {
				t.Fatalf("cut at %d of %d bytes decoded", cut, len(raw))
			}
		}
	}
}
