package directory

import (
	"fmt"
	"strings"
	"testing"
)

// pair runs two nodes, one partition, k = 1, over a network the test
// can cut messages from, carrying out Start at once.
type pair struct {
	t      *testing.T
	nodes  map[NodeID]*Node
	order  []NodeID
	drop   func(from, to NodeID, msg any) bool
	nextID uint64
}

func newPair(t *testing.T) *pair {
	t.Helper()
	a, b := NodeID{Name: "a", Inc: 1}, NodeID{Name: "b", Inc: 1}
	p := &pair{t: t, nodes: map[NodeID]*Node{}, order: []NodeID{a, b}, nextID: 1000}
	for _, id := range p.order {
		cfg := DefaultConfig(id)
		cfg.Partitions, cfg.Replicas, cfg.MaxMsgBytes = 1, 1, 4096
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.SetView(p.order)
		p.nodes[id] = n
	}
	return p
}

// run delivers messages and ticks both nodes rounds times.
func (p *pair) run(rounds int, each func()) {
	for range rounds {
		for _, id := range p.order {
			p.nodes[id].Tick()
		}
		for moved := true; moved; {
			moved = false
			for _, id := range p.order {
				n := p.nodes[id]
				rd := n.Ready()
				for _, e := range rd.Effects {
					if s, ok := e.(Start); ok {
						p.nextID++
						n.Started(s.Token, p.nextID)
						moved = true
					}
				}
				for _, env := range rd.Msgs {
					moved = true
					if p.drop == nil || !p.drop(id, env.To, env.Msg) {
						p.nodes[env.To].Receive(id, env.Msg)
					}
				}
				if each != nil {
					each()
				}
			}
		}
	}
}

func (p *pair) roles() (primary, replica *Node) {
	for _, id := range p.order {
		if st := p.nodes[id].Partition(0); st.Primary {
			primary = p.nodes[id]
		} else if st.Replica {
			replica = p.nodes[id]
		}
	}
	if primary == nil || replica == nil {
		p.t.Fatalf("no primary and replica: %+v %+v", p.nodes[p.order[0]].Partition(0), p.nodes[p.order[1]].Partition(0))
	}
	return primary, replica
}

// TestLostSnapshotChunkDeletesNothing is issue 10's problem 6: a full copy
// sent in chunks, one of which is lost, must not delete what the lost
// chunk held. A replica applies a snapshot only whole (chunks carry index
// and total), keeps its copy meanwhile, and asks again.
func TestLostSnapshotChunkDeletesNothing(t *testing.T) {
	p := newPair(t)
	p.run(60, nil)
	primary, replica := p.roles()
	const names = 150
	spec := Spec{Kind: "k", Args: []byte(strings.Repeat("s", 100))} // ~40 records a chunk
	for i := range names {
		primary.Request(uint64(i+1), ReqRegister, fmt.Sprintf("name%03d", i), "", spec)
	}
	p.run(20, nil)
	if st := replica.Partition(0); st.Regs != names || st.Hash != primary.Partition(0).Hash {
		t.Fatalf("replica holds %d of %d names (hash %x, primary's %x) before the fault", st.Regs, names, st.Hash, primary.Partition(0).Hash)
	}

	// A gap in the stream (one batch of changes lost) makes the replica
	// resync; the snapshot's middle chunk is lost too, once.
	lostOps, lostChunk, chunks := false, false, 0
	p.drop = func(from, to NodeID, msg any) bool {
		switch m := msg.(type) {
		case MsgOps:
			if !lostOps {
				lostOps = true
				return true
			}
		case MsgSnap:
			chunks = max(chunks, m.Total)
			if !lostChunk && m.Total >= 3 && m.Index == 1 {
				lostChunk = true
				return true
			}
		}
		return false
	}
	primary.Request(1000, ReqRegister, "extra", "", spec) // its ops are lost
	primary.Request(1001, ReqRegister, "extra2", "", spec)
	least := names
	p.run(200, func() {
		least = min(least, replica.Partition(0).Regs)
	})
	if !lostOps || !lostChunk {
		t.Fatalf("the faults did not happen (ops lost %v, chunk lost %v, snapshot chunks %d): the test proves nothing", lostOps, lostChunk, chunks)
	}
	if least < names {
		t.Fatalf("the replica held only %d of %d names while a snapshot's chunk was lost", least, names)
	}
	pst, rst := primary.Partition(0), replica.Partition(0)
	if rst.Regs != names+2 || rst.Hash != pst.Hash || rst.Seq != pst.Seq {
		t.Fatalf("after the lost chunk the replica holds %d names at %d (hash %x); the primary %d at %d (hash %x)",
			rst.Regs, rst.Seq, rst.Hash, pst.Regs, pst.Seq, pst.Hash)
	}
	t.Logf("a snapshot of %d chunks lost its middle one; the replica kept every name and caught up (%d names)", chunks, rst.Regs)
}
