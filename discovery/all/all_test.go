package all_test

import (
	"errors"
	"testing"

	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/all"
)

func TestParse(t *testing.T) {
	c, _ := cookie.Parse("a-cookie-of-sufficient-length")
	n := all.Node{Defaults: discovery.Defaults{ClusterPort: 7946}, Self: "127.0.0.1:7946", Cookie: c}
	got, err := all.Parse("static:127.0.0.1:7946,127.0.0.1:7947;dns:hp.default.svc.cluster.local;dnssrv:_cluster._tcp.hp.default.svc.cluster.local;gossip", n)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d strategies", len(got))
	}
	for _, s := range got {
		if s.Name() == "" {
			t.Fatalf("strategy %T has no name", s)
		}
	}
	k, err := all.Parse("kubernetes:app=hp?namespace=default&kubeconfig=../kubernetes/testdata/kubeconfig", n)
	if err != nil || len(k) != 1 {
		t.Fatalf("kubernetes = %v, %v", k, err)
	}
	if got, err := all.Parse("", n); err != nil || len(got) != 0 {
		t.Fatalf("empty spec = %v, %v", got, err)
	}
	if _, err := all.Parse("carrier-pigeon:coop", n); !errors.Is(err, discovery.ErrInvalidSpec) {
		t.Fatalf("unknown strategy = %v", err)
	}
}
