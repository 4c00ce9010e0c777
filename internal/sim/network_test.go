package sim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// received is one RPC read by the sink with the virtual time it arrived.
type received struct {
	from int
	rpc  *gossipsubv1.RPC
	at   time.Time
}

// TestWireFramesOverSimulatedLinks: three hosts on a simulated network with
// distinct per-link latencies; hosts 1 and 2 write gossipsub frames with
// wire.Writer to host 0, which reads them with wire.Reader. Every frame
// arrives intact and in order, no earlier than the link's one-way latency
// after it was written, and a large frame is paced by the link bandwidth.
func TestWireFramesOverSimulatedLinks(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		lat := map[[2]int]time.Duration{{0, 1}: 10 * time.Millisecond, {0, 2}: 80 * time.Millisecond, {1, 2}: 5 * time.Millisecond}
		nw, err := sim.New(t, sim.Config{
			Nodes: 3,
			LinkLatency: func(i, j int) time.Duration {
				return lat[[2]int{min(i, j), max(i, j)}]
			},
			BitsPerSecond: 10 * sim.Mbps,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan received, 64)
		nw.Hosts[0].SetStreamHandler(wire.ProtocolMeshsub12, func(s network.Stream) {
			from, _ := nw.Index(s.Conn().RemotePeer())
			r := wire.NewReader(s, wire.MaxFrameDefault)
			for {
				rpc := &gossipsubv1.RPC{}
				if err := r.ReadRPC(rpc); err != nil {
					_ = s.Close()
					return
				}
				got <- received{from: from, rpc: rpc, at: time.Now()}
			}
		})
		ctx := context.Background()
		for _, i := range []int{1, 2} {
			if err := nw.Connect(ctx, i, 0); err != nil {
				t.Fatal(err)
			}
		}
		const frames = 5
		for _, i := range []int{1, 2} {
			s, err := nw.Hosts[i].NewStream(ctx, nw.Hosts[0].ID(), wire.ProtocolMeshsub12)
			if err != nil {
				t.Fatalf("open stream %d → 0: %v", i, err)
			}
			// Let the stream's opening (multistream negotiation) settle so
			// that the latency measured below is one frame's trip.
			sim.Advance(time.Second)
			w := wire.NewWriter(s, wire.MaxFrameDefault)
			for k := range frames {
				sent := time.Now()
				rpc := &gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{{Subscribe: proto.Bool(true), Topicid: proto.String(fmt.Sprintf("t-%d-%d", i, k))}}}
				if err := w.Write(rpc); err != nil {
					t.Fatal(err)
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				r := <-got
				if r.from != i || !proto.Equal(r.rpc, rpc) {
					t.Fatalf("frame %d from %d: got %v from %d", k, i, r.rpc, r.from)
				}
				if d, min := r.at.Sub(sent), nw.Latency(i, 0); d < min {
					t.Fatalf("frame %d from %d arrived after %s, faster than the link latency %s", k, i, d, min)
				}
			}
			// A 512 KiB frame at 10 Mbps needs about 0.42 s on the wire.
			big := &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Topic: proto.String("big"), Data: make([]byte, 512<<10)}}}
			sent := time.Now()
			if err := w.Write(big); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			r := <-got
			if len(r.rpc.GetPublish()) != 1 || len(r.rpc.GetPublish()[0].GetData()) != 512<<10 {
				t.Fatalf("big frame from %d: got %d messages", i, len(r.rpc.GetPublish()))
			}
			if d := r.at.Sub(sent); d < 400*time.Millisecond {
				t.Fatalf("512 KiB at 10 Mbps arrived after %s: bandwidth not simulated", d)
			}
			_ = s.Close()
		}
	})
}

// TestTopologyIsSeeded: the same seed gives the same graph, every node of
// the dialing side reaches the degree, and a different seed differs.
func TestTopologyIsSeeded(t *testing.T) {
	graph := func(seed uint64) map[int]map[int]bool {
		var nb map[int]map[int]bool
		bubble.Test(t, func(t *testing.T) {
			nw, err := sim.New(t, sim.Config{Nodes: 8, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if nb, err = nw.Topology(context.Background(), sim.Range(0, 8), sim.Range(0, 8), 3, seed); err != nil {
				t.Fatal(err)
			}
			for i := range 8 {
				if len(nb[i]) < 3 {
					t.Fatalf("node %d has %d neighbours", i, len(nb[i]))
				}
				if c := len(nw.Hosts[i].Network().Peers()); c != len(nb[i]) {
					t.Fatalf("node %d connected to %d peers, topology says %d", i, c, len(nb[i]))
				}
			}
		})
		return nb
	}
	a, b, c := graph(7), graph(7), graph(8)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different graphs:\n%v\n%v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("different seeds, same graph: %v", a)
	}
}

// TestSharedIP: with Config.SharesIPWith, nodes 2 and 3 live at node 1's IP
// on ports of their own; they connect to node 0 and to each other, node 0
// sees them at node 1's IP (what IP colocation scoring reads), and the link
// latency is still each node's own.
func TestSharedIP(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		nw, err := sim.New(t, sim.Config{Nodes: 4, Latency: 20 * time.Millisecond, Jitter: -1,
			SharesIPWith: func(i int) int { return min(i, 1) }})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, e := range [][2]int{{1, 0}, {2, 0}, {3, 0}, {2, 3}} {
			if err := nw.Connect(ctx, e[0], e[1]); err != nil {
				t.Fatal(err)
			}
		}
		ip := func(a fmt.Stringer) string {
			s := a.String() // /ip4/<ip>/udp/<port>/quic-v1
			return strings.Split(s, "/")[2]
		}
		want := ip(nw.Hosts[1].Addrs()[0])
		for _, i := range []int{2, 3} {
			if got := ip(nw.Hosts[i].Addrs()[0]); got != want {
				t.Errorf("node %d listens at %s, want node 1's IP %s", i, got, want)
			}
			conns := nw.Hosts[0].Network().ConnsToPeer(nw.Hosts[i].ID())
			if len(conns) != 1 {
				t.Fatalf("node 0 has %d connections to node %d, want 1", len(conns), i)
			}
			if got := ip(conns[0].RemoteMultiaddr()); got != want {
				t.Errorf("node 0 sees node %d at %s, want %s", i, got, want)
			}
		}
		if nw.Hosts[2].Addrs()[0].Equal(nw.Hosts[3].Addrs()[0]) {
			t.Errorf("nodes 2 and 3 share an address %s", nw.Hosts[2].Addrs()[0])
		}
		if d := nw.Latency(2, 0); d != 20*time.Millisecond {
			t.Errorf("latency 2 → 0 is %s, want 20ms", d)
		}
	})
}
