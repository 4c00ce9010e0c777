package peermesh

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/actors/mesh"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/waku/message"
)

// MessageRules are the WakuMessage rules this node applies on the relay and
// that its REST API applies to what it publishes (one rule set both ways).
func (n *Node) MessageRules() message.Rules { return n.cfg.messageRules() }

func (c Config) messageRules() message.Rules {
	r := message.DefaultRules()
	if c.MaxMessageSize > 0 {
		r.MaxMessageSize = c.MaxMessageSize
	}
	r.MaxTimestampSkew = c.MaxTimestampSkew
	return r
}

// wakuValidator is the router's MessageValidator in the waku profile: every
// new message's data must be a WakuMessage that keeps the rules. A broken
// rule is counted by rule and outcome and logged at debug level with the
// message's hash; Reject charges the sender P4.
func (n *Node) wakuValidator() func(topic string, msg *gossipsubv1.Message, now time.Time) (mesh.ValidationResult, string) {
	rules := n.cfg.messageRules()
	invalid := n.metrics.invalid
	log := n.log
	return func(topic string, msg *gossipsubv1.Message, now time.Time) (mesh.ValidationResult, string) {
		_, err := rules.Decode(msg.GetData(), now)
		if err == nil {
			return mesh.ValidationAccept, "accept"
		}
		var re *message.RuleError
		if !errors.As(err, &re) {
			return mesh.ValidationReject, "reject"
		}
		invalid.WithLabelValues(string(re.Rule), re.Outcome.String()).Inc()
		if log.Enabled(context.Background(), slog.LevelDebug) {
			attrs := []any{"topic", topic, "rule", re.Rule, "outcome", re.Outcome, "err", re.Reason}
			if h, ok := message.HashData(topic, msg.GetData()); ok {
				attrs = append(attrs, "hash", h.String())
			}
			log.Debug("invalid WakuMessage", attrs...)
		}
		if re.Outcome == message.Ignore {
			return mesh.ValidationIgnore, "ignore"
		}
		return mesh.ValidationReject, "reject"
	}
}

func newInvalidMessagesCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "peermesh_waku_messages_invalid_total",
		Help: "Relayed WakuMessages that broke a rule (waku/message), by rule and relay outcome (reject charges the sender P4; ignore drops without a penalty).",
	}, []string{"rule", "outcome"})
}

// messageHash names delivered data by its RFC 14 hash in the waku profile
// ("" otherwise, or when the data is not a WakuMessage).
func (n *Node) messageHash(topic string, data []byte) string {
	if n.cfg.Profile != ProfileWaku {
		return ""
	}
	if h, ok := message.HashData(topic, data); ok {
		return h.String()
	}
	return ""
}
