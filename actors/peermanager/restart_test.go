package peermanager

import (
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// tarpit is a TCP listener that accepts connections and never answers: a
// dial to it stays in flight until its timeout. It counts the connections.
type tarpit struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newTarpit(t *testing.T) *tarpit {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tarpit{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tp.mu.Lock()
			tp.conns = append(tp.conns, c)
			tp.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		tp.mu.Lock()
		defer tp.mu.Unlock()
		for _, c := range tp.conns {
			_ = c.Close()
		}
	})
	return tp
}

func (tp *tarpit) accepted() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.conns)
}

// addr is the tarpit's multiaddr with a made-up peer id.
func (tp *tarpit) addr(t *testing.T) string {
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", tp.l.Addr().(*net.TCPAddr).Port, id)
}

// TestIntegrationRestartWithDialsInFlight (reliability case F9): the peer
// manager is restarted by its supervisor while its round's 10 dials are in
// flight — 5 to reachable relay peers, 5 to peers that accept TCP and never
// answer (so their dials are certainly still running). The restarted
// manager reloads the store, adopts what the old one's dials connected, and
// no dial is lost (every reachable peer ends connected, outbound, and the
// manager has no dial left in flight once the stalled ones time out) or
// doubled (each peer got exactly one connection: the pool joins the new
// manager's dial to the one still running).
func TestIntegrationRestartWithDialsInFlight(t *testing.T) {
	cfg := liveConfig()
	cfg.DialTimeout = 3 * time.Second
	n := startLiveNode(t, cfg)
	var reachable []host.Host
	for range 5 {
		h := newHost(t, true)
		reachable = append(reachable, h)
		n.addRelayPeer(hostAddr(h))
	}
	var pits []*tarpit
	for range 5 {
		tp := newTarpit(t)
		pits = append(pits, tp)
		n.addRelayPeer(tp.addr(t))
	}
	n.tick(time.Now())
	waitFor(t, "every tarpit dialed", func() bool {
		for _, tp := range pits {
			if tp.accepted() == 0 {
				return false
			}
		}
		return true
	})
	proc, _ := n.sys.ProcessRegistry.Get(n.pm)
	proc.SendSystemMessage(n.pm, &actor.Restart{})
	waitFor(t, "the restarted manager loaded its store, the reachable peers connected, no dial in flight", func() bool {
		n.tick(time.Now())
		st := n.status()
		return st.Loaded && st.PeerStoreSize == 10 && st.OutRelayPeers == 5 && st.DialsInFlight == 0
	})
	for i, r := range reachable {
		if c := len(r.Network().ConnsToPeer(n.h.ID())); c != 1 {
			t.Errorf("reachable peer %d has %d connections from the node, want 1", i, c)
		}
	}
	for i, tp := range pits {
		if a := tp.accepted(); a != 1 {
			t.Errorf("stalled peer %d was dialed %d times within its backoff, want once", i, a)
		}
	}
	t.Logf("status after the restart: %v", n.status())
}
