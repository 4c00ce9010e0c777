package peerexchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	"google.golang.org/protobuf/proto"

	discoveryv1 "github.com/peermesh/peermesh/messages/discovery/v1"
)

// ProtocolID is peer exchange's libp2p protocol id.
const ProtocolID protocol.ID = "/vac/waku/peer-exchange/2.0.0-alpha1"

// Status codes of a response (nwaku's PeerExchangeResponseStatusCode).
const (
	StatusSuccess            uint32 = 200
	StatusBadRequest         uint32 = 400
	StatusBadResponse        uint32 = 401
	StatusTooManyRequests    uint32 = 429
	StatusServiceUnavailable uint32 = 503
	StatusDialFailure        uint32 = 599
)

// Bounds of what is read from a peer.
const (
	// MaxRecordSize is EIP-778's limit on one record; longer ones are
	// dropped from a response.
	MaxRecordSize = 300
	// MaxRequestSize bounds a request: a query is a few bytes.
	MaxRequestSize = 1024
	// MaxResponseSize bounds a response: room for MaxResponseRecords
	// records of MaxRecordSize with their framing.
	MaxResponseSize = 64 << 10
	// MaxResponseRecords bounds the records taken from one response (the
	// rest are dropped and counted), and the records a server sends.
	MaxResponseRecords = 60
)

// ErrNoQuery: a request without a query (nwaku answers it BAD_REQUEST).
var ErrNoQuery = errors.New("peerexchange: request without a query")

// EncodeQuery is a request for n records.
func EncodeQuery(n uint64) []byte {
	b, _ := proto.Marshal(&discoveryv1.PeerExchangeRPC{Query: &discoveryv1.PeerExchangeQuery{NumPeers: proto.Uint64(n)}})
	return b
}

// DecodeQuery reads a request and returns the number of records asked
// for.
func DecodeQuery(b []byte) (uint64, error) {
	if len(b) > MaxRequestSize {
		return 0, fmt.Errorf("peerexchange: request of %d bytes, more than %d", len(b), MaxRequestSize)
	}
	var rpc discoveryv1.PeerExchangeRPC
	if err := proto.Unmarshal(b, &rpc); err != nil {
		return 0, fmt.Errorf("peerexchange: request: %w", err)
	}
	if rpc.Query == nil {
		return 0, ErrNoQuery
	}
	return rpc.GetQuery().GetNumPeers(), nil
}

// Response is what a responder said.
type Response struct {
	// Records are the node records (RLP), at most MaxResponseRecords,
	// each non-empty and at most MaxRecordSize bytes; not yet verified.
	Records [][]byte
	// Dropped counts the records left out: empty, too long, or beyond
	// MaxResponseRecords.
	Dropped int
	Status  uint32
	Desc    string
}

// EncodeResponse is a response with records (the first
// MaxResponseRecords) and a status. The status is always written: nwaku's
// and go-waku's clients refuse a response without 200.
func EncodeResponse(records [][]byte, status uint32, desc string) []byte {
	resp := &discoveryv1.PeerExchangeResponse{StatusCode: proto.Uint32(status)}
	if desc != "" {
		resp.StatusDesc = proto.String(desc)
	}
	for _, r := range records[:min(len(records), MaxResponseRecords)] {
		resp.PeerInfos = append(resp.PeerInfos, &discoveryv1.PeerExchangePeerInfo{Enr: r})
	}
	b, _ := proto.Marshal(&discoveryv1.PeerExchangeRPC{Response: resp})
	return b
}

// DecodeResponse reads a response. A response without a status code (older
// servers, js-waku's) counts as a success; one without a response field is
// an error.
func DecodeResponse(b []byte) (Response, error) {
	if len(b) > MaxResponseSize {
		return Response{}, fmt.Errorf("peerexchange: response of %d bytes, more than %d", len(b), MaxResponseSize)
	}
	var rpc discoveryv1.PeerExchangeRPC
	if err := proto.Unmarshal(b, &rpc); err != nil {
		return Response{}, fmt.Errorf("peerexchange: response: %w", err)
	}
	if rpc.Response == nil {
		return Response{}, errors.New("peerexchange: answer without a response")
	}
	r := rpc.GetResponse()
	out := Response{Status: StatusSuccess, Desc: r.GetStatusDesc()}
	if r.StatusCode != nil {
		out.Status = r.GetStatusCode()
	}
	for _, pi := range r.GetPeerInfos() {
		rec := pi.GetEnr()
		if len(rec) == 0 || len(rec) > MaxRecordSize || len(out.Records) == MaxResponseRecords {
			out.Dropped++
			continue
		}
		out.Records = append(out.Records, rec)
	}
	return out, nil
}

// WriteMessage writes one uvarint-length-prefixed message.
func WriteMessage(w io.Writer, b []byte) error {
	if err := msgio.NewVarintWriter(w).WriteMsg(b); err != nil {
		return fmt.Errorf("peerexchange: write: %w", err)
	}
	return nil
}

// ReadMessage reads one uvarint-length-prefixed message of at most max
// bytes; a longer one is refused before it is read.
func ReadMessage(r io.Reader, max int) ([]byte, error) {
	b, err := msgio.NewVarintReaderSize(r, max).ReadMsg()
	if err != nil {
		return nil, fmt.Errorf("peerexchange: read (at most %d bytes): %w", max, err)
	}
	return b, nil
}

// Request asks p for n records over a new stream (on an existing
// connection: the caller dials through the node's dial pool first), within
// timeout. A response whose status is not 200 is an error naming it.
func Request(ctx context.Context, h host.Host, p peer.ID, n uint64, timeout time.Duration) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := h.NewStream(network.WithNoDial(ctx, "peer exchange after the pool's dial"), p, ProtocolID)
	if err != nil {
		return Response{}, fmt.Errorf("peerexchange: open stream to %s: %w", p, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := WriteMessage(s, EncodeQuery(n)); err != nil {
		_ = s.Reset()
		return Response{}, err
	}
	_ = s.CloseWrite()
	b, err := ReadMessage(s, MaxResponseSize)
	if err != nil {
		_ = s.Reset()
		return Response{}, err
	}
	resp, err := DecodeResponse(b)
	if err != nil {
		return Response{}, err
	}
	if resp.Status != StatusSuccess {
		return resp, fmt.Errorf("peerexchange: %s answered status %d %q", p, resp.Status, resp.Desc)
	}
	return resp, nil
}

// Answer decides the response to a request for n records: the records,
// a status and a description.
type Answer func(n uint64) (records [][]byte, status uint32, desc string)

// Serve answers one inbound stream within timeout: a request it cannot
// read or decode is answered BAD_REQUEST (as nwaku does), otherwise with
// what answer says. It returns the number of records sent.
func Serve(s network.Stream, answer Answer, timeout time.Duration) (int, error) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(timeout))
	b, err := ReadMessage(s, MaxRequestSize)
	var n uint64
	if err == nil {
		n, err = DecodeQuery(b)
	}
	if err != nil {
		_ = WriteMessage(s, EncodeResponse(nil, StatusBadRequest, err.Error()))
		return 0, err
	}
	records, status, desc := answer(n)
	records = records[:min(len(records), MaxResponseRecords, int(min(n, uint64(MaxResponseRecords))))]
	if err := WriteMessage(s, EncodeResponse(records, status, desc)); err != nil {
		_ = s.Reset()
		return 0, err
	}
	return len(records), nil
}
