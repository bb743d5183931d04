package shoal_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/shoalhq/shoal/internal/syncbuf"

	"github.com/shoalhq/shoal"
	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/discovery"
)

type discoveryStrategy = discovery.Strategy

// never is a discovery strategy whose first round never ends.
type never struct{}

func (never) Name() string { return "never" }
func (never) Discover(ctx context.Context) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// freeAddr returns a loopback address nobody listens on (a port just
// freed).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startNodes starts size nodes named prefix0@127.0.0.1 ..., each with a
// secret, 64 partitions and what edit adds (kinds, a logger), the others
// joining the first; it waits until each is ready and kills them when
// the test ends.
func startNodes(t *testing.T, ctx context.Context, prefix string, size int, edit func(i int, cfg *shoal.Config)) []*shoal.Node {
	t.Helper()
	var nodes []*shoal.Node
	for i := range size {
		cfg := shoal.Config{
			Name:       fmt.Sprintf("%s%d@127.0.0.1", prefix, i),
			Secret:     "0123456789abcdef0123",
			Codec:      codec.New(),
			Partitions: 64,
		}
		edit(i, &cfg)
		if i > 0 {
			cfg.Join = []string{nodes[0].Address()}
		}
		n, err := shoal.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Kill)
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// syncBuffer is a buffer loggers may write to concurrently.
type syncBuffer = syncbuf.Buffer
