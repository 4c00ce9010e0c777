package mesh

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"cmp"
	"slices"
	"time"
)

// RebalanceMesh restores the mesh degree (seed: rebalanceMesh). The heartbeat
// calls it after pruning negative-score peers; it is exported for tests and
// for an adapter that wants to rebalance right after a burst of events.
//
//   - Below Dlo: graft up to D peers, best score first (random among equals),
//     never negative-score, direct, backed-off or already meshed peers.
//   - Fewer than Dout outbound peers: graft outbound peers up to Dout (the
//     seed checks this only when the mesh was not below Dlo; we check it
//     after the first step too, as go-libp2p-pubsub does, so a mesh refilled
//     with inbound peers still gets its outbound quota).
//   - Above Dhi: keep the Dscore best-scoring peers, keep at least Dout
//     outbound peers, and prune at random among the rest down to D (the
//     seed subtracts D from the candidates rather than from the mesh and can
//     prune down to Dlo, nim-libp2p#403).
//   - Every OpportunisticGraftTicks heartbeats, if the median mesh score is
//     below the opportunistic-graft threshold, graft up to
//     OpportunisticGraftPeers peers scoring above the median.
//
// Grafted peers get a GRAFT, pruned peers a PRUNE with PruneBackoff and PX.
func (t *Topic) RebalanceMesh(now time.Time) *Effects {
	fx := t.begin()
	if t.joined {
		t.rebalanceMesh(now, fx)
	}
	return fx
}

// pruneNegative prunes every mesh peer with a negative score before the
// rebalance, so no peer is grafted and pruned in the same heartbeat.
func (t *Topic) pruneNegative(now time.Time, fx *Effects) {
	n := len(fx.Prunes)
	for _, ps := range t.mesh {
		if ps.Score < 0 {
			t.unmesh(now, ps, t.cfg.PruneBackoff)
			fx.Prunes = append(fx.Prunes, t.makePrune(ps, t.cfg.PruneBackoff))
		}
	}
	if len(fx.Prunes) > n {
		t.compactMesh()
	}
}

// graftCandidates appends to dst the peers eligible for grafting: subscribed,
// not in the mesh, not direct, not backed off, with score ≥ minScore
// (strictly above it when strict), and outbound if outboundOnly.
func (t *Topic) graftCandidates(now time.Time, dst []*peerState, minScore float64, strict, outboundOnly bool) []*peerState {
	for _, ps := range t.order {
		if ps.inMesh || ps.Direct || (outboundOnly && !ps.Outbound) || ps.Score < minScore ||
			(strict && ps.Score == minScore) || t.backoff.active(ps.ID, now) {
			continue
		}
		dst = append(dst, ps)
	}
	return dst
}

// selectBest shuffles ps, then moves the k best-scoring peers to the front,
// best first. Shuffling first makes the choice among equal scores random.
// A partial selection (O(n·k)) beats a sort for the small k used here.
func (t *Topic) selectBest(ps []*peerState, k int) {
	t.rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	for i := range min(k, len(ps)) {
		best := i
		for j := i + 1; j < len(ps); j++ {
			if ps[j].Score > ps[best].Score {
				best = j
			}
		}
		ps[i], ps[best] = ps[best], ps[i]
	}
}

func (t *Topic) graftAll(now time.Time, fx *Effects, ps []*peerState) {
	for _, p := range ps {
		t.grafted(now, p)
		fx.Grafts = append(fx.Grafts, p.ID)
	}
}

func (t *Topic) rebalanceMesh(now time.Time, fx *Effects) {
	cfg := &t.cfg
	grafted := len(fx.Grafts)

	if len(t.mesh) < cfg.Dlo {
		cand := t.graftCandidates(now, t.scratch[:0], 0, false, false)
		n := min(len(cand), cfg.D-len(t.mesh))
		t.selectBest(cand, n)
		cand = cand[:n]
		t.graftAll(now, fx, cand)
		t.scratch = cand[:0]
	}
	if out := t.outboundInMesh(); out < cfg.Dout {
		cand := t.graftCandidates(now, t.scratch[:0], 0, false, true)
		n := min(len(cand), cfg.Dout-out)
		t.selectBest(cand, n)
		cand = cand[:n]
		t.graftAll(now, fx, cand)
		t.scratch = cand[:0]
	}

	if len(t.mesh) > cfg.Dhi {
		t.stats.AboveDhiConditions++
		t.pruneOversubscribed(now, fx, fx.Grafts[grafted:])
	}

	if t.heartbeats > 0 && t.heartbeats%uint64(cfg.OpportunisticGraftTicks) == 0 && len(t.mesh) > 1 {
		t.opportunisticGraft(now, fx)
	}
	clear(t.scratch[:cap(t.scratch)])
}

// pruneOversubscribed brings the mesh from above Dhi down to D: it keeps
// the peers grafted in this heartbeat, then the Dscore best by score, then
// fills up to D at random; if fewer than Dout of the kept peers are outbound,
// outbound peers replace the last inbound ones (so Dout wins over Dscore,
// as in go-libp2p-pubsub, when Dscore+Dout > D). The rest is pruned.
func (t *Topic) pruneOversubscribed(now time.Time, fx *Effects, justGrafted []peer.ID) {
	cfg := &t.cfg
	plst := append(t.scratch[:0], t.mesh...)
	// Peers grafted in this heartbeat go first: never graft and prune at once.
	kept := 0
	for i, ps := range plst {
		if slices.Contains(justGrafted, ps.ID) {
			plst[kept], plst[i] = plst[i], plst[kept]
			kept++
		}
	}
	// Then the best by score up to Dscore; selectBest leaves the rest shuffled.
	t.selectBest(plst[kept:], cfg.Dscore-kept)
	d := max(cfg.D, kept)
	out := 0
	for _, ps := range plst[:d] {
		if ps.Outbound {
			out++
		}
	}
	for i, last := d, d-1; i < len(plst) && out < cfg.Dout; i++ {
		if !plst[i].Outbound {
			continue
		}
		for last >= kept && plst[last].Outbound {
			last--
		}
		if last < kept {
			break
		}
		plst[i], plst[last] = plst[last], plst[i]
		last--
		out++
	}
	for _, ps := range plst[d:] {
		t.unmesh(now, ps, cfg.PruneBackoff)
		fx.Prunes = append(fx.Prunes, t.makePrune(ps, cfg.PruneBackoff))
	}
	t.compactMesh()
	clear(plst)
	t.scratch = plst[:0]
}

// opportunisticGraft grafts peers scoring above the mesh median when the
// median is below the threshold: a defence against a mesh of mediocre
// (possibly Sybil) peers that never turns negative.
func (t *Topic) opportunisticGraft(now time.Time, fx *Effects) {
	sorted := append(t.scratch[:0], t.mesh...)
	slices.SortStableFunc(sorted, func(a, b *peerState) int { return cmp.Compare(b.Score, a.Score) })
	median := sorted[len(sorted)/2].Score
	clear(sorted)
	if median >= t.cfg.Thresholds.OpportunisticGraft {
		t.scratch = sorted[:0]
		return
	}
	cand := t.graftCandidates(now, sorted[:0], median, true, false)
	t.rng.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	cand = cand[:min(len(cand), t.cfg.OpportunisticGraftPeers)]
	t.graftAll(now, fx, cand)
	t.scratch = cand[:0]
}
