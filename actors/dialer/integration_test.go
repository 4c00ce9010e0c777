package dialer

import (
	"context"
	"crypto/rand"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/peermesh/peermesh/actortest"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// Integration tests: real go-libp2p hosts on 127.0.0.1 only, wall clock,
// every wait bounded.

func newLoopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
		libp2p.ResourceManager(&network.NullResourceManager{}),
	)
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func randomPeer(t *testing.T) peer.ID {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// countingDialer wraps a Dialer and records the most dials seen at once.
type countingDialer struct {
	Dialer
	running concurrency
}

func (c *countingDialer) Dial(ctx context.Context, p peer.ID, addrs []ma.Multiaddr, protocol string) error {
	c.running.enter()
	defer c.running.leave()
	return c.Dialer.Dial(ctx, p, addrs, protocol)
}

// TestLibp2pDialsToClosedPortsStayUnderTheCap dials 50 loopback ports that
// nothing listens on with the real libp2p host: never more than 10 dials at
// once, every request answered exactly once and REFUSED (the kernel's reset
// travels through the swarm's error to Classify), in bounded time.
func TestLibp2pDialsToClosedPortsStayUnderTheCap(t *testing.T) {
	const n = 50
	h := newLoopbackHost(t)
	d := &countingDialer{Dialer: NewLibp2pDialer(h)}
	sys := actortest.NewSystem(t)
	reg := prometheus.NewRegistry()
	pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Dialer: d, Registerer: reg}))
	p := actortest.NewProbe(t, sys)

	ports := closedPorts(t, n)
	goroutines, fds := runtime.NumGoroutine(), openFiles(t)
	start := time.Now()
	want := map[peer.ID]bool{}
	for _, port := range ports {
		id := randomPeer(t)
		want[id] = true
		addr := ma.StringCast("/ip4/127.0.0.1/tcp/" + strconv.Itoa(port))
		p.Request(pid, &dialerv1.DialPeer{
			PeerId: []byte(id), Addresses: [][]byte{addr.Bytes()},
			Source: dialerv1.DialSource_DIAL_SOURCE_PX, // default timeout: 10 s
		})
	}
	for _, got := range actortest.ReceiveN[*dialerv1.DialCompleted](p, n, 60*time.Second) {
		id := peer.ID(got.GetPeerId())
		if !want[id] {
			t.Fatalf("answer for %s: unknown or answered twice", id)
		}
		delete(want, id)
		if got.GetOutcome() != refused {
			t.Errorf("dial to a closed port: %v (%s), want REFUSED", got.GetOutcome(), got.GetReason())
		}
		if got.GetReason() == "" {
			t.Errorf("answer for %s has no reason", id)
		}
	}
	p.ExpectNoMessage(200 * time.Millisecond)
	if m := d.running.peak(); m > 10 || m < 1 {
		t.Fatalf("observed %d dials in flight, want 1..10", m)
	}
	// 50 dials, 10 at a time, each bounded by its 10 s timeout: 50 s at the
	// very worst; refusals on loopback take milliseconds.
	if took := time.Since(start); took > 55*time.Second {
		t.Fatalf("50 refused dials took %s", took)
	}
	wantMetric(t, reg, n, "waku_peers_dials", "outcome", "refused")
	// Reliability case R8: the refused dials leave no socket and no
	// goroutine behind (the swarm's dial workers end with their dials).
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	g, f := runtime.NumGoroutine(), openFiles(t)
	for (g > goroutines+2 || f > fds) && time.Now().Before(deadline) {
		<-tick.C
		g, f = runtime.NumGoroutine(), openFiles(t)
	}
	if g > goroutines+2 || f > fds {
		t.Fatalf("after 50 refused dials: %d goroutines (%d before), %d open files (%d before)", g, goroutines, f, fds)
	}
	t.Logf("50 closed ports: max %d in flight, %s; goroutines %d → %d, open files %d → %d",
		d.running.peak(), time.Since(start), goroutines, g, fds, f)
}

// openFiles counts the process's open file descriptors (/proc/self/fd;
// -1 where there is no /proc, which then never counts as a leak).
func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// TestLibp2pDialChecksTheProtocol dials a real listening host: without a
// protocol, with one it serves (CONNECTED) and with one it does not
// (REFUSED, the negotiation failed).
func TestLibp2pDialChecksTheProtocol(t *testing.T) {
	const served = "/peermesh/test/1.0.0"
	server := newLoopbackHost(t)
	server.SetStreamHandler(served, func(s network.Stream) { _ = s.Close() })
	client := newLoopbackHost(t)
	sys := actortest.NewSystem(t)
	pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Dialer: NewLibp2pDialer(client)}))
	p := actortest.NewProbe(t, sys)

	var addrs [][]byte
	for _, a := range server.Addrs() {
		addrs = append(addrs, a.Bytes())
	}
	ask := func(protocol string) *dialerv1.DialCompleted {
		t.Helper()
		p.Request(pid, &dialerv1.DialPeer{PeerId: []byte(server.ID()), Addresses: addrs, Protocol: protocol,
			Timeout: durationpb.New(10 * time.Second)})
		return actortest.ExpectWithin[*dialerv1.DialCompleted](p, 20*time.Second)
	}
	if got := ask(""); got.GetOutcome() != connected {
		t.Fatalf("plain dial: %v (%s)", got.GetOutcome(), got.GetReason())
	}
	if got := ask(""); got.GetOutcome() != connected || got.GetDuration().AsDuration() != 0 {
		t.Fatalf("dial of a connected peer: %v after %v, want CONNECTED at once", got.GetOutcome(), got.GetDuration().AsDuration())
	}
	if got := ask(served); got.GetOutcome() != connected || got.GetProtocol() != served {
		t.Fatalf("dial with a served protocol: %v (%s)", got.GetOutcome(), got.GetReason())
	}
	if got := ask("/peermesh/unknown/1.0.0"); got.GetOutcome() != refused {
		t.Fatalf("dial with an unserved protocol: %v (%s), want REFUSED", got.GetOutcome(), got.GetReason())
	}
	p.Request(pid, &dialerv1.DialPeer{PeerId: []byte(client.ID())})
	if got := actortest.Expect[*dialerv1.DialCompleted](p); got.GetOutcome() != dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED {
		t.Fatalf("dialing self with the real host: %v, want REJECTED", got.GetOutcome())
	}
}
