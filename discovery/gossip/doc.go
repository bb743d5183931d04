// Package gossip discovers peers on the local network segment by UDP
// multicast, like libcluster's Gossip strategy, but authenticated and
// encrypted with a key derived from the cluster cookie.
//
// Every node multicasts a heartbeat each interval announcing its own
// cluster address (the "host:port" it advertises for membership) and
// listens on the same group. Discover returns the addresses heard from
// within the last three intervals, excluding the node's own, sorted. The
// strategy only proposes candidates; the cluster joins them and its
// membership layer decides who is actually a member.
//
// # Spec
//
//	gossip[:GROUP:PORT][?interval=5s&if=IFACE&ttl=1]
//
// GROUP is an IPv4 multicast group and PORT its UDP port, both together;
// the default is 230.1.1.251:45892, libcluster's defaults (a libcluster
// node on the same group is ignored: its packets lack our magic prefix).
// Options:
//
//   - interval: heartbeat and polling interval (Go duration, at least
//     100ms; default 5s). A peer is forgotten three intervals after its last
//     heartbeat.
//   - if: name of the network interface to join the group on and send from
//     (default: the one the kernel routes 224.0.0.0/4 through).
//   - ttl: multicast TTL, 0..255 (default 1: the packets never cross a
//     router; 0 keeps them on this host).
//
// Examples: "gossip", "gossip:239.7.7.7:7000?if=eth0&interval=2s".
//
// # Lifecycle
//
// New (or FromSpec) only validates the configuration; it opens nothing.
// Start opens the sockets, joins the group and starts two goroutines (one
// sends heartbeats, one receives them); Close stops both and waits for
// them. Discover reports ErrNotStarted before Start and ErrClosed after
// Close. Heartbeats are sent with multicast loopback enabled so several
// nodes on one host find each other. On Linux the receiving socket takes
// only its own group's datagrams (IP_MULTICAST_ALL off), so clusters on
// different groups that share a port stay apart.
//
// # Wire format and security
//
// A packet is
//
//	"SHMC" | version (1 byte, = 1) | nonce (12 bytes) | AES-256-GCM(plaintext)
//
// where the plaintext is the sender's wall-clock time (int64 Unix
// nanoseconds, big-endian) followed by its cluster address, and the magic
// and version are authenticated as additional data. The key is
// cookie.Key(cookie.PurposeMulticast, 32); the cookie itself never leaves
// the node, and the nonce is fresh from crypto/rand for every packet.
//
// What this gives:
//
//   - Authenticity and integrity: only a holder of the cookie can produce a
//     packet that is accepted. A packet that fails authentication (another
//     cookie, or tampering) is dropped and logged at warn level once per
//     source IP address; a packet that is not a Shoal heartbeat at all is
//     dropped with a debug log.
//   - Confidentiality of the announced address: an eavesdropper without
//     the cookie sees only that some Shoal node on that source IP is
//     heartbeating, and the packet length.
//   - Limited replay: a packet stamped more than MaxAge (default 30s) in the
//     past or more than MaxSkew (default 5s) in the future is rejected, and
//     a peer's liveness is only refreshed by a timestamp newer than the last
//     one accepted from it, so a replayed or reordered packet cannot keep a
//     departed peer alive. This depends on roughly synchronised clocks.
//
// What it does not give: any cookie holder may announce any address (the
// announced address is not bound to the packet's source IP); a flood of
// packets costs one AES-GCM open each; packet timing and size are visible.
// None of this admits a node to the cluster, which authenticates members
// separately.
package gossip
