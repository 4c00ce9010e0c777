package router_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// counter sums the samples of a counter family matching label=value ("" = all).
func counter(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				match = match || (lp.GetName() == label && lp.GetValue() == value)
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func frame(body []byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(body))), body...) }

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestBadInputOnRealStream writes malformed input on a real pubsub stream to
// a router: each case must reset the stream, count a frame rejection with
// its reason, keep the router serving, and not grow the heap by more than a
// bound (the decoder never allocates for what a peer only declared).
func TestBadInputOnRealStream(t *testing.T) {
	manySubs := &gossipsubv1.RPC{}
	for range 100_000 {
		manySubs.Subscriptions = append(manySubs.Subscriptions, &gossipsubv1.SubOpts{})
	}
	manyIDs := &gossipsubv1.ControlIHave{TopicID: proto.String("t")}
	for i := range 100_000 {
		manyIDs.MessageIDs = append(manyIDs.MessageIDs, binary.BigEndian.AppendUint64(nil, uint64(i)))
	}
	subsFrame, _ := proto.Marshal(manySubs)
	idsFrame, _ := proto.Marshal(&gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{manyIDs}}})
	rnd := make([]byte, 4096)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	rnd[0] = 0xff // an invalid wire type in the first tag: never a valid RPC
	n := newNode(t, router.DefaultConfig(wire.ProfileLibp2p))
	n.join(t, "t", nil)
	client := rawClient(t, n, wire.ProtocolMeshsub12)
	tests := []struct {
		name    string
		input   []byte
		reasons []string
		// penalised: the sender is charged a behaviour penalty (P7) for it,
		// counted under frame_<reason>.
		penalised bool
	}{
		{"oversized length prefix", binary.AppendUvarint(nil, 1<<40), []string{"too_large"}, true},
		{"truncated frame: no penalty, a dropped connection looks the same", append(binary.AppendUvarint(nil, 1000), make([]byte, 100)...), []string{"truncated"}, false},
		{"random bytes", frame(rnd), []string{"malformed", "limit"}, true},
		{"100,000 empty subscriptions", frame(subsFrame), []string{"limit"}, true},
		{"100,000 IHAVE ids in about 1 MiB", frame(idsFrame), []string{"limit", "too_large"}, true},
	}
	penalties := func(reasons []string) (sum float64) {
		for _, reason := range reasons {
			sum += counter(t, n.reg, "libp2p_gossipsub_behaviour_penalties_total", "reason", "frame_"+reason)
		}
		return sum
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter(t, n.reg, "libp2p_pubsub_frame_rejections_total", "", "")
			penalisedBefore := penalties(tt.reasons)
			heap := heapInUse()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := client.NewStream(ctx, n.host.ID(), wire.ProtocolMeshsub12)
			if err != nil {
				t.Fatal(err)
			}
			_ = s.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := s.Write(tt.input); err != nil {
				t.Fatalf("write: %v", err)
			}
			_ = s.CloseWrite()
			// The router resets the stream: our read fails with a reset, not EOF or a timeout.
			_, err = s.Read(make([]byte, 1))
			var se *network.StreamError
			if err == nil || (!errors.Is(err, network.ErrReset) && !errors.As(err, &se)) {
				t.Fatalf("read after bad input: %v, want a stream reset", err)
			}
			eventually(t, 5*time.Second, "rejection counted", func() error {
				var got float64
				for _, reason := range tt.reasons {
					got += counter(t, n.reg, "libp2p_pubsub_frame_rejections_total", "reason", reason)
				}
				if total := counter(t, n.reg, "libp2p_pubsub_frame_rejections_total", "", ""); total != before+1 || got < 1 {
					return errors.New("no rejection with the expected reason")
				}
				if tt.penalised && penalties(tt.reasons) != penalisedBefore+1 {
					return errors.New("no behaviour penalty for the frame")
				}
				return nil
			})
			if !tt.penalised && penalties(tt.reasons) != penalisedBefore {
				t.Fatalf("penalised for a %v frame", tt.reasons)
			}
			if grown := int64(heapInUse()) - int64(heap); grown > 8<<20 {
				t.Fatalf("heap grew by %d bytes", grown)
			}
			// The router still serves.
			if m := n.mesh(t, "t"); m.GetError() != "" {
				t.Fatalf("router broken: %v", m)
			}
			_ = n.request(t, &pubsubv1.GetScores{})
		})
	}
	// The penalties are P7 of the sender's score, not only a metric.
	eventually(t, 5*time.Second, "P7 in the sender's score", func() error {
		for _, ps := range n.request(t, &pubsubv1.GetScores{}).(*pubsubv1.Scores).GetPeers() {
			if peer.ID(ps.GetPeer()) == client.ID() && ps.GetBehaviour() < 0 {
				return nil
			}
		}
		return errors.New("no behaviour penalty in the raw client's score")
	})
}

// TestSecondInboundStreamReplacesFirst: a peer that opens a new pubsub
// stream to us gets its old one reset; RPCs on the new one are served.
func TestSecondInboundStreamReplacesFirst(t *testing.T) {
	n := newNode(t, router.DefaultConfig(wire.ProfileWaku))
	n.join(t, "t", nil)
	client := rawClient(t, n, wire.ProtocolWakuRelay)
	open := func() network.Stream {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := client.NewStream(ctx, n.host.ID(), wire.ProtocolWakuRelay)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		return s
	}
	sub := true
	hello := func(s network.Stream) {
		b, _ := proto.Marshal(&gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{{Topicid: proto.String("t"), Subscribe: &sub}}})
		if _, err := s.Write(frame(b)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	first := open()
	hello(first)
	eventually(t, 10*time.Second, "subscription seen", func() error {
		if len(n.mesh(t, "t").GetPeers()) != 1 {
			return errors.New("client not subscribed yet")
		}
		return nil
	})
	second := open()
	hello(second)
	if _, err := first.Read(make([]byte, 1)); err == nil || !errors.Is(err, network.ErrReset) && !errors.As(err, new(*network.StreamError)) {
		t.Fatalf("first stream: read %v, want a reset", err)
	}
	// The second stream is live: a message sent on it is delivered.
	msg := &gossipsubv1.Message{Topic: proto.String("t"), Data: []byte("via second")}
	b, _ := proto.Marshal(&gossipsubv1.RPC{Publish: []*gossipsubv1.Message{msg}})
	if _, err := second.Write(frame(b)); err != nil {
		t.Fatalf("write on second: %v", err)
	}
	d := actortest.ExpectWithin[*pubsubv1.Delivered](n.sub, 10*time.Second)
	if string(d.GetMessage().GetData()) != "via second" {
		t.Fatalf("delivered %v", d)
	}
}

// rawClient is a plain host connected to n that writes raw frames. It
// accepts (and discards) the router's own stream on proto, so the router
// keeps its session to it.
func rawClient(t *testing.T, n *node, proto protocol.ID) host.Host {
	t.Helper()
	client := newHost(t)
	client.SetStreamHandler(proto, func(s network.Stream) { _, _ = io.Copy(io.Discard, s) })
	connect(t, &node{host: client}, n)
	return client
}
