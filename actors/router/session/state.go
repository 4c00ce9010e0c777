package session

import (
	"hash/maphash"
	"time"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// State is the pure per-peer bookkeeping of a session: the outbound queue,
// the IDONTWANT set the peer sent us, the ids we advertised to it in IHAVE
// (and in which topic), and its IHAVE budget for the current heartbeat.
//
// Time is counted in heartbeats (Heartbeat is called once per router tick);
// there is no clock.
type State struct {
	cfg   Config
	Queue *Queue

	heartbeat uint64
	// dontWant: message id → heartbeat it was received in.
	dontWant map[string]uint64
	// advertised: message id → topic and heartbeat it was advertised in,
	// keyed by idKey (a seeded 64-bit hash) rather than by a copy of the id:
	// one entry per id per gossip peer, and with 32-byte ids the copies were
	// the larger part (16 % of a node's live heap in M1, ADR 0021).
	advertised map[uint64]advert

	// advertisedIDs counts every id we advertised to the peer, unknownIWant
	// every id it asked for that we could not answer (RouteIWant).
	advertisedIDs, unknownIWant uint64

	ihaveMessages int // IHAVE control entries accepted this heartbeat
	ihaveIDs      int // IHAVE ids accepted this heartbeat
	dontWantIDs   int // IDONTWANT ids accepted this heartbeat
	badFrames     int // inbound frames the peer built wrong this heartbeat

	congested bool // the outbound queue is congested (Congestion)
}

type advert struct {
	topic string
	hb    uint64
}

// Counts reports what one State call did, for metrics.
type Counts struct {
	Drops Drops
	// Expired queued items: they waited longer than their lane's age
	// limit (Config.MaxForwardAge, MaxGossipAge, MaxPublishAge).
	Expired Drops
	// Skipped messages: the peer said it does not want them.
	DontWantSkipped int
	// Duplicates: the message was already queued for this peer.
	Duplicates int
	// Cancelled queued messages (IDONTWANT).
	Cancelled int
	// IDontWantElided: IDONTWANT ids not queued because the same command
	// carries the message itself (see withoutSent).
	IDontWantElided int
	// CancelledByCopy: queued sends cancelled because the peer sent us the
	// message (see Received).
	CancelledByCopy int
	// Unsupported control entries (IDONTWANT on a pre-1.2 stream).
	Unsupported int
	// Refused entries over a budget (IHAVE, IDONTWANT, advertised ids).
	OverBudget int
}

// NewState returns the state of a fresh session.
func NewState(cfg Config) *State {
	q := NewQueue(cfg.MaxQueueBytes)
	q.SetMaxAge(pubsubv1.Priority_PRIORITY_FORWARD, cfg.MaxForwardAge)
	q.SetMaxAge(pubsubv1.Priority_PRIORITY_GOSSIP, cfg.MaxGossipAge)
	q.SetMaxAge(pubsubv1.Priority_PRIORITY_PUBLISH, cfg.MaxPublishAge)
	return &State{
		cfg:        cfg,
		Queue:      q,
		dontWant:   make(map[string]uint64),
		advertised: make(map[uint64]advert),
	}
}

// Expire gives the outbound queue the time (the session's monotonic clock,
// read once per handled message) and drops what waited too long.
func (s *State) Expire(now time.Time) Counts { return Counts{Expired: s.Queue.Expire(now)} }

// Congestion updates whether the outbound queue is congested, after an
// Expire that expired expired forwards: congested once the oldest forward
// or own publish has waited longer than Config.CongestedAge or forwards
// expired; healthy again once neither lane holds anything older than half
// of it and nothing expired (hysteresis: a queue near the limit does not
// flap). It returns the state and whether it changed; with CongestedAge 0
// the queue is never congested.
func (s *State) Congestion(expired int) (congested, changed bool) {
	limit := s.cfg.CongestedAge
	if limit <= 0 {
		return false, false
	}
	var oldest time.Duration
	for _, p := range []pubsubv1.Priority{pubsubv1.Priority_PRIORITY_FORWARD, pubsubv1.Priority_PRIORITY_PUBLISH} {
		if age, ok := s.Queue.OldestAge(p); ok {
			oldest = max(oldest, age)
		}
	}
	was := s.congested
	switch {
	case expired > 0 || oldest > limit:
		s.congested = true
	case oldest <= limit/2:
		s.congested = false
	}
	return s.congested, s.congested != was
}

// Congested reports the state of the last Congestion.
func (s *State) Congested() bool { return s.congested }

// Enqueue queues the parts of cmd. Messages the peer told us it does not want
// are skipped; IHAVE ids are remembered with their topic so that an IWANT can
// be routed back; IDONTWANT is dropped when the stream does not support it.
// Priorities: subscriptions, GRAFT, PRUNE, IWANT, IDONTWANT are control;
// IHAVE is gossip; messages take cmd's priority.
func (s *State) Enqueue(cmd *pubsubv1.SendToPeer, idontwant bool) Counts {
	var c Counts
	for _, sub := range cmd.GetSubscriptions() {
		c.Drops = add(c.Drops, s.Queue.PushSubscription(sub))
	}
	prio := cmd.GetPriority()
	if prio == pubsubv1.Priority_PRIORITY_UNSPECIFIED {
		prio = pubsubv1.Priority_PRIORITY_FORWARD
	}
	for _, m := range cmd.GetMessages() {
		id := string(m.GetId())
		if _, no := s.dontWant[id]; no {
			c.DontWantSkipped++
			continue
		}
		d, dup := s.Queue.PushMessage(prio, id, m.GetMessage())
		if dup {
			c.Duplicates++
		}
		c.Drops = add(c.Drops, d)
	}
	ctrl := cmd.GetControl()
	if ctrl == nil {
		return c
	}
	if len(ctrl.GetIhave()) > 0 {
		s.rememberIHave(ctrl.GetIhave(), &c)
		c.Drops = add(c.Drops, s.Queue.PushControlSplit(pubsubv1.Priority_PRIORITY_GOSSIP,
			&gossipsubv1.ControlMessage{Ihave: ctrl.GetIhave()}, s.cfg.OutboundFrame))
	}
	rest := &gossipsubv1.ControlMessage{Iwant: ctrl.GetIwant(), Graft: ctrl.GetGraft(), Prune: ctrl.GetPrune()}
	if len(rest.Iwant)+len(rest.Graft)+len(rest.Prune) > 0 {
		c.Drops = add(c.Drops, s.Queue.PushControlSplit(pubsubv1.Priority_PRIORITY_CONTROL, rest, s.cfg.OutboundFrame))
	}
	if !idontwant {
		c.Unsupported += len(ctrl.GetIdontwant())
		return c
	}
	idw, saved := withoutSent(ctrl.GetIdontwant(), cmd.GetMessages())
	c.IDontWantElided += saved
	c.Drops = add(c.Drops, s.pushIDontWant(idw))
	return c
}

// pushIDontWant queues IDONTWANT ids in control fragments of at most
// MaxIDontWantPerFrame ids (PopFrame puts at most that many in a frame): a
// go-libp2p-pubsub peer honours only the first MaxIDontWantLength ids of an
// RPC, and IDONTWANT must leave at once, not wait to be piggybacked (spec
// v1.2), so each fragment goes in the next frame written.
func (s *State) pushIDontWant(entries []*gossipsubv1.ControlIDontWant) Drops {
	var d Drops
	per := s.cfg.MaxIDontWantPerFrame
	var chunk [][]byte
	emit := func() {
		if len(chunk) > 0 {
			d = add(d, s.Queue.PushControl(pubsubv1.Priority_PRIORITY_CONTROL,
				&gossipsubv1.ControlMessage{Idontwant: []*gossipsubv1.ControlIDontWant{{MessageIDs: chunk}}}))
			chunk = nil
		}
	}
	for _, e := range entries {
		for _, id := range e.GetMessageIDs() {
			if chunk == nil {
				chunk = make([][]byte, 0, min(per, 16))
			}
			chunk = append(chunk, id)
			if len(chunk) == per {
				emit()
			}
		}
	}
	emit()
	return d
}

func (s *State) rememberIHave(ihaves []*gossipsubv1.ControlIHave, c *Counts) {
	for _, ih := range ihaves {
		s.advertisedIDs += uint64(len(ih.GetMessageIDs()))
		for _, id := range ih.GetMessageIDs() {
			if len(s.advertised) >= s.cfg.MaxAdvertised {
				c.OverBudget++
				continue
			}
			s.advertised[idKey(id)] = advert{topic: ih.GetTopicID(), hb: s.heartbeat}
		}
	}
}

// HandleIDontWant records the ids the peer does not want (within the
// per-heartbeat budget and the set's capacity) and cancels queued sends.
func (s *State) HandleIDontWant(entries []*gossipsubv1.ControlIDontWant) Counts {
	var c Counts
	for _, e := range entries {
		for _, id := range e.GetMessageIDs() {
			if s.dontWantIDs >= s.cfg.MaxIDontWantPerHeartbeat || len(s.dontWant) >= s.cfg.MaxIDontWant {
				c.OverBudget++
				continue
			}
			s.dontWantIDs++
			key := string(id)
			s.dontWant[key] = s.heartbeat
			if s.Queue.Cancel(key) {
				c.Cancelled++
			}
		}
	}
	return c
}

// withoutSent returns the IDONTWANT entries minus the ids of msgs, and how
// many ids it left out. A topic actor that validates synchronously sends the
// IDONTWANT (before validation) and the forward (after it) in one command:
// telling a peer we do not want a message we are sending it in the same
// frame is useless (a peer never forwards a message back to the peer it got
// it from, and the copy itself cancels the peer's queued send, see Received),
// and it cost the peer a decode, a set insert and a TTL entry per mesh link
// per message. It allocates only when it leaves something out, or when msgs
// are many (a topic actor's batch, ADR 0021): then it looks ids up by hash
// rather than comparing every id with every message.
func withoutSent(entries []*gossipsubv1.ControlIDontWant, msgs []*pubsubv1.IdentifiedMessage) ([]*gossipsubv1.ControlIDontWant, int) {
	if len(msgs) == 0 || len(entries) == 0 {
		return entries, 0
	}
	var byHash map[uint64]int // hash of a message id → its index in msgs
	if len(msgs) > withoutSentScan {
		byHash = make(map[uint64]int, len(msgs))
		for i, m := range msgs {
			byHash[maphash.Bytes(idSeed, m.GetId())] = i
		}
	}
	sent := func(id []byte) bool {
		if byHash != nil {
			// Two ids of one hash keep the later index: the other then reads
			// as not sent and its IDONTWANT stays, which is only useless.
			i, ok := byHash[maphash.Bytes(idSeed, id)]
			return ok && string(msgs[i].GetId()) == string(id)
		}
		for _, m := range msgs {
			if string(m.GetId()) == string(id) {
				return true
			}
		}
		return false
	}
	var out []*gossipsubv1.ControlIDontWant // nil until an id is left out
	saved := 0
	for i, e := range entries {
		ids := e.GetMessageIDs()
		n := 0
		for _, id := range ids {
			if sent(id) {
				n++
			}
		}
		if n == 0 {
			if out != nil {
				out = append(out, e)
			}
			continue
		}
		saved += n
		if out == nil {
			out = append(make([]*gossipsubv1.ControlIDontWant, 0, len(entries)), entries[:i]...)
		}
		if n == len(ids) {
			continue
		}
		keep := make([][]byte, 0, len(ids)-n)
		for _, id := range ids {
			if !sent(id) {
				keep = append(keep, id)
			}
		}
		out = append(out, &gossipsubv1.ControlIDontWant{MessageIDs: keep})
	}
	if out == nil {
		return entries, 0
	}
	return out, saved
}

// withoutSentScan is the most messages withoutSent compares ids with one by
// one; a batch of 64 messages and their 64 IDONTWANT entries took 4,096
// comparisons of 32-byte ids per command.
const withoutSentScan = 8

// idSeed seeds the id hashes of withoutSent and idKey: random per process,
// so a peer cannot pick ids that collide.
var idSeed = maphash.MakeSeed()

// idKey is the key of a message id in advertised. Two ids of one key (odds
// about n/2^64 with a seed the peer does not know) would let an IWANT for
// the one pass as asked for the other: it is then answered if the topic
// still caches it, which is what an IWANT for an advertised id gets anyway.
func idKey(id []byte) uint64 { return maphash.Bytes(idSeed, id) }

// Received notes that the peer sent us the message id: a send of it still
// queued for the peer is cancelled, since the peer has the message (a copy
// is an implicit IDONTWANT). It costs one lookup in the queue's index and no
// entry in the IDONTWANT set (the topic actor never forwards a message to a
// peer that sent it a copy before the forward).
func (s *State) Received(id string) Counts {
	var c Counts
	if s.Queue.Cancel(id) {
		c.CancelledByCopy++
	}
	return c
}

// DontWant reports whether the peer said it does not want id.
func (s *State) DontWant(id string) bool { _, ok := s.dontWant[id]; return ok }

// AcceptIHave applies the per-heartbeat IHAVE budget (MaxIHaveMessages
// entries, MaxIHaveLength ids) and returns the entries to pass on, truncating
// the last one to the remaining id budget. It allocates only when it must
// truncate.
func (s *State) AcceptIHave(entries []*gossipsubv1.ControlIHave) (accepted []*gossipsubv1.ControlIHave, refused int) {
	for i, e := range entries {
		left := s.cfg.MaxIHaveLength - s.ihaveIDs
		if s.ihaveMessages >= s.cfg.MaxIHaveMessages || left <= 0 {
			for _, r := range entries[i:] {
				refused += len(r.GetMessageIDs())
			}
			return accepted, refused
		}
		s.ihaveMessages++
		ids := e.GetMessageIDs()
		if len(ids) > left {
			refused += len(ids) - left
			e = &gossipsubv1.ControlIHave{TopicID: e.TopicID, MessageIDs: ids[:left]}
			ids = ids[:left]
		}
		s.ihaveIDs += len(ids)
		accepted = append(accepted, e)
	}
	return accepted, refused
}

// IWantResult is what RouteIWant did with the IWANT ids of one RPC.
type IWantResult struct {
	// Unknown ids were never advertised to this peer (or expired): not
	// answered (nim's canAskIWant).
	Unknown int
	// Skipped ids were not looked at: the RPC had passed MaxInvalidIWant
	// unknown ids, and processing stopped there (nim's handleIWant).
	Skipped int
	// Abusive: the RPC was cut off, and the peer has asked for more unknown
	// ids than we ever advertised to it. An honest peer asks only for what
	// we advertised, so even if all its requests came too late (expired) it
	// cannot pass that count; the session charges a behaviour penalty.
	Abusive bool
}

// RouteIWant groups the requested ids by the topic we advertised them in;
// ids we never advertised to this peer (or that expired) are counted as
// unknown and not answered, and after MaxInvalidIWant of them the rest of
// the RPC is skipped.
func (s *State) RouteIWant(entries []*gossipsubv1.ControlIWant, out map[string][][]byte) (r IWantResult) {
	for _, e := range entries {
		for k, id := range e.GetMessageIDs() {
			if r.Skipped > 0 {
				r.Skipped += len(e.GetMessageIDs()) - k
				break
			}
			a, ok := s.advertised[idKey(id)]
			if !ok {
				if r.Unknown >= s.cfg.MaxInvalidIWant {
					r.Skipped = len(e.GetMessageIDs()) - k
					break
				}
				r.Unknown++
				continue
			}
			out[a.topic] = append(out[a.topic], id)
		}
	}
	s.unknownIWant += uint64(r.Unknown + r.Skipped)
	r.Abusive = r.Skipped > 0 && s.unknownIWant > s.advertisedIDs
	return r
}

// Heartbeat starts a new heartbeat: budgets reset, IDONTWANT entries older
// than IDontWantTTL heartbeats and advertisements older than AdvertisedTTL
// heartbeats expire.
func (s *State) Heartbeat() {
	s.heartbeat++
	s.ihaveMessages, s.ihaveIDs, s.dontWantIDs, s.badFrames = 0, 0, 0, 0
	for id, hb := range s.dontWant {
		if s.heartbeat-hb >= uint64(s.cfg.IDontWantTTL) {
			delete(s.dontWant, id)
		}
	}
	for id, a := range s.advertised {
		if s.heartbeat-a.hb >= uint64(s.cfg.AdvertisedTTL) {
			delete(s.advertised, id)
		}
	}
}

// BadFrame counts an inbound frame the peer built wrong (PeerFault) and
// reports whether this heartbeat's count just passed
// Config.MaxBadFramesPerHeartbeat: the peer is to be disconnected (once).
func (s *State) BadFrame() (disconnect bool) {
	s.badFrames++
	return s.cfg.MaxBadFramesPerHeartbeat > 0 && s.badFrames == s.cfg.MaxBadFramesPerHeartbeat+1
}

func add(a, b Drops) Drops {
	for i := range a {
		a[i] += b[i]
	}
	return a
}
