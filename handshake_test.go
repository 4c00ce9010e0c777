package peermesh

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/peermesh/peermesh/actortest"
)

// TestHandshakeLimiterBoundsEachIP: an IP with maxHandshakesPerIP inbound
// connections negotiating gets no more until one authenticates or closes;
// other IPs and outbound connections are not affected.
func TestHandshakeLimiterBoundsEachIP(t *testing.T) {
	m, err := newHandshakeMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	l := newHandshakeLimiter(&network.NullResourceManager{}, 3, m)
	from := func(ip string) ma.Multiaddr { return ma.StringCast("/ip4/" + ip + "/tcp/4001") }
	var scopes []network.ConnManagementScope
	for range 3 {
		s, err := l.OpenConnection(network.DirInbound, true, from("10.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		scopes = append(scopes, s)
	}
	if _, err := l.OpenConnection(network.DirInbound, true, from("10.0.0.1")); !errors.Is(err, network.ErrResourceLimitExceeded) {
		t.Fatalf("4th negotiating connection from one IP: %v", err)
	}
	if _, err := l.OpenConnection(network.DirInbound, true, from("10.0.0.2")); err != nil {
		t.Fatalf("another IP: %v", err)
	}
	if _, err := l.OpenConnection(network.DirOutbound, true, from("10.0.0.1")); err != nil {
		t.Fatalf("outbound: %v", err)
	}
	_ = scopes[0].SetPeer("authenticated")
	scopes[0].Done() // releases once, not twice
	scopes[1].Done()
	if n := l.negotiating(netip.MustParseAddr("10.0.0.1")); n != 1 {
		t.Fatalf("%d negotiating after one authenticated and one closed, want 1", n)
	}
	if _, err := l.OpenConnection(network.DirInbound, true, from("10.0.0.1")); err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	if v := testutil.ToFloat64(m.refused); v != 1 {
		t.Fatalf("refused %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.inProgress); v != 3 {
		t.Fatalf("in progress %v, want 3 (2 from 10.0.0.1, 1 from 10.0.0.2)", v)
	}
}

// multistreamHeader is what the flood sends: the multistream-select
// protocol line, length-prefixed, and then nothing.
var multistreamHeader = append([]byte{19}, "/multistream/1.0.0\n"...)

// stall opens a TCP connection from src to addr, sends only the multistream
// header and returns the connection.
func stall(ctx context.Context, src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(multistreamHeader); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func tcpAddr(t *testing.T, n *Node) string {
	t.Helper()
	for _, a := range n.Host().Addrs() {
		if s, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			ip, _ := a.ValueForProtocol(ma.P_IP4)
			return net.JoinHostPort(ip, s)
		}
	}
	t.Fatal("no TCP address")
	return ""
}

// TestStalledHandshakeIsClosedAfterTimeout (issue 10, item 9): an inbound
// connection that sends the multistream header and stops is closed after
// handshakeTimeout (5 s), not go-libp2p's 15 s.
func TestStalledHandshakeIsClosedAfterTimeout(t *testing.T) {
	n, err := newNode(testConfig("a"), deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	c, err := stall(context.Background(), "127.0.0.1", tcpAddr(t, n))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(14 * time.Second))
	buf := make([]byte, 256)
	for {
		if _, err := c.Read(buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				break
			}
			t.Fatalf("after %s: %v (the stalled handshake was not closed)", time.Since(start), err)
		}
	}
	if d := time.Since(start); d < handshakeTimeout-time.Second || d > handshakeTimeout+5*time.Second {
		t.Fatalf("stalled handshake closed after %s, want about %s", d, handshakeTimeout)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestInboundFloodLeavesRoomForHonestPeers (issue 10, item 9): 300
// connections from one IP that only send the multistream header, reopened
// as soon as they are closed, do not keep an honest peer out: at most 8
// negotiate at once, each for at most 5 s, and the honest node, whose
// static node is under the flood, connects (its connectivity loop retries a
// dial the flood reset or refused).
func TestInboundFloodLeavesRoomForHonestPeers(t *testing.T) {
	sys := actortest.NewSystem(t)
	victimCfg := testConfig("victim")
	victim, err := newNode(victimCfg, deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Close(context.Background()) })
	if _, err := victim.Spawn(sys.Root); err != nil {
		t.Fatal(err)
	}
	target := tcpAddr(t, victim)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	for range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace := time.NewTicker(100 * time.Millisecond) // redial pacing of the flood, not a wait for behaviour
			defer pace.Stop()
			for ctx.Err() == nil {
				if c, err := stall(ctx, "127.0.0.2", target); err == nil {
					_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
					_, _ = io.Copy(io.Discard, c) // until the victim closes it
					_ = c.Close()
				}
				select {
				case <-ctx.Done():
				case <-pace.C:
				}
			}
		}()
	}
	// The flood is on: its connections from 127.0.0.2 reach the bound.
	waitUntil(t, 10*time.Second, "the flood to reach the per-IP bound", func() bool {
		return victim.Host().Network().ResourceManager().(*handshakeLimiter).negotiating(netip.MustParseAddr("127.0.0.2")) == maxHandshakesPerIP
	})

	honestCfg := testConfig("honest")
	honestCfg.StaticNodes = victim.Addrs()[:1]
	honest, err := newNode(honestCfg, deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = honest.Close(context.Background()) })
	if _, err := honest.Spawn(sys.Root); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the honest node connected to its static node under the flood", func() bool {
		return honest.Host().Network().Connectedness(victim.ID()) == network.Connected
	})
	if n := victim.Host().Network().ResourceManager().(*handshakeLimiter).negotiating(netip.MustParseAddr("127.0.0.2")); n > maxHandshakesPerIP {
		t.Fatalf("%d flood connections negotiating, bound %d", n, maxHandshakesPerIP)
	}
}
