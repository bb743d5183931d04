package cluster

import (
	"errors"
	"fmt"
)

// metaVersion is the first byte of a node's membership metadata.
const metaVersion = 1

var errBadMeta = errors.New("bad node metadata")

// encodeMeta encodes a node's metadata: version, then the link address as
// a length-prefixed string.
func encodeMeta(linkAddr string) []byte {
	b := make([]byte, 0, 2+len(linkAddr))
	b = append(b, metaVersion, byte(len(linkAddr)))
	return append(b, linkAddr...)
}

// decodeMeta decodes metadata received from another node.
func decodeMeta(b []byte) (string, error) {
	if len(b) < 2 {
		return "", fmt.Errorf("%w: %d bytes", errBadMeta, len(b))
	}
	if b[0] != metaVersion {
		return "", fmt.Errorf("%w: version %d", errBadMeta, b[0])
	}
	n := int(b[1])
	if len(b) != 2+n {
		return "", fmt.Errorf("%w: length %d, have %d", errBadMeta, n, len(b)-2)
	}
	return string(b[2:]), nil
}

// leavingTag starts a leaving notice: a member that leaves gracefully
// sends it to every other member before it goes.
const leavingTag = 'L'

func encodeLeaving(name string) []byte {
	b := make([]byte, 0, 2+len(name))
	b = append(b, leavingTag, byte(len(name)))
	return append(b, name...)
}

var errBadMessage = errors.New("bad membership message")

func decodeLeaving(b []byte) (string, error) {
	if len(b) < 3 || b[0] != leavingTag {
		return "", fmt.Errorf("%w: not a leaving notice", errBadMessage)
	}
	n := int(b[1])
	if n == 0 || len(b) != 2+n {
		return "", fmt.Errorf("%w: name length %d, have %d", errBadMessage, n, len(b)-2)
	}
	return string(b[2:]), nil
}
