package session

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peermesh/peermesh/wire"
)

// Config bounds one peer session. Every limit here has a metric and a
// documented behaviour when reached.
type Config struct {
	// Protocols offered on the outbound stream, most preferred first
	// (wire.Profile.Protocols()).
	Protocols []protocol.ID
	// MaxFrame is the largest RPC frame read or written, bytes
	// (wire.Profile.MaxFrame()). A larger inbound length prefix resets the
	// stream before anything is allocated; outbound batches are cut to it.
	MaxFrame int
	// OutboundFrame is the size the session shapes outbound frames to,
	// bytes: batches are cut to it and control fragments (a 5,000-id IHAVE
	// is 170 KB) split to fit it. 64 KiB, rust-libp2p's default
	// max_transmit_size, is the smallest limit of the implementations we
	// peer with; only a single message larger than it goes in a larger
	// frame (up to MaxFrame). At most MaxFrame.
	OutboundFrame int
	// MaxIDontWantPerFrame bounds the IDONTWANT ids in one outbound frame:
	// go-libp2p-pubsub honours only the first MaxIDontWantLength (10) ids
	// of an RPC. More ids go in further frames of the same write.
	MaxIDontWantPerFrame int
	// Limits bound the entries of one decoded inbound RPC.
	Limits wire.Limits
	// MaxQueueBytes bounds the outbound queue (encoded bytes plus
	// ItemOverhead per item). When full the lowest priority is dropped
	// first and counted (libp2p_pubsub_queue_drops_total{priority}).
	MaxQueueBytes int
	// MaxForwardAge bounds how long a forwarded message may wait in the
	// outbound queue; older ones are dropped and counted
	// (libp2p_pubsub_queue_expired_total{priority="forward"}): by then the
	// peer has the message from its other mesh peers or gets it by gossip,
	// and under overload a queue bounded only in bytes held seconds of
	// traffic (ADR 0021). 0: no age limit.
	MaxForwardAge time.Duration
	// CongestedAge: the session reports its peer congested to its topic
	// actors (PeerCongestion) once the oldest forward or own publish in the
	// outbound queue has waited longer than this, or forwards expired, and
	// healthy again once the oldest has waited at most half of it and none
	// expired. Topic actors hold their node's own publishes while enough of
	// their mesh is congested (publish admission, ADR 0030). 0: never
	// reported.
	CongestedAge time.Duration
	// MaxGossipAge bounds the wait of gossip (IHAVE, IWANT replies) the
	// same way. It stays below the follow-up time within which a peer
	// expects the reply to its IWANT (3 s in go-libp2p-pubsub) less the
	// network's share: a reply dropped earlier would turn a late answer
	// into a broken promise (P7); one later is a broken promise anyway.
	// 0: no age limit.
	MaxGossipAge time.Duration
	// MaxPublishAge bounds how long one of our own publishes may wait in
	// the outbound queue (counted as priority="publish"). 0, the default:
	// no age limit, only the byte bound (a publish evicts forwards and
	// gossip, never control). No other node has the message yet, so a
	// publish shed at the publisher is lost where every peer is in the
	// mesh (no gossip brings it back): a burst of ten 149 KiB publishes
	// outlasted the forward age (ADR 0024).
	MaxPublishAge time.Duration
	// MaxIHaveMessages is how many IHAVE entries of the peer are accepted
	// per heartbeat; more are ignored and counted.
	MaxIHaveMessages int
	// MaxIHaveLength is how many IHAVE ids of the peer are accepted per
	// heartbeat.
	MaxIHaveLength int
	// MaxIDontWant bounds the IDONTWANT ids remembered for the peer.
	MaxIDontWant int
	// MaxIDontWantPerHeartbeat bounds the IDONTWANT ids accepted per heartbeat.
	MaxIDontWantPerHeartbeat int
	// IDontWantTTL is how many heartbeats an IDONTWANT id is remembered.
	IDontWantTTL int
	// MaxAdvertised bounds the ids we remember having advertised to the
	// peer (IWANT for other ids is not answered).
	MaxAdvertised int
	// AdvertisedTTL is how many heartbeats an advertised id may be asked for.
	AdvertisedTTL int
	// MaxTopicLength bounds a topic name the peer subscribes to, bytes: a
	// longer one is refused and counted (inbound_drops{topic_too_long}), as
	// the peer's topics are kept for its whole session (MaxSubscriptions of
	// them). 256: Waku shard topics are ~20 bytes, Ethereum's ~60.
	MaxTopicLength int
	// MaxInvalidIWant is how many ids of one RPC's IWANTs that we cannot
	// answer (never advertised, or expired) are looked up; the rest of the
	// RPC's IWANT ids are skipped and counted (nim's handleIWant: 20).
	MaxInvalidIWant int
	// PenaltyUnsolicitedIWant is the behaviour penalty (P7) charged for an
	// RPC cut off at MaxInvalidIWant by a peer that has asked for more
	// unknown ids than we ever advertised to it (an honest peer asks only
	// for advertised ids, so it never gets there even when its IWANTs come
	// too late); counted in libp2p_gossipsub_behaviour_penalties_total
	// {reason="iwant_unsolicited"}. 0 disables it.
	PenaltyUnsolicitedIWant float64
	// PenaltyWriteTimeout is the behaviour penalty (P7) charged when a
	// write to the peer's stream did not finish within WriteTimeout: the
	// peer has not read for that long (reliability case R4, rust-libp2p
	// downscores slow peers too). The session then ends at once instead of
	// reopening the stream (a reopened stream to a peer that does not read
	// blocks again), so the peer leaves the mesh, and while its score is
	// negative it is not grafted again. Counted in
	// libp2p_gossipsub_behaviour_penalties_total{reason="write_timeout"}.
	// A peer slow for less than WriteTimeout is not charged. 0 disables
	// the penalty (the session still ends).
	PenaltyWriteTimeout float64
	// OpenTimeout bounds opening and negotiating the outbound stream.
	OpenTimeout time.Duration
	// MaxOutboundReopens is how many times in a row the session reopens a
	// failed outbound stream (at the next heartbeat, with a new hello)
	// before it gives up and the router stops it; a successful write
	// resets the count. Reopening in place keeps the session's PID alive,
	// so the peer's inbound RPCs never meet a dead letter (issue 11 item 8).
	MaxOutboundReopens int
	// MaxBadFramesPerHeartbeat is how many inbound frames the peer built
	// wrong (PeerFault: oversized, undecodable, over the entry limits —
	// each already resets its stream and costs PenaltyMalformedFrame) it
	// may send within one heartbeat; one more and the session disconnects
	// the peer (Deps.Closer), counted in
	// libp2p_pubsub_bad_frame_disconnects_total (ADR 0025). An honest peer
	// sends none. 0 disables it.
	MaxBadFramesPerHeartbeat int
	// WriteTimeout bounds one batched write; a peer that does not read for
	// this long loses its session.
	WriteTimeout time.Duration
	// InboundWindow is how many inbound RPCs the reader hands the session
	// between two InboundSync barriers; at most two windows are in the
	// session's mailbox, beyond that the reader stops reading (TCP
	// backpressure on the peer).
	InboundWindow int
	// InboundSyncTimeout bounds the wait for a barrier; a session that
	// does not answer in time loses the stream (reset, counted as "stalled").
	InboundSyncTimeout time.Duration
}

// DefaultConfig returns the libp2p-profile session defaults.
func DefaultConfig() Config {
	return Config{
		Protocols:                wire.ProfileLibp2p.Protocols(),
		MaxFrame:                 wire.MaxFrameDefault,
		OutboundFrame:            64 << 10,
		MaxIDontWantPerFrame:     10,
		Limits:                   wire.DefaultLimits(),
		MaxQueueBytes:            8 << 20,
		MaxForwardAge:            300 * time.Millisecond,
		CongestedAge:             100 * time.Millisecond,
		MaxGossipAge:             2 * time.Second,
		MaxIHaveMessages:         10,
		MaxIHaveLength:           5000,
		MaxIDontWant:             20000,
		MaxIDontWantPerHeartbeat: 10000,
		IDontWantTTL:             3,
		MaxAdvertised:            50000,
		AdvertisedTTL:            3,
		MaxTopicLength:           256,
		MaxInvalidIWant:          20,
		PenaltyUnsolicitedIWant:  1,
		PenaltyWriteTimeout:      1,
		OpenTimeout:              10 * time.Second,
		MaxOutboundReopens:       3,
		MaxBadFramesPerHeartbeat: 10,
		WriteTimeout:             30 * time.Second,
		InboundWindow:            64,
		InboundSyncTimeout:       30 * time.Second,
	}
}

// Validate returns an error naming the first invalid field.
func (c Config) Validate() error {
	var errs []error
	if len(c.Protocols) == 0 {
		errs = append(errs, errors.New("session: Protocols must not be empty"))
	}
	positive := []struct {
		name string
		v    int
	}{
		{"MaxFrame", c.MaxFrame}, {"OutboundFrame", c.OutboundFrame}, {"MaxIDontWantPerFrame", c.MaxIDontWantPerFrame},
		{"MaxQueueBytes", c.MaxQueueBytes},
		{"MaxIHaveMessages", c.MaxIHaveMessages}, {"MaxIHaveLength", c.MaxIHaveLength},
		{"MaxIDontWant", c.MaxIDontWant}, {"MaxIDontWantPerHeartbeat", c.MaxIDontWantPerHeartbeat},
		{"IDontWantTTL", c.IDontWantTTL}, {"MaxAdvertised", c.MaxAdvertised}, {"AdvertisedTTL", c.AdvertisedTTL},
		{"MaxInvalidIWant", c.MaxInvalidIWant}, {"MaxTopicLength", c.MaxTopicLength},
		{"InboundWindow", c.InboundWindow},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("session: %s must be > 0, got %d", p.name, p.v))
		}
	}
	if c.OutboundFrame > c.MaxFrame {
		errs = append(errs, fmt.Errorf("session: OutboundFrame (%d) must be <= MaxFrame (%d)", c.OutboundFrame, c.MaxFrame))
	}
	if c.MaxQueueBytes < c.MaxFrame {
		errs = append(errs, fmt.Errorf("session: MaxQueueBytes (%d) must be >= MaxFrame (%d)", c.MaxQueueBytes, c.MaxFrame))
	}
	if c.CongestedAge < 0 {
		errs = append(errs, fmt.Errorf("session: CongestedAge (%s) must be >= 0", c.CongestedAge))
	}
	if c.MaxForwardAge < 0 || c.MaxGossipAge < 0 || c.MaxPublishAge < 0 {
		errs = append(errs, fmt.Errorf("session: MaxForwardAge (%s), MaxGossipAge (%s) and MaxPublishAge (%s) must be >= 0",
			c.MaxForwardAge, c.MaxGossipAge, c.MaxPublishAge))
	}
	if c.MaxOutboundReopens < 0 {
		errs = append(errs, fmt.Errorf("session: MaxOutboundReopens must be >= 0, got %d", c.MaxOutboundReopens))
	}
	if c.MaxBadFramesPerHeartbeat < 0 {
		errs = append(errs, fmt.Errorf("session: MaxBadFramesPerHeartbeat must be >= 0, got %d", c.MaxBadFramesPerHeartbeat))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"PenaltyUnsolicitedIWant", c.PenaltyUnsolicitedIWant}, {"PenaltyWriteTimeout", c.PenaltyWriteTimeout}} {
		if !(p.v >= 0) || math.IsInf(p.v, 0) {
			errs = append(errs, fmt.Errorf("session: %s must be a finite value >= 0, got %v", p.name, p.v))
		}
	}
	if c.OpenTimeout <= 0 {
		errs = append(errs, fmt.Errorf("session: OpenTimeout must be > 0, got %s", c.OpenTimeout))
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("session: WriteTimeout must be > 0, got %s", c.WriteTimeout))
	}
	if c.InboundSyncTimeout <= 0 {
		errs = append(errs, fmt.Errorf("session: InboundSyncTimeout must be > 0, got %s", c.InboundSyncTimeout))
	}
	return errors.Join(errs...)
}
