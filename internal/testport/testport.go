// Package testport hands tests loopback ports to give the servers they
// start, for tests that must name a port before the server binds it (a
// node told its peers' addresses, a command started with flags).
//
// A port from net.Listen(":0") is chosen from the kernel's ephemeral
// range, the same range outgoing connections take their local ports from:
// between the test freeing it and the server binding it, any connection
// in any test running in parallel may take it ("address already in use").
// These ports come from below that range (Linux starts it at 32768), at
// random, never the same twice in a process, and free for TCP and UDP
// when handed out.
package testport

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

const lo, hi = 20000, 32000

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Free returns a loopback port free for TCP and UDP, not handed out
// before in this process.
func Free(t testing.TB) int {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		p := lo + rand.IntN(hi-lo)
		if handed[p] {
			continue
		}
		handed[p] = true
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return p
	}
	t.Fatal("testport: no free port found in 1,000 tries")
	return 0
}
