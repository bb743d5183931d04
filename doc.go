// Package shoal is the root of Shoal: a Go runtime for clusters of nodes
// that keep a registry of named, stateful processes.
//
// The pieces, each its own package:
//
//   - process: the process runtime. A process is a Go value with private
//     state and a mailbox, created from a Spec (kind + arguments) through a
//     Kinds table; it handles calls, casts, infos and timers one at a time.
//     Idle processes hold no goroutine.
//   - registry: names to processes, idempotent registration, groups,
//     publish and multi-call.
//   - houseparty and houseparty/httpapi: the demo application.
//
// A walkthrough:
//
//	kinds := process.NewKinds()
//	kinds.Register("counter", newCounter)          // on every node, at startup
//	rt, _ := process.NewRuntime(process.Config{Node: "app@10.0.0.1"}, kinds)
//	reg, _ := registry.New(registry.DefaultConfig(), rt)
//	reg.Register(ctx, "counter-1", process.Spec{Kind: "counter"})
//	reply, err := reg.Call(ctx, "counter-1", "get")
//
// Clustering (membership, discovery, secured links), placement on a hash
// ring and handoff between nodes build on these same APIs.
package shoal
