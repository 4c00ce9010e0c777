package attacks

import (
	"context"
	"runtime"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/wire"
)

// TestStreamFlood (b.33 R3): a peer opens 1,000 pubsub streams to node 0
// in turn, each with a subscription. Node 0 keeps one inbound stream per
// peer — each new one replaces (resets) the one before — so it ends with
// one session for the peer, the peer's subscription, one inbound stream of
// the peer open, and as many goroutines as after the first stream; honest
// delivery goes on.
func TestStreamFlood(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 3, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		c.send(target, attacker.SubscribeRPC(true, topic))
		c.Heartbeats(1)
		sessions := c.Metric(0, "libp2p_pubsub_peers")
		runtime.GC()
		base := runtime.NumGoroutine()
		const streams = 1000
		for k := range streams {
			if err := c.atk.OpenAnother(context.Background(), target); err != nil {
				t.Fatalf("stream %d: %v", k, err)
			}
			c.send(target, attacker.SubscribeRPC(true, topic))
			if k%100 == 99 {
				c.Heartbeats(1)
			}
		}
		c.Heartbeats(2)
		open := 0
		for _, conn := range c.nw.Hosts[0].Network().ConnsToPeer(c.atk.ID()) {
			for _, st := range conn.GetStreams() {
				if st.Stat().Direction == network.DirInbound && st.Protocol() == wire.ProtocolWakuRelay {
					open++
				}
			}
		}
		if open != 1 {
			t.Errorf("node 0 holds %d inbound pubsub streams of the peer, want 1", open)
		}
		runtime.GC()
		now := runtime.NumGoroutine()
		t.Logf("%d streams from one peer: %d goroutines after the first, %d after the last; sessions %v", streams, base, now, c.Metric(0, "libp2p_pubsub_peers"))
		if now > base+base/20+2 {
			t.Errorf("%d goroutines after %d streams, %d after the first", now, streams, base)
		}
		if s := c.Metric(0, "libp2p_pubsub_peers"); s != sessions {
			t.Errorf("%v sessions after the flood, %v before", s, sessions)
		}
		if !c.subscribedAt(0, topic, c.atk.ID()) {
			t.Error("node 0 lost the subscription the peer's last stream carried")
		}
		c.ExpectDelivered(c.Publish(5), deliveryTimeout)
	})
}

// TestOutboundRetryCap (b.33 R3): a peer resets every stream node 0 opens
// to it. Node 0 reopens its stream at most Session.MaxOutboundReopens times
// in a row, then ends the session and restarts it a bounded number of times:
// over two virtual minutes it opens a bounded number of streams and then
// stops trying, while the peer stays connected.
func TestOutboundRetryCap(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 3, profile: wire.ProfileWaku, attacker: attacker.Config{ResetInbound: true}})
		target := c.connectAttacker(0)
		c.send(target, attacker.SubscribeRPC(true, topic))
		var opened []int
		for range 120 {
			c.Heartbeats(1)
			opened = append(opened, c.atk.Record(target).InboundStreams)
		}
		last := opened[len(opened)-1]
		t.Logf("streams node 0 opened to a peer that resets each: %d after 10 s, %d after 60 s, %d after 120 s", opened[9], opened[59], last)
		if last > 20 {
			t.Errorf("node 0 opened %d streams to a peer that resets every one", last)
		}
		if opened[59] != last {
			t.Errorf("node 0 still opens streams after a minute: %d at 60 s, %d at 120 s", opened[59], last)
		}
		if c.atk.Host().Network().Connectedness(target) != 1 { // network.Connected
			t.Error("the peer was disconnected")
		}
		c.ExpectDelivered(c.Publish(5), deliveryTimeout)
	})
}
