package peerexchange

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	discoveryv1 "github.com/peermesh/peermesh/messages/discovery/v1"
)

func TestQueryRoundTrip(t *testing.T) {
	for _, n := range []uint64{0, 5, 60, 1 << 40} {
		got, err := DecodeQuery(EncodeQuery(n))
		if err != nil || got != n {
			t.Fatalf("DecodeQuery(EncodeQuery(%d)) = %d, %v", n, got, err)
		}
	}
}

func TestDecodeQueryRules(t *testing.T) {
	resp, _ := proto.Marshal(&discoveryv1.PeerExchangeRPC{Response: &discoveryv1.PeerExchangeResponse{}})
	for _, tt := range []struct {
		name string
		b    []byte
		want string
	}{
		{"no query field is a bad request (nwaku)", nil, ErrNoQuery.Error()},
		{"a response is not a request", resp, ErrNoQuery.Error()},
		{"undecodable", []byte{0xff}, "request:"},
		{"over MaxRequestSize", make([]byte, MaxRequestSize+1), "more than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeQuery(tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// An empty query asks for 0 records: valid.
	b, _ := proto.Marshal(&discoveryv1.PeerExchangeRPC{Query: &discoveryv1.PeerExchangeQuery{}})
	if n, err := DecodeQuery(b); err != nil || n != 0 {
		t.Fatalf("empty query: %d, %v", n, err)
	}
}

func TestResponseRoundTripAndBounds(t *testing.T) {
	rec := func(i int, n int) []byte { return bytes.Repeat([]byte{byte(i)}, n) }
	var many [][]byte
	for i := range MaxResponseRecords + 5 {
		many = append(many, rec(i, 10))
	}
	for _, tt := range []struct {
		name        string
		in          *discoveryv1.PeerExchangeResponse
		wantRecords int
		wantDropped int
		wantStatus  uint32
	}{
		{"status written by EncodeResponse is read", nil, 2, 0, StatusTooManyRequests},
		{"no status code counts as success (js-waku, older servers)",
			&discoveryv1.PeerExchangeResponse{PeerInfos: []*discoveryv1.PeerExchangePeerInfo{{Enr: rec(1, 20)}}}, 1, 0, StatusSuccess},
		{"empty and over-long records are dropped",
			&discoveryv1.PeerExchangeResponse{PeerInfos: []*discoveryv1.PeerExchangePeerInfo{{}, {Enr: rec(1, MaxRecordSize+1)}, {Enr: rec(2, MaxRecordSize)}}}, 1, 2, StatusSuccess},
		{"records beyond MaxResponseRecords are dropped", func() *discoveryv1.PeerExchangeResponse {
			r := &discoveryv1.PeerExchangeResponse{}
			for _, m := range many {
				r.PeerInfos = append(r.PeerInfos, &discoveryv1.PeerExchangePeerInfo{Enr: m})
			}
			return r
		}(), MaxResponseRecords, 5, StatusSuccess},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			if tt.in == nil {
				b = EncodeResponse([][]byte{rec(1, 5), rec(2, 5)}, StatusTooManyRequests, "slow down")
			} else {
				b, _ = proto.Marshal(&discoveryv1.PeerExchangeRPC{Response: tt.in})
			}
			r, err := DecodeResponse(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Records) != tt.wantRecords || r.Dropped != tt.wantDropped || r.Status != tt.wantStatus {
				t.Fatalf("records %d dropped %d status %d; want %d %d %d", len(r.Records), r.Dropped, r.Status, tt.wantRecords, tt.wantDropped, tt.wantStatus)
			}
		})
	}
	if _, err := DecodeResponse(EncodeQuery(3)); err == nil {
		t.Fatal("a request decoded as a response")
	}
	// A server never sends more than MaxResponseRecords.
	r, err := DecodeResponse(EncodeResponse(many, StatusSuccess, ""))
	if err != nil || len(r.Records) != MaxResponseRecords || r.Dropped != 0 {
		t.Fatalf("EncodeResponse(%d records) sends %d (dropped %d), %v", len(many), len(r.Records), r.Dropped, err)
	}
}

func TestReadMessageRefusesOversizedBeforeReading(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMessage(&buf, make([]byte, MaxRequestSize+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMessage(&buf, MaxRequestSize); err == nil {
		t.Fatal("read a message over the limit")
	}
	buf.Reset()
	_ = WriteMessage(&buf, EncodeQuery(7))
	b, err := ReadMessage(&buf, MaxRequestSize)
	if n, derr := DecodeQuery(b); err != nil || derr != nil || n != 7 {
		t.Fatalf("round trip: %d, %v, %v", n, err, derr)
	}
}

func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// connected returns a requester connected to a server that answers with
// answer.
func connected(t *testing.T, answer Answer) (client host.Host, server peer.ID, served chan error) {
	t.Helper()
	srv, cli := newHost(t), newHost(t)
	served = make(chan error, 4)
	srv.SetStreamHandler(ProtocolID, func(s network.Stream) {
		_, err := Serve(s, answer, 5*time.Second)
		served <- err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cli.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: srv.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return cli, srv.ID(), served
}

func TestRequestServeOverAStream(t *testing.T) {
	records := [][]byte{[]byte("record-1"), []byte("record-2"), []byte("record-3")}
	var asked uint64
	cli, srv, served := connected(t, func(n uint64) ([][]byte, uint32, string) {
		asked = n
		return records, StatusSuccess, ""
	})
	resp, err := Request(context.Background(), cli, srv, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// The server sends no more than asked for, whatever answer returned.
	if asked != 2 || !slices.EqualFunc(resp.Records, records[:2], bytes.Equal) {
		t.Fatalf("asked %d, got %q", asked, resp.Records)
	}
}

func TestRequestReportsAStatusOtherThanSuccess(t *testing.T) {
	cli, srv, _ := connected(t, func(uint64) ([][]byte, uint32, string) { return nil, StatusTooManyRequests, "rate limited" })
	resp, err := Request(context.Background(), cli, srv, 5, 5*time.Second)
	if err == nil || resp.Status != StatusTooManyRequests || !strings.Contains(err.Error(), "429") {
		t.Fatalf("status %d, err %v", resp.Status, err)
	}
}

// A request without a query is answered BAD_REQUEST, as nwaku does.
func TestServeAnswersBadRequest(t *testing.T) {
	cli, srv, served := connected(t, func(uint64) ([][]byte, uint32, string) {
		t.Error("answer called for a bad request")
		return nil, StatusSuccess, ""
	})
	s, err := cli.NewStream(context.Background(), srv, ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	resp, _ := proto.Marshal(&discoveryv1.PeerExchangeRPC{Response: &discoveryv1.PeerExchangeResponse{}})
	if err := WriteMessage(s, resp); err != nil {
		t.Fatal(err)
	}
	b, err := ReadMessage(s, MaxResponseSize)
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeResponse(b)
	if err != nil || r.Status != StatusBadRequest {
		t.Fatalf("status %d, %v", r.Status, err)
	}
	if err := <-served; !errors.Is(err, ErrNoQuery) {
		t.Fatalf("Serve returned %v", err)
	}
}
