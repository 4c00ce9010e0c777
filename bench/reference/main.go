package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peermesh/peermesh/internal/meshbench"
)

func main() {
	os.Exit(meshbench.Main(gossipsubImpl{}, os.Args[1:], os.Stdout, os.Stderr))
}

type gossipsubImpl struct{}

func (gossipsubImpl) Name() string { return "go-libp2p-pubsub" }

func (gossipsubImpl) Start(ctx context.Context, hosts []host.Host, cfg meshbench.ImplConfig, deliver func(int, []byte)) (meshbench.Network, error) {
	if cfg.PublishWindow != meshbench.DefaultPublishWindow {
		// Its Publish always waits for its event loop to take the message
		// in (an unbuffered rendezvous, ADR 0030): one window, fixed.
		return nil, fmt.Errorf("-publish-window %d: %w (go-libp2p-pubsub's is %d)",
			cfg.PublishWindow, meshbench.ErrNotSupported, meshbench.DefaultPublishWindow)
	}
	ctx, cancel := context.WithCancel(ctx)
	n := &network{cancel: cancel, mesh: make([]map[string]int, len(hosts))}
	for i := range n.mesh {
		n.mesh[i] = map[string]int{}
	}
	params := pubsub.DefaultGossipSubParams()
	params.D, params.Dlo, params.Dhi = cfg.D, cfg.Dlo, cfg.Dhi
	params.HeartbeatInterval = cfg.Heartbeat
	for i, h := range hosts {
		opts := []pubsub.Option{
			pubsub.WithGossipSubParams(params),
			pubsub.WithRawTracer(&tracer{net: n, node: i}),
		}
		if !cfg.Sign {
			opts = append(opts, pubsub.WithNoAuthor(), pubsub.WithMessageIdFn(func(m *pb.Message) string {
				sum := sha256.Sum256(m.GetData())
				return string(sum[:])
			}))
		}
		ps, err := pubsub.NewGossipSub(ctx, h, opts...)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		n.topics = append(n.topics, map[string]*pubsub.Topic{})
		for _, name := range cfg.Topics[i] {
			if err := n.joinAndSubscribe(ctx, ps, i, name, deliver); err != nil {
				n.Close()
				return nil, fmt.Errorf("node %d: %w", i, err)
			}
		}
	}
	return n, nil
}

type network struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	topics []map[string]*pubsub.Topic
	mu     sync.Mutex
	mesh   []map[string]int // node → topic → mesh size, from the tracer
	drops  atomic.Int64
}

func (n *network) joinAndSubscribe(ctx context.Context, ps *pubsub.PubSub, node int, name string, deliver func(int, []byte)) error {
	topic, err := ps.Join(name)
	if err != nil {
		return fmt.Errorf("join %s: %w", name, err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", name, err)
	}
	n.topics[node][name] = topic
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			deliver(node, msg.GetData())
		}
	}()
	return nil
}

func (n *network) Publish(ctx context.Context, node int, topic string, data []byte) error {
	t, ok := n.topics[node][topic]
	if !ok {
		return fmt.Errorf("node %d has not joined %s", node, topic)
	}
	return t.Publish(ctx, data)
}

func (n *network) MeshSizes(_ context.Context, topic string) ([]int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]int, len(n.mesh))
	for i := range n.mesh {
		out[i] = n.mesh[i][topic]
	}
	return out, nil
}

func (n *network) meshDelta(node int, topic string, d int) {
	n.mu.Lock()
	n.mesh[node][topic] += d
	n.mu.Unlock()
}

func (n *network) Drops() int64 { return n.drops.Load() }

func (n *network) Close() error {
	n.cancel()
	n.wg.Wait()
	return nil
}

// tracer follows each node's mesh size (the library has no public mesh
// query) and counts the RPCs its outbound queues dropped.
type tracer struct {
	net  *network
	node int
}

func (t *tracer) Graft(_ peer.ID, topic string)            { t.net.meshDelta(t.node, topic, 1) }
func (t *tracer) Prune(_ peer.ID, topic string)            { t.net.meshDelta(t.node, topic, -1) }
func (t *tracer) DropRPC(*pubsub.RPC, peer.ID)             { t.net.drops.Add(1) }
func (t *tracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (t *tracer) OnClosedOutboundStream(peer.ID)           {}
func (t *tracer) Join(string)                              {}
func (t *tracer) Leave(string)                             {}
func (t *tracer) ValidateMessage(*pubsub.Message)          {}
func (t *tracer) DeliverMessage(*pubsub.Message)           {}
func (t *tracer) RejectMessage(*pubsub.Message, string)    {}
func (t *tracer) DuplicateMessage(*pubsub.Message)         {}
func (t *tracer) ThrottlePeer(peer.ID)                     {}
func (t *tracer) RecvRPC(*pubsub.RPC)                      {}
func (t *tracer) SendRPC(*pubsub.RPC, peer.ID)             {}
func (t *tracer) UndeliverableMessage(*pubsub.Message)     {}
