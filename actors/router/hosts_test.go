package router_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/sim"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// newHost returns a go-libp2p host on 127.0.0.1 with TCP, Noise and Yamux
// only and no resource limits, closed when the test ends.
func newHost(t testing.TB) host.Host { return sim.LoopbackHost(t) }

// node is one host with its router, in its own actor system.
type node struct {
	host   host.Host
	sys    *actor.ActorSystem
	router *actor.PID
	sub    *actortest.Probe // the local subscriber of the test topic
	reg    *prometheus.Registry
}

func newNode(t testing.TB, cfg router.Config) *node {
	t.Helper()
	return newNodeOn(t, newHost(t), cfg)
}

// newNodeOn starts a router on h (when cfg must name other hosts first).
func newNodeOn(t testing.TB, h host.Host, cfg router.Config) *node {
	t.Helper()
	sys := actortest.NewSystem(t)
	reg := prometheus.NewRegistry()
	pid := sys.Root.Spawn(router.Props(cfg, router.Deps{Host: h, Registerer: reg}))
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	n := &node{host: h, sys: sys, router: pid, reg: reg}
	n.request(t, &pubsubv1.GetScores{}) // the router has started: its stream handler is installed
	return n
}

// request sends msg to the router and waits for the answer.
func (n *node) request(t testing.TB, msg proto.Message) any {
	t.Helper()
	res, err := n.sys.Root.RequestFuture(n.router, msg, 10*time.Second).Result()
	if err != nil {
		t.Fatalf("request %T: %v", msg, err)
	}
	return res
}

func (n *node) join(t testing.TB, topic string, params *pubsubv1.TopicParams) {
	t.Helper()
	if j := n.request(t, &pubsubv1.Join{Topic: topic, Params: params}).(*pubsubv1.Joined); j.GetError() != "" {
		t.Fatalf("join: %s", j.GetError())
	}
	n.sub = actortest.NewProbe(t, n.sys)
	n.sub.Request(n.router, &pubsubv1.Subscribe{Topic: topic})
	n.sub.ExpectMessage(&pubsubv1.Subscribed{Topic: topic})
}

func (n *node) mesh(t testing.TB, topic string) *pubsubv1.Mesh {
	t.Helper()
	return n.request(t, &pubsubv1.GetMesh{Topic: topic}).(*pubsubv1.Mesh)
}

func (n *node) tick() {
	n.sys.Root.Send(n.router, &heartbeatv1.Tick{Now: timestamppb.Now()})
}

// connect dials b from a, retrying twice: on a machine shared with other
// heavy test runs a loopback handshake occasionally misses its deadline.
func connect(t testing.TB, a, b *node) {
	t.Helper()
	var err error
	for range 3 {
		// Force a fresh dial: the swarm would otherwise answer a retry from its dial backoff.
		ctx, cancel := context.WithTimeout(network.WithForceDirectDial(context.Background(), "test retry"), 15*time.Second)
		err = a.host.Connect(ctx, peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.Addrs()})
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("connect: %v", err)
}

// eventually polls cond until it holds or d passes (bounded; no sleep-based
// assertions: cond is re-checked every 20 ms).
func eventually(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		<-tk.C
	}
}

// randomTopology connects node i to k distinct random others (seeded) and
// returns each node's neighbours.
func randomTopology(t testing.TB, nodes []*node, k int, seed uint64) []map[int]bool {
	rng := rand.New(rand.NewPCG(seed, seed))
	nb := make([]map[int]bool, len(nodes))
	for i := range nb {
		nb[i] = map[int]bool{}
	}
	for i := range nodes {
		for len(nb[i]) < k {
			j := rng.IntN(len(nodes))
			if j == i || nb[i][j] {
				continue
			}
			nb[i][j], nb[j][i] = true, true
			connect(t, nodes[i], nodes[j])
		}
	}
	return nb
}

func (n *node) String() string { return fmt.Sprintf("node %s", n.host.ID().ShortString()) }
