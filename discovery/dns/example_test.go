package dns_test

import (
	"fmt"

	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/dns"
)

// A spec names the strategy; FromSpec builds it. The DNS name is only
// queried when the cluster calls Discover.
func ExampleFromSpec() {
	specs, err := discovery.ParseSpec("dns:hp-headless.default.svc.cluster.local?interval=10s; dnssrv:_cluster._tcp.hp-headless.default.svc.cluster.local")
	if err != nil {
		panic(err)
	}
	for _, sp := range specs {
		st, err := dns.FromSpec(sp, discovery.Defaults{ClusterPort: 7946})
		if err != nil {
			panic(err)
		}
		fmt.Println(st.Name(), st.(discovery.Interval).Interval())
	}
	// Output:
	// dns:hp-headless.default.svc.cluster.local:7946 10s
	// dnssrv:_cluster._tcp.hp-headless.default.svc.cluster.local 5s
}
