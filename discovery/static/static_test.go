package static_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/static"
)

func TestFromSpec(t *testing.T) {
	d := discovery.Defaults{ClusterPort: 7946}
	for arg, want := range map[string][]string{
		"127.0.0.1:7946,127.0.0.1:7947": {"127.0.0.1:7946", "127.0.0.1:7947"},
		"10.0.0.2, 10.0.0.1":            {"10.0.0.1:7946", "10.0.0.2:7946"},
		"[fd00::1]:7000,[fd00::2]":      {"[fd00::1]:7000", "[fd00::2]:7946"},
		"a.example:1,a.example:1":       {"a.example:1"},
	} {
		specs, err := discovery.ParseSpec("static:" + arg + "?interval=1s")
		if err != nil {
			t.Fatal(err)
		}
		s, err := static.FromSpec(specs[0], d)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		got, err := s.Discover(context.Background())
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%s: discover = %v, %v; want %v", arg, got, err, want)
		}
		if s.Interval() != time.Second {
			t.Fatalf("interval %v", s.Interval())
		}
	}
	for _, bad := range []string{"static:", "static:h:0", "static:h:99999", "static:fd00::1", "static::7946", "static:h:1?colour=red"} {
		specs, err := discovery.ParseSpec(bad)
		if err != nil {
			continue
		}
		if _, err := static.FromSpec(specs[0], d); !errors.Is(err, discovery.ErrInvalidSpec) {
			t.Errorf("%s: %v; want ErrInvalidSpec", bad, err)
		}
	}
}
