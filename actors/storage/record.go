package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"google.golang.org/protobuf/proto"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// A stored value is an envelope around the marshalled PeerRecord:
//
//	byte 0      record format (recordFormat)
//	bytes 1..4  CRC-32C of the payload, big-endian
//	bytes 5..   the PeerRecord, protobuf
//
// The CRC is there because protobuf decoding accepts most flipped bytes
// silently (a flipped byte inside a string is still a valid string), and one
// torn or rotten value must be detected and skipped, not loaded as a
// plausible but wrong peer. The format byte lets a later version change the
// envelope per record without rewriting the file.
const (
	recordFormat    = 1
	recordHeaderLen = 5
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptRecord marks a stored value that cannot be decoded; LoadAll skips
// and counts such values.
var ErrCorruptRecord = errors.New("corrupt peer record")

// appendRecord appends the envelope of rec to dst. It fails for records that
// cannot be stored: no peer id, an id longer than maxID, an encoding larger
// than maxBytes, or a string field that is not valid UTF-8 (proto3 refuses
// to marshal those).
func appendRecord(dst []byte, rec *peerv1.PeerRecord, maxID, maxBytes int) ([]byte, error) {
	if rec == nil {
		return dst, errors.New("nil record")
	}
	id := rec.GetPeerId()
	if len(id) == 0 {
		return dst, errors.New("record has no peer id")
	}
	if len(id) > maxID {
		return dst, fmt.Errorf("peer id of %d bytes exceeds MaxPeerIDBytes %d", len(id), maxID)
	}
	start := len(dst)
	dst = append(dst, recordFormat, 0, 0, 0, 0)
	out, err := proto.MarshalOptions{}.MarshalAppend(dst, rec)
	if err != nil {
		return dst[:start], fmt.Errorf("marshal record %x: %w", id, err)
	}
	if n := len(out) - start; n > maxBytes {
		return out[:start], fmt.Errorf("record %x of %d bytes exceeds MaxRecordBytes %d", id, n, maxBytes)
	}
	binary.BigEndian.PutUint32(out[start+1:], crc32.Checksum(out[start+recordHeaderLen:], crcTable))
	return out, nil
}

// decodeRecord decodes one stored value. key is the bucket key it was stored
// under; a record whose peer id differs from its key is corrupt too. value
// may alias memory that is only valid during the read transaction: the
// returned record never aliases it (protobuf copies bytes fields).
func decodeRecord(key, value []byte, maxBytes int) (*peerv1.PeerRecord, error) {
	if len(value) < recordHeaderLen {
		return nil, fmt.Errorf("%w %x: %d bytes is shorter than the header", ErrCorruptRecord, key, len(value))
	}
	if len(value) > maxBytes {
		return nil, fmt.Errorf("%w %x: %d bytes exceeds MaxRecordBytes %d", ErrCorruptRecord, key, len(value), maxBytes)
	}
	if value[0] != recordFormat {
		return nil, fmt.Errorf("%w %x: unknown record format %d", ErrCorruptRecord, key, value[0])
	}
	payload := value[recordHeaderLen:]
	if want, got := binary.BigEndian.Uint32(value[1:]), crc32.Checksum(payload, crcTable); want != got {
		return nil, fmt.Errorf("%w %x: checksum %08x, stored %08x", ErrCorruptRecord, key, got, want)
	}
	rec := &peerv1.PeerRecord{}
	if err := proto.Unmarshal(payload, rec); err != nil {
		return nil, fmt.Errorf("%w %x: %w", ErrCorruptRecord, key, err)
	}
	if len(rec.GetPeerId()) == 0 {
		return nil, fmt.Errorf("%w %x: record has no peer id", ErrCorruptRecord, key)
	}
	if !bytes.Equal(rec.GetPeerId(), key) {
		return nil, fmt.Errorf("%w %x: record carries peer id %x", ErrCorruptRecord, key, rec.GetPeerId())
	}
	return rec, nil
}
