package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// metaVersion is the first byte of a node's membership metadata. Version
// 1 carried the link address; version 2 adds the node's incarnation.
const (
	metaVersion1 = 1
	metaVersion  = 2
)

var errBadMeta = errors.New("bad node metadata")

// nodeMeta is what a node publishes with its membership.
type nodeMeta struct {
	link        string // link address
	incarnation uint64 // drawn at random when the node starts; 0 from a version-1 node
}

// encodeMeta encodes a node's metadata: version, the link address as a
// length-prefixed string, then the incarnation (8 bytes, big-endian).
func encodeMeta(m nodeMeta) []byte {
	b := make([]byte, 0, 2+len(m.link)+8)
	b = append(b, metaVersion, byte(len(m.link)))
	b = append(b, m.link...)
	return binary.BigEndian.AppendUint64(b, m.incarnation)
}

// decodeMeta decodes metadata received from another node (version 1 or
// 2).
func decodeMeta(b []byte) (nodeMeta, error) {
	if len(b) < 2 {
		return nodeMeta{}, fmt.Errorf("%w: %d bytes", errBadMeta, len(b))
	}
	n := int(b[1])
	switch b[0] {
	case metaVersion1:
		if len(b) != 2+n {
			return nodeMeta{}, fmt.Errorf("%w: length %d, have %d", errBadMeta, n, len(b)-2)
		}
		return nodeMeta{link: string(b[2:])}, nil
	case metaVersion:
		if len(b) != 2+n+8 {
			return nodeMeta{}, fmt.Errorf("%w: length %d + 8, have %d", errBadMeta, n, len(b)-2)
		}
		m := nodeMeta{link: string(b[2 : 2+n]), incarnation: binary.BigEndian.Uint64(b[2+n:])}
		if m.incarnation == 0 {
			return nodeMeta{}, fmt.Errorf("%w: zero incarnation", errBadMeta)
		}
		return m, nil
	}
	return nodeMeta{}, fmt.Errorf("%w: version %d", errBadMeta, b[0])
}

// Membership messages a node sends other members directly, each a tag,
// a name length and a name.
const (
	// leavingTag starts a leaving notice: a member that leaves gracefully
	// sends it, with its own name, to every other member before it goes.
	leavingTag = 'L'
	// leavingAckTag starts the answer to a leaving notice, with the
	// name of the member that heard it: the leaver waits for these
	// before it tells memberlist it is gone, so that a member hears
	// "leaving" before "gone" (the notice goes by stream, memberlist's
	// death by datagram, and a loaded host can deliver the datagram first).
	leavingAckTag = 'A'
)

func encodeNotice(tag byte, name string) []byte {
	b := make([]byte, 0, 2+len(name))
	b = append(b, tag, byte(len(name)))
	return append(b, name...)
}

var errBadMessage = errors.New("bad membership message")

// decodeNotice returns the tag and the name of a leaving notice or of
// its answer.
func decodeNotice(b []byte) (byte, string, error) {
	if len(b) < 3 || (b[0] != leavingTag && b[0] != leavingAckTag) {
		return 0, "", fmt.Errorf("%w: not a leaving notice or its answer", errBadMessage)
	}
	n := int(b[1])
	if n == 0 || len(b) != 2+n {
		return 0, "", fmt.Errorf("%w: name length %d, have %d", errBadMessage, n, len(b)-2)
	}
	return b[0], string(b[2:]), nil
}
