package directory

// Interning. A record decoded off the network carries strings of its own
// (the kind, the node's name) although a cluster has only a few distinct
// ones: every replica's copy would hold them again, 16 bytes or more
// each. A node keeps one copy of each (up to maxInterned) and points the
// records it receives at it.

// maxInterned bounds the strings a node keeps (kinds and node names are
// few; past this, strings are kept as received).
const maxInterned = 4096

// intern returns the node's copy of s.
func (n *Node) intern(s string) string {
	if c, ok := n.strs[s]; ok {
		return c
	}
	if len(n.strs) < maxInterned {
		n.strs[s] = s
	}
	return s
}

func (n *Node) internRecs(rs []Record) {
	for i := range rs {
		r := &rs[i]
		r.Spec.Kind = n.intern(r.Spec.Kind)
		r.Inst.Node.Name = n.intern(r.Inst.Node.Name)
	}
}

// internMsg points the strings of a received message's records at the
// node's copies (the message is the node's to change: only equal strings
// are swapped).
func (n *Node) internMsg(msg any) any {
	switch m := msg.(type) {
	case MsgOps:
		for i := range m.Ops {
			r := &m.Ops[i].Rec
			r.Spec.Kind = n.intern(r.Spec.Kind)
			r.Inst.Node.Name = n.intern(r.Inst.Node.Name)
		}
	case MsgSnap:
		n.internRecs(m.Records)
	case MsgGive:
		n.internRecs(m.Records)
	case MsgReport:
		n.internRecs(m.Items)
	case MsgRequest:
		m.Spec.Kind = n.intern(m.Spec.Kind)
		return m
	}
	return msg
}
