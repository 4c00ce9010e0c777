package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzDecodeRecord feeds arbitrary bytes from "disk" to the record decoder:
// it must return a record or an ErrCorruptRecord, never panic, and whatever
// it accepts must survive a round trip unchanged. The committed corpus is in
// testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	good, err := appendRecord(nil, testRecord(7), 128, 1<<16)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testID(7), good)
	f.Add(testID(7), good[recordHeaderLen:]) // valid once sealed
	f.Add(testID(7), good[:len(good)-1])
	f.Add(testID(8), good)
	f.Add([]byte{}, []byte{})
	f.Add(testID(7), []byte{recordFormat, 0, 0, 0, 0})
	f.Add(testID(7), append([]byte{2}, good[1:]...))
	const maxBytes = 1 << 12
	f.Fuzz(func(t *testing.T, key, value []byte) {
		checkDecode(t, key, value, maxBytes)
		// The same bytes as a payload behind a valid header, so the fuzzer
		// reaches the protobuf decoder and the key check past the CRC.
		checkDecode(t, key, sealed(value), maxBytes)
	})
}

// sealed wraps payload in a valid envelope header.
func sealed(payload []byte) []byte {
	out := binary.BigEndian.AppendUint32([]byte{recordFormat}, crc32.Checksum(payload, crcTable))
	return append(out, payload...)
}

func checkDecode(t *testing.T, key, value []byte, maxBytes int) {
	rec, err := decodeRecord(key, value, maxBytes)
	if err != nil {
		if !errors.Is(err, ErrCorruptRecord) || rec != nil {
			t.Fatalf("decode error %v (record %v) does not wrap ErrCorruptRecord alone", err, rec)
		}
		return
	}
	if !bytes.Equal(rec.GetPeerId(), key) {
		t.Fatalf("accepted a record of peer %x under key %x", rec.GetPeerId(), key)
	}
	again, err := appendRecord(nil, rec, len(key), 1<<20)
	if err != nil {
		// Accepted bytes may carry unknown fields or non-canonical
		// encodings; they must still encode.
		t.Fatalf("re-encode an accepted record: %v", err)
	}
	back, err := decodeRecord(key, again, 1<<20)
	if err != nil || !proto.Equal(back, rec) {
		t.Fatalf("round trip changed the record: %v, %v != %v", err, back, rec)
	}
}
