package meshbench

import (
	"encoding/binary"
	"errors"
)

// HeaderSize is the part of every payload the harness reads back: the
// message index and the publish time in Unix nanoseconds, big-endian.
const HeaderSize = 16

// MaxPayloadSize bounds Main's -size: 1 MiB, the default gossipsub message
// limit, less room for the RPC framing around one message.
const MaxPayloadSize = 1<<20 - 1024

// EncodePayload fills p (at least HeaderSize bytes) with the header; the
// rest of p is left as is.
func EncodePayload(p []byte, index uint64, publishedUnixNano int64) {
	binary.BigEndian.PutUint64(p[0:8], index)
	binary.BigEndian.PutUint64(p[8:16], uint64(publishedUnixNano))
}

// DecodePayload reads the header back.
func DecodePayload(p []byte) (index uint64, publishedUnixNano int64, err error) {
	if len(p) < HeaderSize {
		return 0, 0, errors.New("meshbench: payload shorter than its header")
	}
	return binary.BigEndian.Uint64(p[0:8]), int64(binary.BigEndian.Uint64(p[8:16])), nil
}
