// Package shoal is Shoal's front door: one call starts a node of a
// cluster that keeps a registry of named, stateful processes.
//
//	node, err := shoal.Start(ctx, shoal.Config{
//		Name:   "sessions@10.0.0.7",           // unique in the cluster
//		Secret: os.Getenv("SESSIONS_SECRET"),  // the same on every node
//		Addr:   "10.0.0.7", Port: 7946,
//		Join:   []string{"10.0.0.5:7946"},     // or Discovery: DNS, Kubernetes, ...
//		Kinds:  kinds,                         // the process kinds, the same on every node
//	})
//	defer node.Stop(context.Background())  // drain, leave, stop
//	err = node.WaitReady(ctx)
//	_, err = node.Register(ctx, "session-42", process.Spec{Kind: "session"})
//	reply, err := node.Call(ctx, "session-42", Get{})
//
// Start checks the Config (an error names the field), then starts the
// parts in the order they need each other: the process runtime (package
// process), the links to other nodes (remote, over transport), membership
// with failure detection and discovery (cluster, discovery/...), and the
// cluster-wide registry (registry). Stop undoes it gracefully: every
// process is handed with its state to the nodes that stay, then the node
// leaves and stops, each step within its own budget. The parts stay
// reachable (Node.Runtime, Node.Registry, Node.Cluster, Node.Remote) for
// what the front door does not wrap.
//
// The other packages:
//
//   - process: the process runtime. A process is a Go value with private
//     state and a mailbox, created from a Spec (kind + arguments) through a
//     Kinds table; it handles calls, casts, infos and timers one at a time.
//     Idle processes hold no goroutine.
//   - registry: names to processes across the cluster, placed by a hash
//     ring, replicated, handed off when nodes come and go; groups,
//     publish and multi-call.
//   - codec: the wire form of the messages and states that cross nodes.
//   - cluster, transport, cookie, discovery: membership, authenticated
//     links, the shared secret, and the ways nodes find each other.
//     Kubernetes discovery (discovery/kubernetes) and discovery/all are
//     modules of their own, so that client-go reaches only the programs
//     that import them.
//   - clustertest: in-process clusters on loopback for tests.
//   - houseparty and cmd/houseparty: the demo application.
package shoal
