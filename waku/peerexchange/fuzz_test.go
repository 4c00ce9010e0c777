package peerexchange

import (
	"bytes"
	"testing"
)

// FuzzDecodeResponse: any bytes from a responder decode to at most
// MaxResponseRecords records of 1..MaxRecordSize bytes, or to an error;
// never a panic. Decoded records re-encode to the same records.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(EncodeResponse([][]byte{[]byte("a"), bytes.Repeat([]byte{1}, MaxRecordSize)}, StatusSuccess, ""))
	f.Add(EncodeResponse(nil, StatusTooManyRequests, "slow down"))
	f.Add(EncodeQuery(5))
	f.Add([]byte{0x12, 0x04, 0x0a, 0x02, 0x0a, 0x00})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		if len(r.Records) > MaxResponseRecords {
			t.Fatalf("%d records", len(r.Records))
		}
		for _, rec := range r.Records {
			if len(rec) == 0 || len(rec) > MaxRecordSize {
				t.Fatalf("record of %d bytes", len(rec))
			}
		}
		again, err := DecodeResponse(EncodeResponse(r.Records, r.Status, r.Desc))
		if err != nil || len(again.Records) != len(r.Records) || again.Status != r.Status {
			t.Fatalf("re-encoded %d records status %d: %d records status %d, %v", len(r.Records), r.Status, len(again.Records), again.Status, err)
		}
	})
}

// FuzzDecodeQuery: any bytes from a requester decode to a count or an
// error; never a panic.
func FuzzDecodeQuery(f *testing.F) {
	f.Add(EncodeQuery(5))
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0x0a, 0x02, 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DecodeQuery(b)
		if err != nil {
			return
		}
		if again, err := DecodeQuery(EncodeQuery(n)); err != nil || again != n {
			t.Fatalf("re-encoded %d: %d, %v", n, again, err)
		}
	})
}

// FuzzReadMessage: a stream of any bytes yields a message within the limit
// or an error.
func FuzzReadMessage(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMessage(&buf, EncodeQuery(5))
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x05, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadMessage(bytes.NewReader(b), MaxRequestSize)
		if err == nil && len(m) > MaxRequestSize {
			t.Fatalf("read %d bytes, limit %d", len(m), MaxRequestSize)
		}
	})
}
