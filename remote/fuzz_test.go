package remote

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendCast(nil, kindCast, 42, []byte("payload")))
	f.Add(appendCast(nil, kindSend, 1, nil))
	f.Add(appendCall(nil, 7, 42, time.Second, []byte{0, 0, 0, 0}))
	f.Add(appendReply(nil, 7, statusOK, []byte{1, 2}))
	f.Add(appendReply(nil, 7, 200, nil))
	f.Add([]byte{kindCall, 0, 0})
	f.Add([]byte{9})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data)
		if err != nil {
			if !errors.Is(err, errBadFrame) {
				t.Fatalf("error %v does not wrap errBadFrame", err)
			}
			return
		}
		if !bytes.Equal(fr.encode(), data) {
			t.Fatalf("frame %+v re-encodes differently from %x", fr, data)
		}
	})
}
