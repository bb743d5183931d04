package gossip_test

import (
	"fmt"

	"github.com/shoalhq/shoal/cookie"
	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/gossip"
)

// A node configured by spec. In a real node the cluster then calls
// Start(ctx), polls Discover every Interval, and calls Close on shutdown.
func ExampleFromSpec() {
	specs, err := discovery.ParseSpec("gossip?interval=2s&ttl=1")
	if err != nil {
		panic(err)
	}
	c, err := cookie.Parse("a cluster secret of at least 16 bytes")
	if err != nil {
		panic(err)
	}
	s, err := gossip.FromSpec(specs[0], discovery.Defaults{}, "10.0.0.1:7946", c)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(s.Name(), s.Interval())
	// Output: gossip:230.1.1.251:45892 2s
}
