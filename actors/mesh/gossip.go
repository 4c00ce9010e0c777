package mesh

import (
	"cmp"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// advertised reports whether we advertised id to the peer: the id was in
// the gossip window (the newest HistoryGossip rounds) of a round in which
// the peer got our IHAVE, and in that round's sample if the window was
// truncated to MaxIHaveLength.
func (t *Topic) advertised(ps *peerState, id MessageID, round uint64) bool {
	s := t.mcache.shifts
	if ps.ihaveRounds == 0 || round > s {
		return false
	}
	g := uint64(t.cfg.HistoryGossip)
	hi := s - round // the IHAVE of round s-k covered rounds s-k-g+1 … s-k
	lo := uint64(0)
	if hi+1 > g {
		lo = hi + 1 - g
	}
	for k := lo; k <= hi && k < 64; k++ {
		if ps.ihaveRounds&(1<<k) == 0 {
			continue
		}
		sample, truncated := t.sampled[s-k]
		if !truncated {
			return true
		}
		if _, ok := sample[id]; ok {
			return true
		}
	}
	return false
}

func (t *Topic) sweepSampled() {
	for r := range t.sampled {
		if r+uint64(t.cfg.HistoryLength) < t.mcache.shifts {
			delete(t.sampled, r)
		}
	}
}

// promise is an IWANT we sent: the peer advertised the id and owes us the message.
type promise struct {
	peer     peer.ID
	deadline time.Time
	// round is the heartbeat (Topic.heartbeats) of the last IWANT for the
	// id, to whichever advertiser: within one heartbeat an id is asked once.
	round uint64
}

// promises tracks our outstanding IWANTs, one promise per id, charged to
// the first peer asked (P7). Within a heartbeat an id is asked of one peer
// only (the duplicate downloads of asking every advertiser at once, as the
// seed and go do, saved); an id still missing at a later heartbeat is asked
// of the next peer that advertises it, since the first may never answer and
// the others advertise it for only HistoryGossip heartbeats, less than
// IWantFollowupTime (ADR 0032). Bounded by max.
type promises struct {
	byID map[MessageID]promise
	max  int
}

func (p *promises) init(max int) {
	p.byID = make(map[MessageID]promise)
	p.max = max
}

func (p *promises) len() int { return len(p.byID) }

// fulfil closes the promise for id, whoever delivered the message.
func (p *promises) fulfil(id MessageID) { delete(p.byID, id) }

// forget drops the promises a peer owes us.
func (p *promises) forget(from peer.ID) {
	for id, pr := range p.byID {
		if pr.peer == from {
			delete(p.byID, id)
		}
	}
}

// GetGossipPeers emits this heartbeat's gossip (seed: getGossipPeers): one
// IHAVE with the ids of the last HistoryGossip cache windows (at most
// MaxIHaveLength, a random sample beyond) to max(Dlazy, GossipFactor·n) of
// the n eligible peers: subscribed, not in the mesh or fanout, not direct,
// scoring at least the gossip threshold. The heartbeat calls it.
func (t *Topic) GetGossipPeers() *Effects {
	fx := t.begin()
	t.getGossipPeers(fx)
	return fx
}

func (t *Topic) getGossipPeers(fx *Effects) {
	if !t.joined && len(t.fanout) == 0 {
		t.stats.CacheWindowSize = 0
		return
	}
	mids := t.mcache.window(t.idBuf[:0])
	t.idBuf = mids
	t.stats.CacheWindowSize = len(mids)
	if len(mids) == 0 {
		return
	}
	if len(mids) > t.cfg.MaxIHaveLength {
		t.rng.Shuffle(len(mids), func(i, j int) { mids[i], mids[j] = mids[j], mids[i] })
		mids = mids[:t.cfg.MaxIHaveLength]
		sample := make(map[MessageID]struct{}, len(mids))
		for _, id := range mids {
			sample[id] = struct{}{}
		}
		if t.sampled == nil {
			t.sampled = make(map[uint64]map[MessageID]struct{})
		}
		t.sampled[t.mcache.shifts] = sample
	}
	cand := t.scratch[:0]
	for _, ps := range t.order {
		if !ps.inMesh && !ps.inFanout && !ps.Direct && ps.Score >= t.cfg.Thresholds.Gossip {
			cand = append(cand, ps)
		}
	}
	target := t.cfg.Dlazy
	if f := int(t.cfg.GossipFactor * float64(len(cand))); f > target {
		target = f
	}
	if target < len(cand) {
		t.rng.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
		cand = cand[:target]
	}
	if len(cand) == 0 {
		t.scratch = cand
		return
	}
	start := len(t.toBuf)
	for _, ps := range cand {
		ps.ihaveRounds |= 1
		t.toBuf = append(t.toBuf, ps.ID)
	}
	clear(cand)
	t.scratch = cand[:0]
	t.stats.BroadcastIHaves += uint64(len(t.toBuf) - start)
	fx.IHaves = append(fx.IHaves, IHave{To: t.toBuf[start:], IDs: mids})
}

// HandleIHave handles an IHAVE for this topic (seed: handleIHave): it asks
// (IWANT) for the advertised ids we have not seen and have not asked anyone
// for in this heartbeat (see promises), at most budget of them, in random
// order (a peer truncating a long IWANT then still answers a fair sample).
// Each id asked becomes a promise the peer must keep within
// IWantFollowupTime. IHAVEs are ignored from peers below the gossip
// threshold, from unknown peers, and while we have not joined the topic.
//
// Budget: the IHAVE budgets are per peer across topics (the seed's
// iHaveBudget, go's MaxIHaveMessages/MaxIHaveLength), so the peer session
// owns them, as DESIGN.md says: it drops IHAVEs beyond 10 per heartbeat and
// passes the ids it may still ask this peer for as budget; the number used
// is len(IWants[0].IDs), which the session subtracts.
func (t *Topic) HandleIHave(now time.Time, from peer.ID, ids [][]byte, budget int) *Effects {
	fx := t.begin()
	ps, ok := t.peers[from]
	if !ok || !t.joined || ps.Score < t.cfg.Thresholds.Gossip || budget <= 0 {
		return fx
	}
	want := t.wantBuf[:0]
	deadline := now.Add(t.cfg.IWantFollowupTime)
	for _, raw := range ids {
		if len(want) >= budget {
			break
		}
		if t.seen.get(MessageID(raw)) != nil {
			continue
		}
		if pr, asked := t.promises.byID[MessageID(raw)]; asked {
			if pr.round == t.heartbeats {
				continue
			}
			// Asked in an earlier heartbeat and still missing: ask this
			// advertiser too; the first peer's promise stands.
			pr.round = t.heartbeats
			t.promises.byID[MessageID(raw)] = pr
			t.stats.IWantsRepeated++
			want = append(want, MessageID(raw))
			continue
		}
		if len(t.promises.byID) >= t.promises.max {
			t.stats.PromisesDropped++
			break
		}
		id := MessageID(raw)
		t.promises.byID[id] = promise{peer: from, deadline: deadline, round: t.heartbeats}
		want = append(want, id)
	}
	t.wantBuf = want
	if len(want) > 0 {
		t.rng.Shuffle(len(want), func(i, j int) { want[i], want[j] = want[j], want[i] })
		fx.IWants = append(fx.IWants, IWant{To: from, IDs: want})
	}
	return fx
}

// HandleIWant serves an IWANT from a peer (seed: handleIWant): only ids we
// advertised to that peer, each at most GossipRetransmission times, from the
// message cache, and not those the peer said it does not want. After more
// than MaxIWantInvalid ids we never advertised (or already served enough),
// the rest is skipped. Peers below the gossip threshold are ignored.
//
// IWANT carries no topic: the peer session, which sees every IHAVE it sends,
// routes each id to the topic that advertised it.
func (t *Topic) HandleIWant(now time.Time, from peer.ID, ids [][]byte) *Effects {
	fx := t.begin()
	ps, ok := t.peers[from]
	if !ok || ps.Score < t.cfg.Thresholds.Gossip {
		return fx
	}
	invalid := 0
	for i, raw := range ids {
		kind := t.canAskIWant(ps, MessageID(raw))
		t.stats.ReceivedIWants[kind]++
		switch kind {
		case IWantNotSent:
			invalid++
			if invalid > t.cfg.MaxIWantInvalid {
				t.stats.ReceivedIWants[IWantSkipped] += uint64(len(ids) - i - 1)
				return fx
			}
		case IWantCorrect:
			id := MessageID(raw)
			t.toBuf = append(t.toBuf, from)
			fx.Sends = append(fx.Sends, Send{To: t.toBuf[len(t.toBuf)-1:], ID: id, Msg: t.mcache.msgs[id].msg})
		}
	}
	return fx
}

// canAskIWant classifies one IWANT id from a peer (seed: canAskIWant plus the
// mcache lookup) and counts a serve:
//   - correct: advertised to the peer, cached, served fewer than
//     GossipRetransmission times, and not IDONTWANTed by the peer;
//   - unknown: a real message we no longer hold (still in the seen cache),
//     or one the peer said it does not want: not held against the peer;
//   - notsent: never advertised to the peer, served enough already, or an
//     id we never saw: counts toward MaxIWantInvalid.
func (t *Topic) canAskIWant(ps *peerState, id MessageID) IWantKind {
	c, ok := t.mcache.msgs[id]
	if !ok {
		if t.seen.get(id) != nil {
			return IWantUnknown
		}
		return IWantNotSent
	}
	if !t.advertised(ps, id, c.round) {
		return IWantNotSent
	}
	n := ps.served[id]
	if int(n) >= t.cfg.GossipRetransmission {
		t.stats.IWantRetransmitIgnored++
		return IWantNotSent
	}
	if ps.served == nil {
		ps.served = make(map[MessageID]uint16)
	}
	if len(ps.served) >= t.cfg.MaxIHaveLength {
		return IWantNotSent
	}
	ps.served[id] = n + 1
	if ps.dontWant.has(id) {
		return IWantUnknown
	}
	return IWantCorrect
}

// HandleIDontWant records ids a peer does not want from us (seed:
// handleIDontWant): forwards and IWANT replies skip them for HistoryLength
// heartbeats. At most IDontWantMaxPerHeartbeat ids per peer per heartbeat;
// the rest are dropped and counted. Unknown peers are ignored, so an
// IDONTWANT never creates state.
//
// IDONTWANT carries no topic: the router hands it to the topics in whose
// mesh the peer is (usually one shard in Waku).
func (t *Topic) HandleIDontWant(now time.Time, from peer.ID, ids [][]byte) {
	ps, ok := t.peers[from]
	if !ok || !ps.subscribed {
		return
	}
	for i, raw := range ids {
		if !ps.dontWant.add(MessageID(raw)) {
			t.stats.IDontWantDropped += uint64(len(ids) - i)
			return
		}
	}
}

// Overloaded records that the actor dropped received messages or gossip
// (its mailbox was full) up to now: promises made before it cannot be told
// broken from our own drop, so they are forgiven, not charged.
func (t *Topic) Overloaded(now time.Time) { t.overloadedAt = now }

// brokenPromises charges a behaviour penalty for every IWANT promise past its
// deadline (one per id), one Penalty per peer, in peer order; a promise made
// before we last dropped messages (Overloaded) is forgiven instead.
func (t *Topic) brokenPromises(now time.Time, fx *Effects) {
	start := len(fx.Penalties)
	for id, p := range t.promises.byID {
		if now.Before(p.deadline) {
			continue
		}
		delete(t.promises.byID, id)
		if !t.overloadedAt.IsZero() && !t.overloadedAt.Before(p.deadline.Add(-t.cfg.IWantFollowupTime)) {
			t.stats.PromisesForgiven++
			continue
		}
		t.stats.BrokenPromises++
		found := false
		for i := start; i < len(fx.Penalties); i++ {
			if fx.Penalties[i].Peer == p.peer {
				fx.Penalties[i].Amount += t.cfg.PenaltyBrokenPromise
				found = true
				break
			}
		}
		if !found {
			fx.Penalties = append(fx.Penalties, Penalty{Peer: p.peer, Amount: t.cfg.PenaltyBrokenPromise, Reason: PenaltyBrokenPromise})
		}
	}
	slices.SortFunc(fx.Penalties[start:], func(a, b Penalty) int { return cmp.Compare(a.Peer, b.Peer) })
}
