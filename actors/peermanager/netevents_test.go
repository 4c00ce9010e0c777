package peermanager

import (
	"bytes"
	"context"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/internal/bubble"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

// Fakes of the three go-libp2p interfaces the adapter touches; each embeds
// the interface, so a method the adapter must not call panics.

type fakeConn struct {
	network.Conn
	remote peer.ID
	dir    network.Direction
	addr   ma.Multiaddr
	key    crypto.PubKey
	closed bool
}

func (c *fakeConn) RemotePeer() peer.ID            { return c.remote }
func (c *fakeConn) RemoteMultiaddr() ma.Multiaddr  { return c.addr }
func (c *fakeConn) RemotePublicKey() crypto.PubKey { return c.key }
func (c *fakeConn) IsClosed() bool                 { return c.closed }
func (c *fakeConn) Stat() network.ConnStats {
	return network.ConnStats{Stats: network.Stats{Direction: c.dir}}
}
func newFakeConn(i int, dir network.Direction) *fakeConn {
	return &fakeConn{remote: pid(i), dir: dir, addr: ma.StringCast("/ip4/10.0.0.7/tcp/4000")}
}

type fakeNet struct {
	network.Network
	mu        sync.Mutex
	notifiees []network.Notifiee
	conns     []network.Conn
}

func (f *fakeNet) Notify(n network.Notifiee) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notifiees = append(f.notifiees, n)
}

func (f *fakeNet) StopNotify(n network.Notifiee) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notifiees = slices.DeleteFunc(f.notifiees, func(x network.Notifiee) bool { return x == n })
}

func (f *fakeNet) Conns() []network.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.conns)
}

type fakeHost struct {
	host.Host
	net *fakeNet
	bus event.Bus
}

func (h *fakeHost) Network() network.Network { return h.net }
func (h *fakeHost) EventBus() event.Bus      { return h.bus }

// sink records what the adapter sends.
type sink struct {
	mu   sync.Mutex
	msgs []proto.Message
}

func (s *sink) send(m proto.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}

// take returns and clears what was sent.
func (s *sink) take() []proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.msgs
	s.msgs = nil
	return out
}

func TestNetEventsConnectionsPerPeer(t *testing.T) {
	a, b := newFakeConn(1, network.DirOutbound), newFakeConn(1, network.DirInbound)
	other := newFakeConn(2, network.DirInbound)
	tests := []struct {
		name    string
		initial []network.Conn // listed by the network when the adapter starts
		events  func(n *NetEvents)
		want    []string // "+i/dir" connected, "-i" disconnected
	}{
		{"the first connection reports PeerConnected with its direction", nil, func(n *NetEvents) {
			n.Connected(nil, a)
			n.Connected(nil, other)
		}, []string{"+1/out", "+2/in"}},
		{"a second connection of the peer reports nothing", nil, func(n *NetEvents) {
			n.Connected(nil, a)
			n.Connected(nil, b)
		}, []string{"+1/out"}},
		{"closing one of two reports nothing; closing the last reports PeerDisconnected", nil, func(n *NetEvents) {
			n.Connected(nil, a)
			n.Connected(nil, b)
			n.Disconnected(nil, a)
			n.Disconnected(nil, b)
		}, []string{"+1/out", "-1"}},
		{"the close of a connection never reported connected is ignored", nil, func(n *NetEvents) {
			n.Disconnected(nil, a)
		}, nil},
		{"a connection listed at start and notified again counts once", []network.Conn{a}, func(n *NetEvents) {
			n.Connected(nil, a) // the swarm lists a connection before it notifies it
			n.Disconnected(nil, a)
		}, []string{"+1/out", "-1"}},
		{"a duplicate close counts once", nil, func(n *NetEvents) {
			n.Connected(nil, a)
			n.Disconnected(nil, a)
			n.Disconnected(nil, a)
			n.Connected(nil, b)
		}, []string{"+1/out", "-1", "+1/in"}},
		{"a closed connection in the listing at start is skipped", []network.Conn{&fakeConn{remote: pid(3), closed: true,
			addr: ma.StringCast("/ip4/10.0.0.7/tcp/4000")}}, func(*NetEvents) {}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				s := &sink{}
				fh := &fakeHost{net: &fakeNet{conns: tt.initial}, bus: eventbus.NewBus()}
				n, err := startNetEvents(fh, s.send)
				if err != nil {
					t.Fatal(err)
				}
				tt.events(n)
				if err := n.Stop(); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range s.take() {
					switch m := m.(type) {
					case *pmv1.PeerConnected:
						dir := map[peerv1.Direction]string{in: "in", out: "out"}[m.Direction]
						got = append(got, "+"+peerIndex(m.PeerId)+"/"+dir)
						if m.RemoteIp != "10.0.0.7" || !bytes.Equal(m.RemoteAddr, a.addr.Bytes()) || m.Time == nil {
							t.Fatalf("PeerConnected %v: want remote IP, address and time", m)
						}
					case *pmv1.PeerDisconnected:
						got = append(got, "-"+peerIndex(m.PeerId))
					default:
						t.Fatalf("unexpected %T", m)
					}
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("sent %v, want %v", got, tt.want)
				}
				if len(fh.net.notifiees) != 0 {
					t.Fatal("Stop left the notifiee installed")
				}
			})
		})
	}
}

func isType[T proto.Message](m proto.Message) bool {
	_, ok := m.(T)
	return ok
}

// peerIndex maps an id of pid(1..9) back to its number, for readable rows.
func peerIndex(raw []byte) string {
	for i := 1; i <= 9; i++ {
		if peer.ID(raw) == pid(i) {
			return string(rune('0' + i))
		}
	}
	return "?"
}

// identifyRig starts the adapter on a fake host and returns where it sends,
// the adapter, and an emitter of identify events; both stop at cleanup.
func identifyRig(t *testing.T) (*sink, *NetEvents, event.Emitter) {
	t.Helper()
	s := &sink{}
	fh := &fakeHost{net: &fakeNet{}, bus: eventbus.NewBus()}
	n, err := startNetEvents(fh, s.send)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	em, err := fh.bus.Emitter(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close() })
	return s, n, em
}

func TestNetEventsIdentify(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		s, n, em := identifyRig(t)
		_, pub, _ := crypto.GenerateEd25519Key(rand.New(rand.NewSource(7)))
		c := newFakeConn(1, network.DirInbound)
		c.key = pub
		listen := ma.StringCast("/ip4/10.0.0.7/tcp/4001")
		ev := event.EvtPeerIdentificationCompleted{Peer: pid(1), Conn: c, AgentVersion: "nwaku/v0.36",
			ProtocolVersion: "ipfs/0.1.0", Protocols: []protocol.ID{WakuRelayCodec, "/ipfs/id/1.0.0"}, ListenAddrs: []ma.Multiaddr{listen}}

		// Identify on a connection already closed is dropped: the manager
		// must never see identify of a peer it does not have connected.
		closed := newFakeConn(1, network.DirInbound)
		closed.closed = true
		closedEv := ev
		closedEv.Conn = closed
		if err := em.Emit(closedEv); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := s.take(); len(got) != 0 {
			t.Fatalf("identify on a closed connection sent: %v", got)
		}

		// Identify that overtakes the swarm's Connected notification reports
		// the connection first; the late notification adds nothing.
		if err := em.Emit(ev); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		n.Connected(nil, c)
		got := s.take()
		if len(got) != 2 {
			t.Fatalf("sent %v, want PeerConnected then IdentifyCompleted", got)
		}
		if pc, ok := got[0].(*pmv1.PeerConnected); !ok || peer.ID(pc.PeerId) != pid(1) || pc.Direction != in {
			t.Fatalf("first message %v, want PeerConnected of peer 1, inbound", got[0])
		}
		id, ok := got[1].(*pmv1.IdentifyCompleted)
		if !ok {
			t.Fatalf("second message %T", got[1])
		}
		// Identify of a connected peer is sent as is; the close is reported.
		if err := em.Emit(ev); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		n.Disconnected(nil, c)
		if more := s.take(); len(more) != 2 || !isType[*pmv1.IdentifyCompleted](more[0]) || !isType[*pmv1.PeerDisconnected](more[1]) {
			t.Fatalf("then sent %v, want IdentifyCompleted and PeerDisconnected", more)
		}
		wantKey, _ := crypto.MarshalPublicKey(pub)
		if peer.ID(id.PeerId) != pid(1) || id.Agent != "nwaku/v0.36" || id.ProtocolVersion != "ipfs/0.1.0" ||
			!slices.Equal(id.Protocols, []string{WakuRelayCodec, "/ipfs/id/1.0.0"}) || id.RemoteIp != "10.0.0.7" ||
			len(id.ListenAddrs) != 1 || !bytes.Equal(id.ListenAddrs[0], listen.Bytes()) ||
			!bytes.Equal(id.PublicKey, wantKey) || id.Time == nil {
			t.Fatalf("IdentifyCompleted %v", id)
		}
	})
}

// TestNetEventsSanitisesIdentifyStrings (issue 10, item 6): identify's
// agent, version and protocols are the peer's bytes; the adapter hands on
// valid UTF-8 only (invalid sequences replaced, invalid protocol ids
// dropped), so the message, and the record built from it, encodes.
func TestNetEventsSanitisesIdentifyStrings(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		s, n, em := identifyRig(t)
		c := newFakeConn(1, network.DirInbound)
		n.Connected(nil, c)
		if err := em.Emit(event.EvtPeerIdentificationCompleted{Peer: pid(1), Conn: c, AgentVersion: "agent\xff/1",
			ProtocolVersion: "v\xc3", Protocols: []protocol.ID{WakuRelayCodec, "/bad\xfe/1"}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got := s.take()
		id, ok := got[len(got)-1].(*pmv1.IdentifyCompleted)
		if !ok {
			t.Fatalf("sent %v", got)
		}
		if id.Agent != "agent\uFFFD/1" || id.ProtocolVersion != "v\uFFFD" || !slices.Equal(id.Protocols, []string{WakuRelayCodec}) {
			t.Fatalf("IdentifyCompleted %v", id)
		}
		if _, err := proto.Marshal(id); err != nil {
			t.Fatalf("the message does not encode: %v", err)
		}
	})
}

// TestNetEventsRealHosts runs the adapter and HostNetwork on real go-libp2p
// hosts on 127.0.0.1: directions, the remote IP, identify's protocols and
// agent, stream counts by direction, the connection list and ClosePeer.
func TestNetEventsRealHosts(t *testing.T) {
	const testProto = "/peermesh/test/1.0.0"
	msgs := make(chan proto.Message, 64)
	a := newHost(t, false)
	n, err := startNetEvents(a, func(m proto.Message) { msgs <- m })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	b, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.UserAgent("peermesh-test/1"),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	b.SetStreamHandler(WakuRelayCodec, func(s network.Stream) { _ = s.Close() })
	release := make(chan struct{})
	b.SetStreamHandler(testProto, func(s network.Stream) { <-release; _ = s.Close() })
	t.Cleanup(func() { close(release) })

	// await returns the first message for id of type T, bounded in time.
	await := func(what string, match func(proto.Message) bool) proto.Message {
		t.Helper()
		timeout := time.After(waitTimeout)
		for {
			select {
			case m := <-msgs:
				if match(m) {
					return m
				}
			case <-timeout:
				t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	conn := await("PeerConnected of b", func(m proto.Message) bool {
		c, ok := m.(*pmv1.PeerConnected)
		return ok && peer.ID(c.PeerId) == b.ID()
	}).(*pmv1.PeerConnected)
	if conn.Direction != out || conn.RemoteIp != "127.0.0.1" {
		t.Fatalf("PeerConnected %v: want outbound from 127.0.0.1", conn)
	}
	// The first identify may carry a snapshot of b's protocols taken before
	// its handlers were set (go-libp2p updates it asynchronously); identify
	// push then brings the rest.
	id := await("IdentifyCompleted of b with the relay protocol", func(m proto.Message) bool {
		c, ok := m.(*pmv1.IdentifyCompleted)
		return ok && peer.ID(c.PeerId) == b.ID() && slices.Contains(c.Protocols, WakuRelayCodec)
	}).(*pmv1.IdentifyCompleted)
	if !slices.Contains(id.Protocols, WakuRelayCodec) || id.Agent != "peermesh-test/1" || id.RemoteIp != "127.0.0.1" ||
		len(id.ListenAddrs) == 0 || len(id.PublicKey) == 0 {
		t.Fatalf("IdentifyCompleted %v", id)
	}

	c := newHost(t, false)
	if err := c.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if in := await("PeerConnected of c", func(m proto.Message) bool {
		c2, ok := m.(*pmv1.PeerConnected)
		return ok && peer.ID(c2.PeerId) == c.ID()
	}).(*pmv1.PeerConnected); in.Direction != peerv1.Direction_DIRECTION_INBOUND {
		t.Fatalf("PeerConnected %v: want inbound", in)
	}

	s, err := a.NewStream(ctx, b.ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Negotiation is lazy: b sees the stream once a first byte is written.
	if _, err := s.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if in, out := (HostNetwork{a}).NumStreams(testProto); in != 0 || out != 1 {
		t.Fatalf("a's %s streams in %d out %d, want 0/1", testProto, in, out)
	}
	waitFor(t, "b to count the inbound stream", func() bool {
		in, out := HostNetwork{b}.NumStreams(testProto)
		return in == 1 && out == 0
	})
	live := HostNetwork{a}.Connections()
	var listed []peer.ID
	for _, e := range live {
		listed = append(listed, peer.ID(e.PeerId))
	}
	if slices.Sort(listed); len(listed) != 2 || !slices.Contains(listed, b.ID()) || !slices.Contains(listed, c.ID()) {
		t.Fatalf("Connections listed %v, want b and c", listed)
	}

	if err := (HostNetwork{a}).ClosePeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	await("PeerDisconnected of b", func(m proto.Message) bool {
		d, ok := m.(*pmv1.PeerDisconnected)
		return ok && peer.ID(d.PeerId) == b.ID()
	})
}
