package mesh

import (
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// grafted puts a peer in our mesh (seed: mesh.addPeer + grafted): P1
// restarts, the P3 deficit waits for its activation window, and a fanout
// peer leaves the fanout.
func (t *Topic) grafted(now time.Time, ps *peerState) {
	ps.inMesh = true
	t.mesh = append(t.mesh, ps)
	ps.counters.Graft(now)
	if ps.inFanout {
		ps.inFanout = false
		t.fanout = removePeer(t.fanout, ps)
	}
}

// pruned takes a peer out of the mesh (seed: pruned + mesh.removePeer),
// charging the mesh-failure penalty P3b if its delivery deficit was active,
// and backs off from it for d; d = 0 is the seed's setBackoff = false (the
// peer pruned us and its PRUNE set the backoff, or it left the topic).
func (t *Topic) pruned(now time.Time, ps *peerState, d time.Duration) {
	t.unmesh(now, ps, d)
	t.mesh = removePeer(t.mesh, ps)
}

// unmesh is pruned without the removal from t.mesh, for callers that prune
// many peers and then compact the mesh once (compactMesh).
func (t *Topic) unmesh(now time.Time, ps *peerState, d time.Duration) {
	ps.counters.Prune(t.cfg.Score)
	ps.inMesh = false
	if d > 0 {
		t.UpdateBackoff(now, ps.ID, d)
	}
}

// compactMesh drops the peers unmesh took out of the mesh.
func (t *Topic) compactMesh() {
	t.mesh = slices.DeleteFunc(t.mesh, func(ps *peerState) bool { return !ps.inMesh })
}

// makePrune builds the PRUNE we send to a peer, with peer exchange when enabled.
func (t *Topic) makePrune(to *peerState, backoff time.Duration) Prune {
	p := Prune{To: to.ID, Backoff: backoff}
	if to.Features.PX {
		p.PX = t.PeerExchangeList(to.ID)
	}
	return p
}

// PeerExchangeList returns up to PrunePeers topic peers with a non-negative
// score to offer in a PRUNE to exclude (seed: peerExchangeList), or nil when
// PX is disabled. The sample is random so that PX spreads load.
func (t *Topic) PeerExchangeList(exclude peer.ID) []peer.ID {
	if !t.cfg.EnablePX || t.cfg.PrunePeers == 0 {
		return nil
	}
	cand := t.scratch2[:0]
	for _, ps := range t.order {
		if ps.ID != exclude && ps.Score >= 0 {
			cand = append(cand, ps)
		}
	}
	t.scratch2 = cand
	t.rng.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	n := min(len(cand), t.cfg.PrunePeers)
	out := make([]peer.ID, n)
	for i := range n {
		out[i] = cand[i].ID
	}
	clear(cand)
	return out
}

// HandleGraft handles a GRAFT for this topic from a peer (seed: handleGraft).
// In order:
//   - from a direct peer: a protocol violation: PRUNE (without PX), backoff,
//     behaviour penalty;
//   - already in the mesh: nothing;
//   - while we back off from it (less 2·BackoffSlack of grace, for peers that
//     graft at the exact instant they may): PRUNE, backoff renewed, penalty,
//     and a second penalty if within GraftFloodThreshold of our PRUNE;
//   - negative score: PRUNE without PX, and backoff (as go-libp2p-pubsub:
//     silence would leave the peer with a one-sided mesh for minutes; the
//     backoff keeps us from grafting it as soon as its score recovers);
//   - topic not joined: ignored (the router may check this first; a GRAFT
//     for a topic without a Topic never reaches here);
//   - mesh below Dhi, or an outbound peer while outbound mesh peers are below
//     Dout: accepted;
//   - otherwise: PRUNE with peer exchange, and backoff.
//
// The adapter calls AddPeer (from the SUBSCRIBE of the same RPC) before; a
// GRAFT from an unknown peer is ignored.
func (t *Topic) HandleGraft(now time.Time, from peer.ID) *Effects {
	fx := t.begin()
	ps, ok := t.peers[from]
	if !ok || !ps.subscribed {
		return fx
	}
	switch {
	case ps.Direct:
		fx.Prunes = append(fx.Prunes, Prune{To: from, Backoff: t.cfg.PruneBackoff})
		t.setBackoff(from, now.Add(t.cfg.PruneBackoff))
		fx.Penalties = append(fx.Penalties, Penalty{Peer: from, Amount: t.cfg.PenaltyGraftDirect, Reason: PenaltyGraftDirect})
	case ps.inMesh:
	case t.backoff.get(from).Add(-2 * t.cfg.BackoffSlack).After(now):
		until := t.backoff.get(from)
		fx.Penalties = append(fx.Penalties, Penalty{Peer: from, Amount: t.cfg.PenaltyGraftBackoff, Reason: PenaltyGraftBackoff})
		// Our PRUNE was sent PruneBackoff before the backoff's end.
		if now.Before(until.Add(t.cfg.GraftFloodThreshold - t.cfg.PruneBackoff)) {
			fx.Penalties = append(fx.Penalties, Penalty{Peer: from, Amount: t.cfg.PenaltyGraftFlood, Reason: PenaltyGraftFlood})
		}
		fx.Prunes = append(fx.Prunes, Prune{To: from, Backoff: t.cfg.PruneBackoff})
		t.setBackoff(from, now.Add(t.cfg.PruneBackoff))
	case ps.Score < 0:
		fx.Prunes = append(fx.Prunes, Prune{To: from, Backoff: t.cfg.PruneBackoff})
		t.UpdateBackoff(now, from, t.cfg.PruneBackoff)
	case !t.joined:
	case len(t.mesh) < t.cfg.Dhi || (ps.Outbound && t.outboundInMesh() < t.cfg.Dout):
		t.grafted(now, ps)
	default:
		fx.Prunes = append(fx.Prunes, t.makePrune(ps, t.cfg.PruneBackoff))
		t.UpdateBackoff(now, from, t.cfg.PruneBackoff)
	}
	return fx
}

// HandlePrune handles a PRUNE for this topic from a peer (seed: handlePrune),
// also one no longer subscribed (its backoff only): the peer leaves the mesh (with P3b if its deficit was active), we back off
// for the PRUNE's backoff plus BackoffSlack, clamped to MaxRemoteBackoff
// (a PRUNE without backoff, from a v1.0 peer, gets our PruneBackoff, as in
// go-libp2p-pubsub, so that the two sides do not graft and prune in a loop),
// and its peer exchange is passed on when PX is enabled and the sender scores
// at least the accept-PX threshold, truncated to PrunePeers.
func (t *Topic) HandlePrune(now time.Time, from peer.ID, prune *gossipsubv1.ControlPrune) *Effects {
	fx := t.begin()
	d := t.cfg.PruneBackoff
	if s := prune.GetBackoff(); s > 0 {
		d = clampRemoteBackoff(s, t.cfg.BackoffSlack, t.cfg.MaxRemoteBackoff)
	}
	// Even from a peer no longer subscribed: a peer leaving the topic sends
	// PRUNE and UNSUBSCRIBE, and the subscriptions of an RPC are handled
	// first. Only the backoff is recorded (one bounded entry per peer).
	t.UpdateBackoff(now, from, d)
	ps, ok := t.peers[from]
	if !ok {
		return fx
	}
	if ps.inMesh {
		t.pruned(now, ps, 0)
	}
	if px := t.getPeers(ps, prune); len(px) > 0 {
		fx.PeerExchange = append(fx.PeerExchange, PeerExchange{From: from, Peers: px})
	}
	return fx
}

// getPeers returns the PX records of a PRUNE we accept (seed: getPeers):
// none unless PX is enabled and the sender scores at least AcceptPX, and at
// most PrunePeers. Signed peer records are passed through undecoded; the
// adapter verifies them before anything is dialled.
func (t *Topic) getPeers(from *peerState, prune *gossipsubv1.ControlPrune) []*gossipsubv1.PeerInfo {
	px := prune.GetPeers()
	if len(px) == 0 {
		return nil
	}
	if !t.cfg.EnablePX || from.Score < t.cfg.Thresholds.AcceptPX {
		t.stats.PXIgnored++
		return nil
	}
	if len(px) > t.cfg.PrunePeers {
		t.stats.PXTruncated += uint64(len(px) - t.cfg.PrunePeers)
		px = px[:t.cfg.PrunePeers]
	}
	return px
}
