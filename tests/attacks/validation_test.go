package attacks

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// slowValidator is an application validator on one worker that takes cost
// per message and, like a go-libp2p-pubsub validator whose context expired,
// does not start on a message that waited longer than the router's
// ValidationTimeout (the router has ignored it by then).
type slowValidator struct {
	root          *actor.RootContext
	cost, timeout time.Duration
	mu            sync.Mutex
	busyUntil     time.Time
	started       int
}

func (v *slowValidator) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*pubsubv1.ValidateMessage)
	if !ok {
		return
	}
	v.mu.Lock()
	now := time.Now()
	start := now
	if v.busyUntil.After(now) {
		start = v.busyUntil
	}
	if start.Sub(now) >= v.timeout {
		v.mu.Unlock()
		return // expired before its turn: never started
	}
	v.busyUntil = start.Add(v.cost)
	v.started++
	done := v.busyUntil.Sub(now)
	v.mu.Unlock()
	sender, id := ctx.Sender(), m.GetMessageId()
	time.AfterFunc(done, func() {
		v.root.Send(sender, &pubsubv1.ValidationResult{MessageId: id, Outcome: pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_ACCEPT})
	})
}

// TestValidationOverload (b.35 R5): node 0's application validator takes
// 10 ms a message (100/s). A peer bursts 3,000 messages at it in one second:
// past MaxPendingValidations (1,024) they are dropped and counted
// (`validation_full`), the ones the validator cannot reach in time are
// ignored at ValidationTimeout (`timeout`), goroutines stay bounded, and
// honest messages published from one second after the burst are validated
// and delivered by every node, node 0 included, within 1 s.
func TestValidationOverload(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		c.send(target, attacker.JoinRPC(topic))
		cfg := c.Nodes[0].Config
		v := &slowValidator{root: c.Sys.Root, cost: 10 * time.Millisecond, timeout: cfg.ValidationTimeout}
		validator := c.Sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return v }))
		c.Sys.Root.RequestWithCustomSender(c.Nodes[0].Router, &pubsubv1.RegisterValidator{Topic: topic}, validator)
		c.Heartbeats(2)
		runtime.GC()
		base := runtime.NumGoroutine()
		const burst, perRPC = 3000, 500
		peak := 0
		for k := 0; k < burst; k += perRPC {
			rpc := &gossipsubv1.RPC{}
			for j := range perRPC {
				rpc.Publish = append(rpc.Publish, attacker.UnsignedMessage(topic, fmt.Appendf(nil, "%sburst-%d", sim.HonestPrefix, k+j)))
			}
			c.send(target, rpc)
			sim.Advance(time.Second / (burst / perRPC))
			peak = max(peak, runtime.NumGoroutine())
		}
		sim.Advance(time.Second)
		var honest []string
		for range 20 { // 10/s for 2 s
			honest = append(honest, c.PublishFrom(1, 1)...)
			sim.Advance(100 * time.Millisecond)
			c.Collect()
		}
		c.ExpectDelivered(honest, deliveryTimeout)
		maxLatency, p99 := c.Latency(honest)
		c.Heartbeats(1) // topic drops are reported at the heartbeat
		full := c.Metric(0, "libp2p_gossipsub_topic_drops_total", "reason", "validation_full")
		timedOut := c.Metric(0, "libp2p_gossipsub_validation_results_total", "outcome", "timeout")
		t.Logf("burst of %d: %v dropped at the pending cap, %v ignored at ValidationTimeout, %d validated; goroutines %d before, peak %d; honest after the burst: p99 %s, max %s",
			burst, full, timedOut, v.started, base, peak, p99, maxLatency)
		if full == 0 {
			t.Error("no message dropped at MaxPendingValidations")
		}
		if peak > base+base/10+20 {
			t.Errorf("goroutines peaked at %d during the burst, %d before", peak, base)
		}
		if maxLatency > time.Second {
			t.Errorf("honest messages after the burst took up to %s to be delivered everywhere, want ≤ 1 s", maxLatency)
		}
	})
}
