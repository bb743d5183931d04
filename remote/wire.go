package remote

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Frame kinds.
const (
	kindCast  byte = 1
	kindSend  byte = 2
	kindCall  byte = 3
	kindReply byte = 4
)

// Reply status codes. A status this build does not know (a later
// one's) reads as an application error: its text still says what failed.
const (
	statusOK         byte = 0
	statusAppError   byte = 1
	statusNoProcess  byte = 2
	statusStopped    byte = 3
	statusPanic      byte = 4
	statusDeadline   byte = 5
	statusCanceled   byte = 6
	statusCodecError byte = 7
	statusFull       byte = 8 // the process's bounded mailbox is full
)

var errBadFrame = errors.New("bad remote frame")

// frame is a decoded frame. payload aliases the input bytes.
type frame struct {
	kind    byte
	callID  uint64
	target  uint64
	timeout time.Duration
	status  byte
	payload []byte
}

func appendCast(b []byte, kind byte, target uint64, payload []byte) []byte {
	b = append(b, kind)
	b = binary.BigEndian.AppendUint64(b, target)
	return append(b, payload...)
}

func appendCall(b []byte, callID, target uint64, timeout time.Duration, payload []byte) []byte {
	b = append(b, kindCall)
	b = binary.BigEndian.AppendUint64(b, callID)
	b = binary.BigEndian.AppendUint64(b, target)
	b = binary.BigEndian.AppendUint64(b, uint64(timeout))
	return append(b, payload...)
}

func appendReply(b []byte, callID uint64, status byte, payload []byte) []byte {
	b = append(b, kindReply)
	b = binary.BigEndian.AppendUint64(b, callID)
	b = append(b, status)
	return append(b, payload...)
}

// decodeFrame parses a frame received from another node.
func decodeFrame(b []byte) (frame, error) {
	if len(b) == 0 {
		return frame{}, fmt.Errorf("%w: empty", errBadFrame)
	}
	f := frame{kind: b[0]}
	b = b[1:]
	need := func(n int) error {
		if len(b) < n {
			return fmt.Errorf("%w: kind %d truncated", errBadFrame, f.kind)
		}
		return nil
	}
	switch f.kind {
	case kindCast, kindSend:
		if err := need(8); err != nil {
			return frame{}, err
		}
		f.target = binary.BigEndian.Uint64(b)
		f.payload = b[8:]
	case kindCall:
		if err := need(24); err != nil {
			return frame{}, err
		}
		f.callID = binary.BigEndian.Uint64(b)
		f.target = binary.BigEndian.Uint64(b[8:])
		t := binary.BigEndian.Uint64(b[16:])
		if t > uint64(24*time.Hour) {
			return frame{}, fmt.Errorf("%w: call timeout %d out of range", errBadFrame, t)
		}
		f.timeout = time.Duration(t)
		f.payload = b[24:]
	case kindReply:
		if err := need(9); err != nil {
			return frame{}, err
		}
		f.callID = binary.BigEndian.Uint64(b)
		f.status = b[8]
		f.payload = b[9:]
	default:
		return frame{}, fmt.Errorf("%w: kind %d", errBadFrame, f.kind)
	}
	return f, nil
}

// encode re-encodes a frame (tests compare it with the input).
func (f frame) encode() []byte {
	switch f.kind {
	case kindCast, kindSend:
		return appendCast(nil, f.kind, f.target, f.payload)
	case kindCall:
		return appendCall(nil, f.callID, f.target, f.timeout, f.payload)
	default:
		return appendReply(nil, f.callID, f.status, f.payload)
	}
}
