package dialer

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// checkParsed asserts what ParseDialPeer promises of a request it accepts.
func checkParsed(t *testing.T, msg *dialerv1.DialPeer, r Request, cfg Config) {
	t.Helper()
	if _, err := peer.IDFromBytes([]byte(r.Peer)); err != nil || string(r.Peer) != string(msg.GetPeerId()) {
		t.Fatalf("accepted peer id %x does not round-trip: %v", msg.GetPeerId(), err)
	}
	if len(r.Addrs) != len(msg.GetAddresses()) || len(r.Addrs) > cfg.MaxAddresses {
		t.Fatalf("%d addresses accepted from %d (limit %d)", len(r.Addrs), len(msg.GetAddresses()), cfg.MaxAddresses)
	}
	for _, a := range r.Addrs {
		if len(a) == 0 {
			t.Fatal("accepted an empty address")
		}
		if _, id := peer.SplitAddr(a); id != "" {
			t.Fatalf("address %v kept a /p2p/ suffix", a)
		}
	}
	if r.Timeout <= 0 || r.Timeout > cfg.MaxDialTimeout {
		t.Fatalf("timeout %v outside (0, %v]", r.Timeout, cfg.MaxDialTimeout)
	}
	if _, known := dialerv1.DialSource_name[int32(r.Source)]; !known || r.Source == dialerv1.DialSource_DIAL_SOURCE_UNSPECIFIED {
		t.Fatalf("source %v accepted", r.Source)
	}
}

// FuzzDecodeDialPeer feeds arbitrary bytes as a marshalled DialPeer (what a
// remote or buggy sender could produce): decoding never panics, and what is
// accepted keeps ParseDialPeer's promises.
func FuzzDecodeDialPeer(f *testing.F) {
	id := testPeer(1)
	for _, m := range []*dialerv1.DialPeer{
		{PeerId: []byte(id), Addresses: [][]byte{ma.StringCast("/ip4/127.0.0.1/tcp/4001").Bytes()}, Source: px},
		{PeerId: []byte(id), Addresses: [][]byte{ma.StringCast("/dns4/example.org/tcp/443/wss/p2p/" + id.String()).Bytes()}},
		{PeerId: []byte(id), Protocol: "/vac/waku/store/2.0.0", Timeout: durationpb.New(time.Second)},
		{PeerId: []byte{0x12, 0x20, 0x01}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, b []byte) {
		var msg dialerv1.DialPeer
		if err := proto.Unmarshal(b, &msg); err != nil {
			return
		}
		r, err := ParseDialPeer(&msg, cfg)
		if err != nil {
			return
		}
		checkParsed(t, &msg, r, cfg)
	})
}

// FuzzParseDialPeerFields fuzzes the fields directly, which reaches the
// peer id and multiaddr decoders far more often than whole messages do.
func FuzzParseDialPeerFields(f *testing.F) {
	id := []byte(testPeer(1))
	f.Add(id, ma.StringCast("/ip4/127.0.0.1/tcp/4001").Bytes(), "", int32(1), int64(0))
	f.Add(id, ma.StringCast("/ip6/::1/udp/9000/quic-v1").Bytes(), "/ipfs/ping/1.0.0", int32(6), int64(time.Second))
	f.Add(id, ma.StringCast("/p2p/"+testPeer(1).String()).Bytes(), "", int32(0), int64(-1))
	f.Add([]byte{}, []byte{}, "", int32(99), int64(time.Hour))
	f.Add([]byte{0x00, 0x05, 'a'}, []byte{0x04, 0x7f, 0x00}, "x", int32(3), int64(1))
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, peerID, addr []byte, protocol string, source int32, timeout int64) {
		msg := &dialerv1.DialPeer{
			PeerId: peerID, Addresses: [][]byte{addr}, Protocol: protocol,
			Source: dialerv1.DialSource(source), Timeout: durationpb.New(time.Duration(timeout)),
		}
		r, err := ParseDialPeer(msg, cfg)
		if err != nil {
			return
		}
		checkParsed(t, msg, r, cfg)
	})
}
