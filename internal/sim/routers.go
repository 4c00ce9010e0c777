package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// HonestPrefix starts the data of every message Routers.Publish makes, so a
// delivery check can tell honest messages from anything an attacker injects.
const HonestPrefix = "honest-"

// PublisherMark precedes the publishing node's index at the end of the data
// of every message Routers.Publish makes.
const PublisherMark = "-from-"

// Node is one peermesh router on a host of a Network.
type Node struct {
	// Index is the node's index in Routers.Nodes.
	Index  int
	ID     peer.ID
	Config router.Config
	Router *actor.PID
	// Registry holds the router's metrics.
	Registry *prometheus.Registry
	// API receives answers to requests; Sub is the topic's local subscriber.
	API, Sub *actortest.Probe
}

// Routers are honest peermesh nodes on some hosts of a Network, all joined
// to one topic, driven by the test's heartbeats.
type Routers struct {
	Sys   *actor.ActorSystem
	Nodes []*Node
	Topic string

	tb  testing.TB
	rng *rand.Rand
	seq int
	// publishedAt is when Publish sent each message; got[i] when node i's
	// subscriber received it (as seen by Collect or ExpectDelivered).
	publishedAt map[string]time.Time
	got         []map[string]time.Time
	start       time.Time // when StartRouters began, for diagnose's times
}

// StartRouters spawns a router (router.DefaultConfig(profile), a fresh one
// per node, with its own metrics registry) on each of hosts (simulated, e.g.
// Network.Pick, or LoopbackHost), joins topic and subscribes a probe to it.
// Node i of the result runs on hosts[i]; the hosts are not connected.
// Each configure function may change every node's configuration before its
// router starts (e.g. a profile's optional score parameters).
func StartRouters(tb testing.TB, hosts []host.Host, profile wire.Profile, topic string, seed uint64, configure ...func(*router.Config)) *Routers {
	tb.Helper()
	r := &Routers{Sys: actortest.NewSystem(tb), Topic: topic, tb: tb, rng: rand.New(rand.NewPCG(seed, 0xb0b)),
		publishedAt: map[string]time.Time{}, start: time.Now()}
	for i, h := range hosts {
		n := &Node{Index: i, ID: h.ID(), Config: router.DefaultConfig(profile), Registry: prometheus.NewRegistry(),
			API: actortest.NewProbe(tb, r.Sys), Sub: actortest.NewProbe(tb, r.Sys)}
		for _, f := range configure {
			f(&n.Config)
		}
		n.Router = r.Sys.Root.Spawn(router.Props(n.Config, router.Deps{Host: h, Registerer: n.Registry}))
		tb.Cleanup(func() { _ = r.Sys.Root.StopFuture(n.Router).Wait() })
		if j := Request[*pubsubv1.Joined](n, &pubsubv1.Join{Topic: topic}); j.GetError() != "" {
			tb.Fatalf("sim: node %d join: %s", i, j.GetError())
		}
		n.Sub.Request(n.Router, &pubsubv1.Subscribe{Topic: topic})
		actortest.Expect[*pubsubv1.Subscribed](n.Sub)
		r.Nodes = append(r.Nodes, n)
		r.got = append(r.got, map[string]time.Time{})
	}
	return r
}

// Request sends msg to n's router from n's API probe and returns the answer.
func Request[T any](n *Node, msg proto.Message) T {
	n.API.Request(n.Router, msg)
	return actortest.Expect[T](n.API)
}

// Heartbeats runs n heartbeats: Tick, then one second of protocol time.
// Only valid inside a synctest bubble.
func (r *Routers) Heartbeats(n int) {
	for range n {
		r.Tick()
		Advance(time.Second)
	}
}

// Tick sends every router a heartbeat Tick stamped now, without letting time
// pass (on real hosts, where the test cannot move the clock).
func (r *Routers) Tick() {
	now := timestamppb.Now()
	for _, h := range r.Nodes {
		r.Sys.Root.Send(h.Router, &heartbeatv1.Tick{Now: now})
	}
}

// Publish publishes k fresh messages from random nodes (seeded) and returns
// their data (see PublishFrom).
func (r *Routers) Publish(k int) []string {
	r.tb.Helper()
	out := make([]string, 0, k)
	for range k {
		out = append(out, r.PublishFrom(r.rng.IntN(len(r.Nodes)), 1)...)
	}
	return out
}

// PublishFrom publishes k fresh messages from node i and returns their data:
// HonestPrefix, a sequence number, PublisherMark and i, so that an attack can
// single out one publisher.
func (r *Routers) PublishFrom(i, k int) []string {
	r.tb.Helper()
	return r.PublishSized(i, k, 0)
}

// PublishSized is PublishFrom with each message's data padded to size
// bytes (between the sequence number and PublisherMark).
func (r *Routers) PublishSized(i, k, size int) []string {
	r.tb.Helper()
	n := r.Nodes[i]
	out := make([]string, 0, k)
	for range k {
		data := fmt.Sprintf("%s%d%s%d", HonestPrefix, r.seq, PublisherMark, n.Index)
		if pad := size - len(data); pad > 0 {
			data = fmt.Sprintf("%s%d%s%s%d", HonestPrefix, r.seq, strings.Repeat(".", pad), PublisherMark, n.Index)
		}
		r.seq++
		if p := Request[*pubsubv1.Published](n, &pubsubv1.Publish{Topic: r.Topic, Data: []byte(data)}); p.GetError() != "" {
			r.tb.Fatalf("sim: node %d publish: %s", n.Index, p.GetError())
		}
		out = append(out, data)
		r.publishedAt[Key(data)] = time.Now()
	}
	return out
}

// ExpectDelivered checks that every node's subscriber receives each of want
// within timeout of protocol time per delivery, and only honest messages.
// Deliveries already seen by Collect count. Inside a bubble the wait costs no
// wall time.
func (r *Routers) ExpectDelivered(want []string, timeout time.Duration) {
	r.tb.Helper()
	for i, n := range r.Nodes {
		for _, w := range want {
			for r.got[i][Key(w)].IsZero() {
				rec, ok := n.Sub.Next(timeout)
				if !ok {
					// Name the node and every message it lacks: a flake is
					// diagnosed from this line.
					var missing []string
					for _, m := range want {
						if r.got[i][Key(m)].IsZero() {
							missing = append(missing, m)
						}
					}
					r.tb.Fatalf("sim: node %d (%s) got no delivery within %s; missing %d of %d: %q\n%s",
						i, n.ID, timeout, len(missing), len(want), missing, r.diagnose(i, missing))
				}
				r.record(i, rec.Message)
			}
		}
	}
}

// diagnose describes why node i may lack the messages missing: when each
// was published and which nodes got it how long after, and every non-zero
// counter of node i's router (drops by reason, IWANTs, promises) — what a
// flake report needs to tell a lost copy from gossip that never came.
func (r *Routers) diagnose(i int, missing []string) string {
	var b strings.Builder
	for _, m := range missing {
		at := r.publishedAt[Key(m)]
		fmt.Fprintf(&b, "%q published at +%s (protocol time); delivered to:", m, at.Sub(r.start).Round(time.Millisecond))
		for j := range r.Nodes {
			if got := r.got[j][Key(m)]; !got.IsZero() {
				fmt.Fprintf(&b, " %d@+%s", j, got.Sub(at).Round(time.Millisecond))
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "node %d counters:%s\n", i, r.nonZero(i, nil))
	// What the other nodes shed or repeated: a reply one of them dropped
	// is where a message another node lacks may have been lost.
	lossy := []string{"drop", "expire", "shed", "promise", "repeated", "refus"}
	for j := range r.Nodes {
		if c := r.nonZero(j, lossy); j != i && c != "" {
			fmt.Fprintf(&b, "node %d:%s\n", j, c)
		}
	}
	return b.String()
}

// nonZero lists node i's non-zero counters and gauges (with labels), only
// those whose name contains one of filter when filter is set.
func (r *Routers) nonZero(i int, filter []string) string {
	mfs, err := r.Nodes[i].Registry.Gather()
	if err != nil {
		return fmt.Sprintf(" (gather: %v)", err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if filter != nil && !slices.ContainsFunc(filter, func(f string) bool { return strings.Contains(mf.GetName(), f) }) {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if v == 0 {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			fmt.Fprintf(&b, " %s{%s}=%g", mf.GetName(), strings.Join(labels, ","), v)
		}
	}
	return b.String()
}

// Collect takes every delivery already queued at the subscribers without
// waiting, stamped with the current (virtual) time: called after each
// heartbeat, it measures delivery latency to heartbeat precision. Only
// meaningful inside a bubble, where nothing arrives while the test runs.
func (r *Routers) Collect() {
	r.tb.Helper()
	for i, n := range r.Nodes {
		for {
			// A 1 ns wait fires only once the bubble is idle, so everything
			// already queued is taken first.
			rec, ok := n.Sub.Next(time.Nanosecond)
			if !ok {
				break
			}
			r.record(i, rec.Message)
		}
	}
}

// Key is what the harness keeps of a message's data: the data itself, or
// for a long one a copy of its first 128 bytes (unique: HonestPrefix and the
// sequence number come first), so that tests of large messages do not
// measure a copy of every delivery kept per node. ExpectDelivered and
// Latency take data or keys.
func Key(data string) string {
	if len(data) <= keyLen {
		return data
	}
	return strings.Clone(data[:keyLen])
}

const keyLen = 128

// record notes node i's delivery of what its subscriber received, which
// must be an honest message's Delivered.
func (r *Routers) record(i int, got any) {
	r.tb.Helper()
	d, isDelivery := got.(*pubsubv1.Delivered)
	if !isDelivery {
		r.tb.Fatalf("sim: node %d subscriber got %T", i, got)
	}
	data := string(d.GetMessage().GetData())
	if !strings.HasPrefix(data, HonestPrefix) {
		r.tb.Fatalf("sim: node %d delivered a message no honest node published: %q", r.Nodes[i].Index, data)
	}
	if k := Key(data); r.got[i][k].IsZero() {
		r.got[i][k] = time.Now()
	}
}

// Latency returns the largest time from publication to delivery over every
// node and message of want that Collect or ExpectDelivered saw, and the 99th
// percentile.
func (r *Routers) Latency(want []string) (maxLatency, p99 time.Duration) {
	all := r.Latencies(want)
	if len(all) == 0 {
		return 0, 0
	}
	return all[len(all)-1], Percentile(all, 99)
}

// LatencyStats returns the mean and the 95th percentile of the times from
// publication to delivery over every node and message of want that Collect
// or ExpectDelivered saw (rounded to the millisecond, as Latency), and how
// many deliveries they cover.
func (r *Routers) LatencyStats(want []string) (mean, p95 time.Duration, n int) {
	all := r.Latencies(want)
	if len(all) == 0 {
		return 0, 0, 0
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	return sum / time.Duration(len(all)), all[(len(all)*95)/100], len(all)
}

// Percentile returns the p-th percentile (0..100) of sorted, nearest rank
// rounded down; zero for none.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, (len(sorted)*p)/100)]
}

// Latencies returns, sorted, the time from publication to delivery of every
// (node, message of want) delivery that Collect or ExpectDelivered saw: the
// delivery-latency distribution.
func (r *Routers) Latencies(want []string) []time.Duration {
	var all []time.Duration
	for i := range r.Nodes {
		for _, w := range want {
			if at := r.got[i][Key(w)]; !at.IsZero() {
				// Rounded to the millisecond: Collect's nanosecond polls
				// are not part of the delivery.
				all = append(all, at.Sub(r.publishedAt[Key(w)]).Round(time.Millisecond))
			}
		}
	}
	slices.Sort(all)
	return all
}

// Score returns node i's view of p's score (zero for a peer it does not know).
func (r *Routers) Score(i int, p peer.ID) *pubsubv1.PeerScore {
	for _, ps := range Request[*pubsubv1.Scores](r.Nodes[i], &pubsubv1.GetScores{}).GetPeers() {
		if peer.ID(ps.GetPeer()) == p {
			return ps
		}
	}
	return &pubsubv1.PeerScore{Peer: []byte(p)}
}

// Mesh returns node i's mesh of the topic.
func (r *Routers) Mesh(i int) []peer.ID {
	m := Request[*pubsubv1.Mesh](r.Nodes[i], &pubsubv1.GetMesh{Topic: r.Topic})
	out := make([]peer.ID, len(m.GetMesh()))
	for k, b := range m.GetMesh() {
		out[k] = peer.ID(b)
	}
	return out
}

// InMesh reports whether p is in node i's mesh of the topic.
func (r *Routers) InMesh(i int, p peer.ID) bool { return slices.Contains(r.Mesh(i), p) }

// Metric returns the sum of node i's samples of a counter or gauge whose
// labels include the given name/value pairs.
func (r *Routers) Metric(i int, name string, labels ...string) float64 {
	r.tb.Helper()
	mfs, err := r.Nodes[i].Registry.Gather()
	if err != nil {
		r.tb.Fatalf("sim: gather node %d metrics: %v", i, err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m.GetLabel(), labels) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func hasLabels[L interface {
	GetName() string
	GetValue() string
}](have []L, want []string) bool {
	for k := 0; k+1 < len(want); k += 2 {
		if !slices.ContainsFunc(have, func(l L) bool { return l.GetName() == want[k] && l.GetValue() == want[k+1] }) {
			return false
		}
	}
	return true
}
