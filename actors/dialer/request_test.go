package dialer

import (
	"errors"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/types/known/durationpb"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

func addrBytes(s string) []byte { return ma.StringCast(s).Bytes() }

// TestParseDialPeer has one row per decoding rule.
func TestParseDialPeer(t *testing.T) {
	id := testPeer(1)
	other := testPeer(2)
	longProto := strings.Repeat("p", maxProtocolLen+1)
	rows := []struct {
		name    string
		msg     *dialerv1.DialPeer
		wantErr string // empty: valid
		check   func(t *testing.T, r Request)
	}{
		{name: "empty peer id", msg: &dialerv1.DialPeer{}, wantErr: "empty peer id"},
		{name: "peer id that is not a multihash", msg: &dialerv1.DialPeer{PeerId: []byte("nope")}, wantErr: "peer id"},
		{name: "a valid request keeps its fields", msg: &dialerv1.DialPeer{
			PeerId: []byte(id), Addresses: [][]byte{addrBytes("/ip4/127.0.0.1/tcp/1")},
			Source: dialerv1.DialSource_DIAL_SOURCE_PX, Protocol: "/vac/waku/store/2.0.0", Timeout: durationpb.New(3 * time.Second),
		}, check: func(t *testing.T, r Request) {
			if r.Peer != id || len(r.Addrs) != 1 || r.Addrs[0].String() != "/ip4/127.0.0.1/tcp/1" ||
				r.Source != px || r.Protocol != "/vac/waku/store/2.0.0" || r.Timeout != 3*time.Second {
				t.Fatalf("request %+v lost a field", r)
			}
		}},
		{name: "no addresses is valid: the host may know some", msg: &dialerv1.DialPeer{PeerId: []byte(id)},
			check: func(t *testing.T, r Request) {
				if len(r.Addrs) != 0 {
					t.Fatalf("addresses %v", r.Addrs)
				}
			}},
		{name: "unspecified source is API", msg: &dialerv1.DialPeer{PeerId: []byte(id)},
			check: func(t *testing.T, r Request) {
				if r.Source != api {
					t.Fatalf("source %v, want API", r.Source)
				}
			}},
		{name: "unknown source", msg: &dialerv1.DialPeer{PeerId: []byte(id), Source: 99}, wantErr: "unknown source"},
		{name: "zero timeout takes the default", msg: &dialerv1.DialPeer{PeerId: []byte(id), Timeout: durationpb.New(0)},
			check: func(t *testing.T, r Request) {
				if r.Timeout != DefaultConfig().DialTimeout {
					t.Fatalf("timeout %v, want the default", r.Timeout)
				}
			}},
		{name: "negative timeout", msg: &dialerv1.DialPeer{PeerId: []byte(id), Timeout: durationpb.New(-time.Second)}, wantErr: "negative timeout"},
		{name: "timeout above MaxDialTimeout", msg: &dialerv1.DialPeer{PeerId: []byte(id), Timeout: durationpb.New(2 * time.Minute)}, wantErr: "MaxDialTimeout"},
		{name: "malformed duration", msg: &dialerv1.DialPeer{PeerId: []byte(id), Timeout: &durationpb.Duration{Seconds: 1, Nanos: -1}}, wantErr: "timeout"},
		{name: "protocol id longer than multistream allows", msg: &dialerv1.DialPeer{PeerId: []byte(id), Protocol: longProto}, wantErr: "protocol id"},
		{name: "too many addresses", msg: &dialerv1.DialPeer{PeerId: []byte(id), Addresses: make([][]byte, 33)}, wantErr: "MaxAddresses"},
		{name: "malformed multiaddr bytes", msg: &dialerv1.DialPeer{PeerId: []byte(id), Addresses: [][]byte{{0x04, 0x7f}}}, wantErr: "address 0"},
		{name: "empty multiaddr bytes", msg: &dialerv1.DialPeer{PeerId: []byte(id), Addresses: [][]byte{{}}}, wantErr: "address 0"},
		{name: "a /p2p/ suffix naming the peer is removed",
			msg: &dialerv1.DialPeer{PeerId: []byte(id), Addresses: [][]byte{addrBytes("/ip4/127.0.0.1/tcp/1/p2p/" + id.String())}},
			check: func(t *testing.T, r Request) {
				if r.Addrs[0].String() != "/ip4/127.0.0.1/tcp/1" {
					t.Fatalf("address %v kept its /p2p/ part", r.Addrs[0])
				}
			}},
		{name: "a /p2p/ suffix naming another peer",
			msg:     &dialerv1.DialPeer{PeerId: []byte(id), Addresses: [][]byte{addrBytes("/ip4/127.0.0.1/tcp/1/p2p/" + other.String())}},
			wantErr: "names peer"},
		{name: "an address that is only /p2p/",
			msg:     &dialerv1.DialPeer{PeerId: []byte(id), Addresses: [][]byte{addrBytes("/p2p/" + id.String())}},
			wantErr: "no transport part"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r, err := ParseDialPeer(row.msg, DefaultConfig())
			if row.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), row.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidRequest mentioning %q", err, row.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			row.check(t, r)
		})
	}
}
