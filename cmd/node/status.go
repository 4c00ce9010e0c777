package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/waku/sharding"
)

// dropCounters are the counters of messages or entries a bound dropped;
// the status line shows their total growth.
var dropCounters = []string{
	"libp2p_gossipsub_topic_drops_total",
	"libp2p_gossipsub_topic_mailbox_drops_total",
	"libp2p_pubsub_queue_drops_total",
	"libp2p_pubsub_inbound_drops_total",
	"peermesh_rest_relay_cache_dropped_total",
	"peermesh_heartbeat_messages_dropped_total",
}

// statusSample is what one status line compares with the previous one.
type statusSample struct {
	at       time.Time
	accepted float64 // messages validated and relayed (outcome accept)
	dropped  float64
}

// statusLoop logs a status line every interval until ctx ends: relay
// peers in/out against their targets, connections, mesh peers per shard,
// relayed messages per second and drops since the last line. nwaku logs
// peer counts every 3 minutes; an operator watching a node wants the rates.
func statusLoop(ctx context.Context, node *peermesh.Node, g prometheus.Gatherer, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	prev := sample(g, time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cur := sample(g, now)
			log.Info("status", statusAttrs(ctx, node, prev, cur)...)
			prev = cur
		}
	}
}

func statusAttrs(ctx context.Context, node *peermesh.Node, prev, cur statusSample) []any {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var attrs []any
	if st, err := node.PeerStatus(ctx); err == nil {
		attrs = append(attrs, "relay_in", fmt.Sprintf("%d/%d", st.GetInRelayPeers(), st.GetInRelayTarget()),
			"relay_out", fmt.Sprintf("%d/%d", st.GetOutRelayPeers(), st.GetOutRelayTarget()),
			"connected", fmt.Sprintf("%d/%d", st.GetConnected(), st.GetMaxConnections()),
			"candidates", st.GetOutsideBackoff(), "peer_store", st.GetPeerStoreSize())
	}
	if mesh, err := node.Mesh(ctx); err == nil {
		var parts []string
		for _, t := range mesh {
			name := t.GetTopic()
			if s, err := sharding.ParseTopic(name); err == nil {
				name = fmt.Sprintf("%d/%d", s.Cluster, s.Index)
			}
			parts = append(parts, fmt.Sprintf("%s:%d", name, len(t.GetPeerIds())))
		}
		sort.Strings(parts)
		attrs = append(attrs, "mesh", strings.Join(parts, " "))
	}
	secs := cur.at.Sub(prev.at).Seconds()
	if secs > 0 {
		attrs = append(attrs, "msgs_per_s", fmt.Sprintf("%.1f", (cur.accepted-prev.accepted)/secs))
	}
	return append(attrs, "drops", int64(cur.dropped-prev.dropped))
}

// sample reads the counters the status line turns into rates.
func sample(g prometheus.Gatherer, at time.Time) statusSample {
	s := statusSample{at: at}
	mfs, err := g.Gather()
	if err != nil {
		return s
	}
	for _, mf := range mfs {
		switch name := mf.GetName(); {
		case name == "libp2p_gossipsub_validation_results_total":
			for _, m := range mf.GetMetric() {
				if label(m, "outcome") == "accept" {
					s.accepted += m.GetCounter().GetValue()
				}
			}
		case slices.Contains(dropCounters, name):
			for _, m := range mf.GetMetric() {
				s.dropped += m.GetCounter().GetValue()
			}
		}
	}
	return s
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
