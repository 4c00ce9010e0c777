package peermanager

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

// t0 is the test epoch; every test time is t0 plus an offset.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

var (
	idsMu sync.Mutex
	ids   = map[int]peer.ID{}
)

// pid returns the deterministic Ed25519 peer id number i.
func pid(i int) peer.ID {
	idsMu.Lock()
	defer idsMu.Unlock()
	if id, ok := ids[i]; ok {
		return id
	}
	_, pub, err := crypto.GenerateEd25519Key(rand.New(rand.NewSource(int64(i) + 1)))
	if err != nil {
		panic(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		panic(err)
	}
	ids[i] = id
	return id
}

// addr is /ip4/10.x.y.z/tcp/4000 for peer i, binary.
func addr(i int) []byte {
	return ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4000", (i>>16)&255, (i>>8)&255, i&255)).Bytes()
}

func maddr(i int) string {
	return fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4000/p2p/%s", (i>>16)&255, (i>>8)&255, i&255, pid(i))
}

const self = 0

func testConfig() Config {
	c := DefaultConfig()
	c.MaxConnections = 15 // 12 relay: 10 out, 2 in
	c.PeerStoreCapacity = 20
	return c
}

func newTestManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	m, err := NewManager(cfg, pid(self))
	if err != nil {
		t.Fatal(err)
	}
	m.MarkLoaded()
	return m
}

// peerOpt tweaks an entry set up by setPeer.
type peerOpt func(*entry)

func relay(e *entry) { e.protocols = []string{WakuRelayCodec}; e.relay = true }
func protos(p ...string) peerOpt {
	return func(e *entry) { e.protocols = p }
}
func failed(n uint32, ago time.Duration, now time.Time) peerOpt {
	return func(e *entry) {
		e.failedAttempts = n
		e.lastFailure = now.Add(-ago).UnixNano()
		e.connectedness = peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT
	}
}
func origin(o peerv1.Origin) peerOpt { return func(e *entry) { e.origin = o } }
func disconnectedAt(t time.Time) peerOpt {
	return func(e *entry) {
		e.disconnectTime = t.UnixNano()
		e.connectedness = peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT
	}
}
func shards(s ...uint32) peerOpt { return func(e *entry) { e.shards = s } }

// setPeer puts peer i in the books directly (not connected), with options.
func setPeer(m *Manager, i int, opts ...peerOpt) *entry {
	e := newEntry(pid(i))
	e.addrs, e.connectedness = [][]byte{addr(i)}, peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED
	for _, o := range opts {
		o(e)
	}
	e.relay = e.supports(m.isRelay)
	e.static = e.origin == peerv1.Origin_ORIGIN_STATIC
	e.persisted, e.seen = true, 2 // as if loaded from storage
	m.insert(e)
	return e
}

// connect delivers a PeerConnected for peer i.
func connect(m *Manager, i int, dir peerv1.Direction, ip string, now time.Time) Effects {
	return m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(pid(i)), Direction: dir, RemoteIp: ip}, now)
}

const (
	in  = peerv1.Direction_DIRECTION_INBOUND
	out = peerv1.Direction_DIRECTION_OUTBOUND
)

func dialedPeers(eff Effects) []peer.ID {
	var out []peer.ID
	for _, d := range eff.Dials {
		out = append(out, d.Peer)
	}
	return out
}

func ids_(is ...int) []peer.ID {
	out := make([]peer.ID, 0, len(is))
	for _, i := range is {
		out = append(out, pid(i))
	}
	return out
}

// counted reports how many times eff counts metric name with label.
func counted(eff Effects, name MetricName, label string) int {
	n := 0
	for _, op := range eff.Metrics {
		if op.Name == name && len(op.Labels) > 0 && op.Labels[0] == label && !op.Set {
			n += int(op.Value)
		}
	}
	return n
}
