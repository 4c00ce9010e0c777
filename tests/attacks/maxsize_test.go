package attacks

import (
	"flag"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	"github.com/peermesh/peermesh/wire"
)

var maxSizeFull = flag.Bool("maxsize.full", false, "R10: 150 KiB messages at 10/s for 10 virtual minutes (default: 3 s)")

// TestMaxSizeMessagesAtRate (b.40 R10): five honest nodes publish messages
// of the largest size a Waku frame carries (150 KiB less 1 KiB for the
// envelope) at 10 per second (one every 100 ms), round robin, for 3 s of protocol time (10
// minutes with -maxsize.full). Every node gets every message, nothing is
// dropped anywhere (outbound queues, expiry, topic mailboxes, inbound),
// IDONTWANT is sent for them (or left out of a frame that carries the
// message itself), and the heap stays bounded. The
// bandwidth each node wrote and the delivery latency are logged.
func TestMaxSizeMessagesAtRate(t *testing.T) {
	seconds := 3
	if *maxSizeFull {
		seconds = 600
	}
	bubble.Test(t, func(t *testing.T) {
		// The attacker is a plain mesh member of node 0 here: it counts the
		// IDONTWANTs node 0 sends it.
		c := newCluster(t, setup{honest: 5, profile: wire.ProfileWaku, attacker: attacker.Config{Join: []string{topic}, MaxRecorded: 1}})
		target := c.meshAttacker(0)
		const size, perSecond = wire.MaxFrameWaku - 1<<10, 10
		before, peak := heap(), uint64(0)
		start := time.Now()
		var published []string
		for s := range seconds {
			var batch []string
			for k := range perSecond { // one every 100 ms: a rate, not a burst
				batch = append(batch, c.PublishSized((s*perSecond+k)%len(c.Nodes), 1, size)...)
				sim.Advance(time.Second / perSecond)
				c.Collect() // stamps deliveries to 100 ms
			}
			c.Tick()
			c.ExpectDelivered(batch, deliveryTimeout)
			for _, d := range batch {
				published = append(published, sim.Key(d))
			}
			peak = max(peak, heap())
		}
		elapsed := time.Since(start)
		maxLatency, p99 := c.Latency(published)
		idontwant := c.atk.Record(target).IDontWantIDs
		var written, drops, saved, elided float64
		for i := range c.Nodes {
			written += c.Metric(i, "libp2p_pubsub_written_bytes_total")
			saved += c.Metric(i, "libp2p_gossipsub_idontwant_saved_messages")
			elided += c.Metric(i, "libp2p_gossipsub_idontwant_elided_total")
			for _, m := range []string{"libp2p_pubsub_queue_drops_total", "libp2p_pubsub_queue_expired_total",
				"libp2p_gossipsub_topic_mailbox_drops_total", "libp2p_pubsub_inbound_drops_total"} {
				drops += c.Metric(i, m)
			}
		}
		t.Logf("%d messages of %d KiB in %s: p99 %s, max %s (to 100 ms); %.1f Mbit/s written per node; IDONTWANT: node 0 sent %d ids to one peer, %v left out of frames carrying the message itself, %v sends saved; heap peak +%d MiB",
			len(published), size>>10, elapsed.Round(time.Second), p99, maxLatency,
			written*8/elapsed.Seconds()/float64(len(c.Nodes))/1e6, idontwant, elided, saved, (peak-min(peak, before))>>20)
		if drops != 0 {
			t.Errorf("%v items dropped at honest nodes", drops)
		}
		// Every received message of 1 KiB or more gets an IDONTWANT to each
		// mesh peer, except where the frame carries the message itself (the
		// copy says it better: the session's withoutSent).
		if float64(idontwant)+elided < float64(len(published)) {
			t.Errorf("IDONTWANT for 149 KiB messages: %d sent to the mesh peer, %v elided, for %d messages", idontwant, elided, len(published))
		}
		// Five nodes' message caches, seen caches and queues of 149 KiB
		// messages, in one process.
		if peak > before && peak-before > 128<<20 {
			t.Errorf("heap grew by %d MiB", (peak-before)>>20)
		}
	})
}
