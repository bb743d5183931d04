package kubernetes_test

import (
	"fmt"

	"github.com/shoalhq/shoal/discovery"
	"github.com/shoalhq/shoal/discovery/kubernetes"
)

// A node configured by a spec string. New reads the kubeconfig but does
// not contact the API server; Discover would.
func ExampleFromSpec() {
	specs, err := discovery.ParseSpec("kubernetes:app=hp?namespace=shoal&mode=dns&interval=2s&kubeconfig=testdata/kubeconfig")
	if err != nil {
		panic(err)
	}
	s, err := kubernetes.FromSpec(specs[0], discovery.Defaults{ClusterPort: 7946})
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Name(), s.(discovery.Interval).Interval())
	// Output: kubernetes:app=hp@shoal(pods,dns) 2s
}

// EndpointSlices of a Service, built from a Config.
func ExampleNew() {
	cfg := kubernetes.DefaultConfig()
	cfg.Source = kubernetes.SourceEndpointSlices
	cfg.Service = "hp"
	cfg.Namespace = "shoal"
	cfg.Kubeconfig = "testdata/kubeconfig"
	s, err := kubernetes.New(cfg)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Name())
	// Output: kubernetes:kubernetes.io/service-name=hp@shoal(endpointslices,ip)
}
