package mesh

import (
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// Publish sends our own message. It is marked seen and cached, then sent to
// every topic peer scoring at least the publish threshold when FloodPublish
// is on; otherwise to the mesh, or (not joined) to the fanout, which is
// created or topped up and kept alive for FanoutTTL. Direct peers always get
// it. A message id already seen is not sent again.
func (t *Topic) Publish(now time.Time, id MessageID, msg *gossipsubv1.Message) *Effects {
	fx := t.begin()
	if t.seen.get(id) != nil {
		t.stats.Duplicates++
		return fx
	}
	t.seen.add(now, seenEntry{id: id, state: seenPublished, validated: now.UnixNano()}, &t.stats)
	t.promises.fulfil(id)
	t.cache(id, msg)
	if !t.joined {
		t.lastPublish = now
		t.replenishFanout()
	}
	start := len(t.toBuf)
	for _, ps := range t.order {
		switch {
		case ps.Direct:
		case t.cfg.FloodPublish:
			if ps.Score < t.cfg.Thresholds.Publish {
				continue
			}
		case t.joined:
			if !ps.inMesh {
				continue
			}
		default:
			if !ps.inFanout {
				continue
			}
		}
		t.toBuf = append(t.toBuf, ps.ID)
	}
	if to := t.toBuf[start:]; len(to) > 0 {
		fx.Sends = append(fx.Sends, Send{To: to, ID: id, Msg: msg})
	}
	return fx
}

func (t *Topic) cache(id MessageID, msg *gossipsubv1.Message) {
	if !t.mcache.put(id, msg) {
		if _, ok := t.mcache.get(id); !ok {
			t.stats.CacheDropped++
		}
	}
}

// HandleMessage takes a message for this topic received from a peer, before
// validation. A new id is marked seen, fulfils our IWANT promises for it,
// triggers IDONTWANT to the mesh when the data is at least IDontWantMinSize
// bytes (before validation, so peers can skip their copy), and is handed to
// validation. A duplicate is counted: during validation its sender is
// remembered (credited or penalised with the first sender, never forwarded
// the message); after acceptance a mesh peer within the P3 window earns a
// mesh delivery; after rejection the sender is penalised (P4) as well.
// When MaxPendingValidations messages are pending the message is dropped
// unvalidated but marked seen (as ignored) and its IWANT promise answered,
// as go-libp2p-pubsub does at a full validation queue: the sender kept its
// promise (we must not charge it P7 for our overload), and the copies that
// follow are duplicates rather than more work for a full queue.
//
// msg nil is a copy whose body the reader dropped because the id was known
// (KnownIDs): a duplicate as any other, or, if the seen cache no longer
// holds the id (evicted early or expired meanwhile), dropped and counted in
// Stats.KnownUnseen.
func (t *Topic) HandleMessage(now time.Time, from peer.ID, id MessageID, msg *gossipsubv1.Message) *Effects {
	fx := t.begin()
	if e := t.seen.get(id); e != nil {
		t.duplicate(now, e, from)
		return fx
	}
	if msg == nil {
		t.stats.KnownUnseen++
		return fx
	}
	t.promises.fulfil(id)
	if t.seen.pending >= t.cfg.MaxPendingValidations {
		t.stats.ValidationDropped++
		t.seen.add(now, seenEntry{id: id, state: seenIgnored, validated: now.UnixNano()}, &t.stats)
		return fx
	}
	t.seen.add(now, seenEntry{id: id, state: seenPending, pend: &pendingEntry{from: from, msg: msg}}, &t.stats)
	if len(msg.GetData()) >= t.cfg.IDontWantMinSize {
		start := len(t.toBuf)
		for _, ps := range t.mesh {
			if ps.ID != from && ps.Features.IDontWant {
				t.toBuf = append(t.toBuf, ps.ID)
			}
		}
		if to := t.toBuf[start:]; len(to) > 0 {
			fx.IDontWants = append(fx.IDontWants, IDontWant{To: to, ID: id})
		}
	}
	fx.Validations = append(fx.Validations, Validation{ID: id, From: from, Msg: msg})
	return fx
}

func (t *Topic) duplicate(now time.Time, e *seenEntry, from peer.ID) {
	t.stats.Duplicates++
	ps := t.peers[from]
	switch e.state {
	case seenPending:
		if p := e.pend; from != p.from && len(p.dups) < t.cfg.MaxDuplicateSources && !slices.Contains(p.dups, from) {
			p.dups = append(p.dups, from)
		}
	case seenAccepted:
		if ps != nil && now.UnixNano()-e.validated <= int64(t.cfg.Score.MeshMessageDeliveriesWindow) {
			ps.counters.MeshDelivery(t.cfg.Score)
		}
	case seenRejected:
		if ps != nil {
			ps.counters.Invalid()
		}
	}
}

// HandleValidated applies a validation result for a message handed out by
// HandleMessage (unknown or already-decided ids are ignored).
//   - Accept: the first sender earns a first delivery (P2, and P3 if in the
//     mesh), peers that sent a copy meanwhile earn a mesh delivery (P3); the
//     message is delivered locally (when joined), cached, and forwarded to the
//     mesh and direct peers except its sender, its author, peers that sent a
//     copy, and peers that sent IDONTWANT for it.
//   - Reject: the sender and the copies' senders are charged an invalid message (P4).
//   - Ignore: dropped.
func (t *Topic) HandleValidated(now time.Time, id MessageID, res ValidationResult) *Effects {
	fx := t.begin()
	e := t.seen.get(id)
	if e == nil || e.state != seenPending {
		return fx
	}
	p := e.pend
	msg := p.msg
	e.pend = nil
	e.validated = now.UnixNano()
	t.seen.pending--
	switch res {
	case ValidationAccept:
		e.state = seenAccepted
		if ps := t.peers[p.from]; ps != nil {
			ps.counters.FirstDelivery(t.cfg.Score)
		}
		for _, d := range p.dups {
			if ps := t.peers[d]; ps != nil {
				ps.counters.MeshDelivery(t.cfg.Score)
			}
		}
		if t.joined {
			fx.Deliveries = append(fx.Deliveries, Delivery{ID: id, Msg: msg, From: p.from})
		}
		t.cache(id, msg)
		t.forward(fx, id, msg, p)
	case ValidationReject:
		e.state = seenRejected
		if ps := t.peers[p.from]; ps != nil {
			ps.counters.Invalid()
		}
		for _, d := range p.dups {
			if ps := t.peers[d]; ps != nil {
				ps.counters.Invalid()
			}
		}
	default:
		e.state = seenIgnored
	}
	return fx
}

// forward sends an accepted message to the mesh and direct peers, except its
// sender, its author (a signed message's from: go-libp2p-pubsub counts its
// own message coming back as an invalid delivery, P4, and prunes the peer
// with a backoff), those that sent a copy, and those that sent IDONTWANT for
// it.
func (t *Topic) forward(fx *Effects, id MessageID, msg *gossipsubv1.Message, e *pendingEntry) {
	start := len(t.toBuf)
	author := peer.ID(msg.GetFrom())
	add := func(ps *peerState) {
		if ps.ID == e.from || ps.ID == author || slices.Contains(e.dups, ps.ID) || ps.dontWant.has(id) {
			return
		}
		t.toBuf = append(t.toBuf, ps.ID)
	}
	for _, ps := range t.mesh {
		add(ps)
	}
	if t.nDirect > 0 {
		for _, ps := range t.order {
			if ps.Direct && !ps.inMesh {
				add(ps)
			}
		}
	}
	if to := t.toBuf[start:]; len(to) > 0 {
		fx.Sends = append(fx.Sends, Send{To: to, ID: id, Msg: msg})
	}
}

// ChargeInvalid charges peer n invalid messages (P4) that were refused before
// reaching the topic (signature policy, author fields, size), as
// go-libp2p-pubsub scores them as invalid deliveries. Their ids are not
// marked seen: a forged from||seqno id would otherwise censor the genuine
// message. A peer not subscribed to the topic gets departed-peer counters
// (forgotten once they decay), so not subscribing does not dodge the
// penalty; when MaxPeers is reached the charge is refused and counted in
// Stats.PeersRejected.
func (t *Topic) ChargeInvalid(now time.Time, from peer.ID, n int) {
	if n <= 0 {
		return
	}
	ps := t.peers[from]
	if ps == nil {
		if ps = t.admit(PeerAttrs{ID: from}); ps == nil {
			return
		}
		ps.departed = now
	}
	for range n {
		ps.counters.Invalid()
	}
}
