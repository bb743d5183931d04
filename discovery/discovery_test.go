package discovery_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoalhq/shoal/discovery"
)

func TestParseSpec(t *testing.T) {
	specs, err := discovery.ParseSpec("static:127.0.0.1:7946,127.0.0.1:7947; dns:hp.default.svc?interval=2s ;kubernetes:app=hp,tier=web?namespace=ns&mode=ip;")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 3 {
		t.Fatalf("got %d specs", len(specs))
	}
	if specs[0].Name != "static" || specs[0].Arg != "127.0.0.1:7946,127.0.0.1:7947" {
		t.Fatalf("static = %+v", specs[0])
	}
	d, err := specs[1].TakeInterval(time.Second)
	if err != nil || d != 2*time.Second || specs[1].Arg != "hp.default.svc" {
		t.Fatalf("dns = %+v, %v, %v", specs[1], d, err)
	}
	if specs[2].Arg != "app=hp,tier=web" || specs[2].Options["namespace"] != "ns" || specs[2].Options["mode"] != "ip" {
		t.Fatalf("kubernetes = %+v", specs[2])
	}
	k := specs[2]
	k.Take("namespace")
	if err := k.Done(); !errors.Is(err, discovery.ErrInvalidSpec) {
		t.Fatalf("untaken option not reported: %v", err)
	}
	for _, bad := range []string{":x", "dns:a?interval", "dns:a?x=1&x=2", "dns:a?=v"} {
		if _, err := discovery.ParseSpec(bad); !errors.Is(err, discovery.ErrInvalidSpec) {
			t.Errorf("ParseSpec(%q) = %v; want ErrInvalidSpec", bad, err)
		}
	}
	sp := discovery.Spec{Name: "dns", Options: map[string]string{"interval": "5ms"}}
	if _, err := sp.TakeInterval(time.Second); !errors.Is(err, discovery.ErrInvalidSpec) {
		t.Fatalf("tiny interval accepted: %v", err)
	}
}
