package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/peermesh/peermesh/actors/heartbeat"
	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/meshbench"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

func main() {
	os.Exit(meshbench.Main(peermeshImpl{}, os.Args[1:], os.Stdout, os.Stderr))
}

// requestTimeout bounds every request the harness makes to a router.
const requestTimeout = 10 * time.Second

type peermeshImpl struct{}

func (peermeshImpl) Name() string { return "peermesh" }

func (peermeshImpl) Start(ctx context.Context, hosts []host.Host, cfg meshbench.ImplConfig, deliver func(int, []byte)) (meshbench.Network, error) {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet })))
	n := &network{sys: sys}
	hb := sys.Root.Spawn(heartbeat.Props(heartbeat.DefaultConfig(), heartbeat.Deps{Logger: quiet}))
	profile := wire.ProfileWaku
	if cfg.Sign {
		profile = wire.ProfileLibp2p
	}
	for i, h := range hosts {
		rc := router.DefaultConfig(profile)
		rc.Mesh.D, rc.Mesh.Dlo, rc.Mesh.Dhi = cfg.D, cfg.Dlo, cfg.Dhi
		reg := &watchedRegistry{Registry: prometheus.NewRegistry()}
		pid := sys.Root.Spawn(router.Props(rc, router.Deps{Host: h, Registerer: reg, Logger: quiet}))
		n.routers = append(n.routers, pid)
		n.regs = append(n.regs, reg)
		// The node's answers to Publish (Published) land in its sink, which
		// counts errors and frees a place in the node's publish window.
		var window chan struct{}
		if cfg.PublishWindow > 0 {
			window = make(chan struct{}, cfg.PublishWindow)
		}
		n.windows = append(n.windows, window)
		n.sinks = append(n.sinks, sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return &publishSink{errors: &n.publishErrors, window: window}
		})))
		// The subscriber must be the Subscribe's sender: deliveries go to it.
		ready := make(chan string, 1)
		sub := sys.Root.Spawn(actorkit.Props(func() actor.Actor { return &subscriber{node: i, deliver: deliver, ready: ready} }))
		for _, topic := range cfg.Topics[i] {
			if err := joinAndSubscribe(sys, pid, sub, topic, ready); err != nil {
				n.Close()
				return nil, fmt.Errorf("node %d: %w", i, err)
			}
		}
		// Register the router for heartbeats: the Register's sender is the
		// target, so the request is sent on the router's behalf.
		sys.Root.RequestWithCustomSender(hb, &heartbeatv1.Register{
			Name: "gossipsub", Interval: durationpb.New(cfg.Heartbeat), InitialDelay: durationpb.New(cfg.Heartbeat),
		}, pid)
	}
	return n, nil
}

func joinAndSubscribe(sys *actor.ActorSystem, router, sub *actor.PID, topic string, ready chan string) error {
	if err := expectNoError(actorkit.Request(sys.Root, router, &pubsubv1.Join{Topic: topic}, requestTimeout)); err != nil {
		return fmt.Errorf("join %s: %w", topic, err)
	}
	sys.Root.RequestWithCustomSender(router, &pubsubv1.Subscribe{Topic: topic}, sub)
	select {
	case e := <-ready:
		if e != "" {
			return fmt.Errorf("subscribe %s: %s", topic, e)
		}
	case <-time.After(requestTimeout):
		return fmt.Errorf("subscribe %s: no answer within %s", topic, requestTimeout)
	}
	return nil
}

// expectNoError waits for a router answer and returns the error it carries.
func expectNoError(f *actorkit.Pending) error {
	res, err := f.Result()
	if err != nil {
		return err
	}
	if e, ok := res.(interface{ GetError() string }); ok && e.GetError() != "" {
		return fmt.Errorf("%s", e.GetError())
	}
	return nil
}

type network struct {
	sys     *actor.ActorSystem
	routers []*actor.PID
	regs    []*watchedRegistry
	sinks   []*actor.PID
	// windows[i] holds a token per publish of node i awaiting its answer
	// (nil: publishes never wait).
	windows       []chan struct{}
	publishErrors atomic.Int64
}

// Publish asks node's router to publish. With a publish window it first
// waits, at most requestTimeout, for a place among the node's publishes
// awaiting their answer: an application calling Node.Publish (which returns
// with the Published answer) from that many goroutines is held back the same
// way, as go-libp2p-pubsub's Publish is by its queue to the event loop.
func (n *network) Publish(ctx context.Context, node int, topic string, data []byte) error {
	if w := n.windows[node]; w != nil {
		select {
		case w <- struct{}{}:
		default:
			t := time.NewTimer(requestTimeout)
			defer t.Stop()
			select {
			case w <- struct{}{}:
			case <-t.C:
				return fmt.Errorf("node %d: %d publishes unanswered for %s", node, cap(w), requestTimeout)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	n.sys.Root.RequestWithCustomSender(n.routers[node], &pubsubv1.Publish{Topic: topic, Data: data}, n.sinks[node])
	return nil
}

func (n *network) MeshSizes(_ context.Context, topic string) ([]int, error) {
	out := make([]int, len(n.routers))
	for i, pid := range n.routers {
		res, err := actorkit.Request(n.sys.Root, pid, &pubsubv1.GetMesh{Topic: topic}, requestTimeout).Result()
		if err != nil {
			return nil, fmt.Errorf("node %d mesh: %w", i, err)
		}
		m, ok := res.(*pubsubv1.Mesh)
		if !ok {
			return nil, fmt.Errorf("node %d mesh: unexpected answer %T", i, res)
		}
		out[i] = len(m.GetMesh())
	}
	return out, nil
}

// dropCounters are the counters of work peermesh dropped under load: sends
// evicted or refused by a full outbound queue, sends that waited past their
// age limit, received messages and gossip dropped at a full topic mailbox.
var dropCounters = []string{"libp2p_pubsub_queue_drops_total", "libp2p_pubsub_queue_expired_total",
	"libp2p_gossipsub_topic_mailbox_drops_total"}

// admissionCounter counts our own publishes by admission outcome (ADR 0030):
// listed in drops_by beside the drops (only its "refused" are lost
// publishes, and they are publish errors too), not summed into Drops.
const admissionCounter = "libp2p_gossipsub_publish_admission_total"

// Drops sums every drop peermesh counted (dropCounters).
func (n *network) Drops() int64 {
	var total float64
	for _, name := range dropCounters {
		v, ok := n.sum(name)
		if !ok {
			return -1
		}
		total += v
	}
	return int64(total)
}

// DropsBy splits Drops by counter and label, summed over the nodes, and
// adds the publish admission outcomes (admissionCounter).
func (n *network) DropsBy() map[string]int64 {
	out := map[string]int64{}
	for _, reg := range n.regs {
		mfs, err := reg.Gather()
		if err != nil {
			return nil
		}
		for _, mf := range mfs {
			if !slices.Contains(dropCounters, mf.GetName()) && mf.GetName() != admissionCounter {
				continue
			}
			for _, m := range mf.GetMetric() {
				key := mf.GetName()
				if ls := m.GetLabel(); len(ls) > 0 {
					parts := make([]string, 0, len(ls))
					for _, l := range ls {
						parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
					}
					key += "{" + strings.Join(parts, ",") + "}"
				}
				out[key] += int64(m.GetCounter().GetValue())
			}
		}
	}
	return out
}

// queueMessageGauges are the gauges that count messages waiting to be
// handled: session mailboxes and any actor mailbox peermesh meters. New
// queues are added here as they get a gauge.
var queueMessageGauges = []string{"libp2p_pubsub_session_mailbox_backlog", "peermesh_actor_mailbox_depth",
	"libp2p_gossipsub_topic_mailbox_depth"}

// queueByteGauges are the gauges of bytes waiting in outbound queues.
var queueByteGauges = []string{"libp2p_pubsub_queue_bytes"}

// QueueDepth sums the outbound queue bytes and mailbox backlogs of every
// node, for the harness's queue-depth-over-time samples. It reads only the
// watched gauges: gathering 24 whole registries every 250 ms took seconds
// on a starved machine and was itself a load on the process measured.
func (n *network) QueueDepth() meshbench.QueueDepth {
	var bytes, msgs float64
	for _, reg := range n.regs {
		bytes += reg.sum(queueByteGauges)
		msgs += reg.sum(queueMessageGauges)
	}
	return meshbench.QueueDepth{Bytes: int64(bytes), Messages: int64(msgs)}
}

// watchedRegistry is a node's registry that also keeps the collectors of
// the queue gauges, so the sampler reads them without a full Gather.
type watchedRegistry struct {
	*prometheus.Registry
	mu      sync.Mutex
	watched map[string][]prometheus.Collector // metric name → collectors
}

func (w *watchedRegistry) Register(c prometheus.Collector) error {
	if err := w.Registry.Register(c); err != nil {
		return err
	}
	descs := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(descs); close(descs) }()
	for d := range descs {
		for _, name := range append(queueByteGauges, queueMessageGauges...) {
			if strings.Contains(d.String(), `fqName: "`+name+`"`) {
				w.mu.Lock()
				if w.watched == nil {
					w.watched = map[string][]prometheus.Collector{}
				}
				w.watched[name] = append(w.watched[name], c)
				w.mu.Unlock()
			}
		}
	}
	return nil
}

func (w *watchedRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := w.Register(c); err != nil {
			panic(err)
		}
	}
}

// sum adds up the current values of the watched gauges named.
func (w *watchedRegistry) sum(names []string) float64 {
	w.mu.Lock()
	var cs []prometheus.Collector
	for _, name := range names {
		cs = append(cs, w.watched[name]...)
	}
	w.mu.Unlock()
	var total float64
	for _, c := range cs {
		ch := make(chan prometheus.Metric, 64)
		go func() { c.Collect(ch); close(ch) }()
		for m := range ch {
			var pb dto.Metric
			if m.Write(&pb) == nil {
				total += pb.GetGauge().GetValue() + pb.GetCounter().GetValue()
			}
		}
	}
	return total
}

// sum adds up every series of the named counter or gauge over all nodes'
// registries; ok is false when a registry cannot be gathered.
func (n *network) sum(name string) (float64, bool) {
	var total float64
	for _, reg := range n.regs {
		mfs, err := reg.Gather()
		if err != nil {
			return 0, false
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return total, true
}

func (n *network) Close() error {
	for _, pid := range n.routers {
		_ = n.sys.Root.StopFuture(pid).Wait()
	}
	n.sys.Shutdown()
	if e := n.publishErrors.Load(); e > 0 {
		slog.Warn("publish errors", "count", e)
	}
	return nil
}

// subscriber is the harness's local subscriber on one node.
type subscriber struct {
	node    int
	deliver func(int, []byte)
	ready   chan string
}

func (s *subscriber) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *pubsubv1.Delivered:
		s.deliver(s.node, m.GetMessage().GetData())
	case *pubsubv1.Subscribed:
		select {
		case s.ready <- m.GetError():
		default:
		}
	}
}

// publishSink receives one node's Published answers: it counts the failed
// ones and frees a place in the node's publish window for each.
type publishSink struct {
	errors *atomic.Int64
	window chan struct{} // nil: no window
}

func (p *publishSink) Receive(c actor.Context) {
	m, ok := c.Message().(*pubsubv1.Published)
	if !ok {
		return
	}
	if m.GetError() != "" {
		p.errors.Add(1)
	}
	if p.window != nil {
		select {
		case <-p.window:
		default: // an answer without a token: nothing to free
		}
	}
}
