// Package kubernetes is the discovery strategy for nodes running as pods in
// a Kubernetes cluster (libcluster's Kubernetes strategy): every interval it
// lists the pods matching a label selector, or the EndpointSlices of a
// Service, in one namespace and reports the cluster addresses of the ones
// that are running and not terminating, Ready or not. It reads only; it
// never watches, dials or resolves what it finds.
//
// # Spec
//
//	kubernetes:LABEL_SELECTOR[?OPTIONS]
//
// LABEL_SELECTOR is a Kubernetes label selector ("app=hp", "app=hp,tier!=db",
// "app in (hp,hp-canary)"); the spec grammar splits options at '&' only, so
// ',' and '=' are safe inside it. Options:
//
//	namespace=NS          namespace to list in; default: the pod's own namespace
//	                      (the service-account namespace file, then $POD_NAMESPACE,
//	                      then the kubeconfig context's namespace, then "default")
//	source=pods           pods matching the selector that are Running, not being
//	                      deleted and have a pod IP, Ready or not (default)
//	source=endpointslices endpoints whose conditions.terminating is not true, ready
//	                      or not, from the EndpointSlices matching the selector
//	service=NAME          with source=endpointslices: the slices of Service NAME
//	                      (label kubernetes.io/service-name=NAME, ANDed with the
//	                      selector if one is given; slices carry their Service's
//	                      labels, not the pods')
//	mode=ip               POD_IP:PORT (default; IPv6 in brackets)
//	mode=dns              A-B-C-D.NS.pod.CLUSTER_DOMAIN:PORT (pod DNS name; IPv6
//	                      colons become dashes too)
//	mode=hostname         HOSTNAME.SUBDOMAIN.NS.svc.CLUSTER_DOMAIN:PORT from the pod's
//	                      spec.hostname and spec.subdomain (a headless Service's
//	                      records, as a StatefulSet gets); pods without a hostname
//	                      are skipped and logged once
//	subdomain=SVC         with mode=hostname: the subdomain to use instead of the
//	                      pod's spec.subdomain (for EndpointSlices the default is
//	                      the slice's Service)
//	port=7946             cluster port of the peers; default: this node's
//	                      (discovery.Defaults.ClusterPort)
//	cluster_domain=D      default cluster.local
//	kubeconfig=PATH       credentials from this kubeconfig file (see below)
//	interval=5s           polling interval
//
// Unknown options are errors.
//
// # Not only Ready pods
//
// A node is Ready (its readiness probe answers 200) once it has joined the
// peers discovery found and holds the cluster's registrations. If
// discovery reported only Ready pods, the pods of a fresh Deployment would
// each find no peer, each be Ready alone, and form separate one-node
// clusters that merge later like the two sides of a healed netsplit. So a
// pod is a peer as soon as it runs with an IP; a peer whose node does not
// listen yet only costs a failed join, and discovery asks again. Pods being
// deleted (deletionTimestamp set, or an endpoint's terminating condition)
// are leaving and are not reported; neither are Failed or Succeeded pods,
// nor, with source=pods, Pending ones.
//
// A selector that matches nothing is not an
// error: Discover returns an empty list (the first pod of a deployment has
// no peers yet), and the cluster keeps polling.
//
// # Credentials
//
// In order: Config.Kubeconfig (the kubeconfig= option) when set; else the
// pod's service account (rest.InClusterConfig) when running in a pod; else
// the kubeconfig files named by $KUBECONFIG, or ~/.kube/config. Neither
// found is ErrNoCredentials from New.
//
// The identity needs only this Role in the namespace, bound to the pod's
// ServiceAccount with a RoleBinding (get and watch are not used today but
// are harmless and leave room for a watch):
//
//	rules:
//	- apiGroups: [""]
//	  resources: [pods]
//	  verbs: [get, list, watch]
//	- apiGroups: [discovery.k8s.io]
//	  resources: [endpointslices]
//	  verbs: [get, list, watch]
//
// Without it Discover fails with an error wrapping ErrForbidden that names
// the verb, resource, API group and namespace, so the cluster's log shows
// one line saying what to grant. A rejected token is ErrUnauthorized; any
// other API failure is ErrAPI.
//
// # Walkthrough
//
//	specs, _ := discovery.ParseSpec("kubernetes:app=hp?namespace=shoal&port=7946")
//	s, err := kubernetes.FromSpec(specs[0], discovery.Defaults{ClusterPort: 7946})
//	// s.Name() == "kubernetes:app=hp@shoal(pods,ip)"
//	addrs, err := s.Discover(ctx) // ["10.1.0.7:7946", "10.1.3.2:7946"]
//
// Or, from Go, with the Config directly:
//
//	cfg := kubernetes.DefaultConfig()
//	cfg.Selector = "app=hp"
//	cfg.Kubeconfig = "/path/to/kubeconfig"
//	s, err := kubernetes.New(cfg)
//
// # Module
//
// This package is the module github.com/shoalhq/shoal/discovery/kubernetes,
// apart from the library's, because it needs k8s.io/client-go: only the
// programs that import it pull the Kubernetes modules.
package kubernetes
