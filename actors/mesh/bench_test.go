package mesh

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func benchTopic(b *testing.B, n int) *Topic {
	tp := newTopic(b, DefaultConfig(ProfileWaku))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		tp.AddPeer(t0, PeerAttrs{ID: pid(i), Outbound: i%3 == 0, Score: r.Float64() * 10,
			Features: Features{PX: true, Backoff: true, IDontWant: true}})
	}
	return tp
}

// BenchmarkRebalanceMesh measures RebalanceMesh over 100 topic peers: "graft"
// fills an empty mesh to D, "prune" brings a mesh of all 100 down to D. The
// reset between iterations is included.
func BenchmarkRebalanceMesh(b *testing.B) {
	reset := func(tp *Topic) {
		for _, ps := range tp.mesh {
			ps.inMesh = false
		}
		tp.mesh = tp.mesh[:0]
		clear(tp.backoff.until)
	}
	b.Run("graft", func(b *testing.B) {
		tp := benchTopic(b, 100)
		tp.joined = true
		b.ReportAllocs()
		for b.Loop() {
			reset(tp)
			tp.RebalanceMesh(t0)
		}
	})
	b.Run("prune", func(b *testing.B) {
		tp := benchTopic(b, 100)
		tp.joined = true
		b.ReportAllocs()
		for b.Loop() {
			reset(tp)
			for _, ps := range tp.order {
				ps.inMesh = true
				tp.mesh = append(tp.mesh, ps)
			}
			tp.RebalanceMesh(t0)
		}
	})
}

// BenchmarkHeartbeat measures one heartbeat of a joined topic with 100 peers
// and a full mesh, after 10 new messages (gossip to max(Dlazy, 25%) peers,
// mcache shift, seen expiry, counter refresh).
func BenchmarkHeartbeat(b *testing.B) {
	tp := benchTopic(b, 100)
	tp.Join(t0)
	ids := benchIDs(1 << 12)
	m := msg(100)
	now := t0
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		for range 10 {
			tp.Publish(now, ids[i%len(ids)], m)
			i++
		}
		now = now.Add(time.Second)
		tp.Heartbeat(now)
		if i%len(ids) == 0 {
			now = now.Add(5 * time.Minute) // let the seen cache expire before ids repeat
		}
	}
}

// BenchmarkForward measures the forward path of one message through the
// core: HandleMessage (seen check, IDONTWANT to the mesh, validation request)
// then HandleValidated(accept) (counters, delivery, mcache, forward to D−1
// mesh peers), with 100 topic peers. A heartbeat every 1,000 messages keeps
// the caches in their steady state and is included.
func BenchmarkForward(b *testing.B) {
	tp := benchTopic(b, 100)
	tp.Join(t0)
	ids := benchIDs(1 << 14)
	m := msg(2048)
	mesh := tp.MeshPeers()
	now := t0
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		id := ids[i%len(ids)]
		tp.HandleMessage(now, mesh[i%len(mesh)], id, m)
		tp.HandleValidated(now, id, ValidationAccept)
		i++
		if i%1000 == 0 {
			now = now.Add(time.Second)
			tp.Heartbeat(now)
		}
		if i%len(ids) == 0 {
			now = now.Add(5 * time.Minute)
			tp.Heartbeat(now)
		}
	}
}

// benchIDs returns n distinct message ids, made before the timed loop.
func benchIDs(n int) []MessageID {
	ids := make([]MessageID, n)
	for i := range ids {
		ids[i] = MessageID(fmt.Sprintf("msg-%08d", i))
	}
	return ids
}
