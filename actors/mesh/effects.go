package mesh

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// MessageID is a message id as bytes in a string (comparable, usable as a map key).
type MessageID string

// Effects is what one call into a Topic asks the adapter to do. Like raft's
// Ready it is data: the Topic has already updated its own state.
//
// Ownership: the *Effects returned by a Topic method belongs to the Topic and
// is reused by the next call, so the adapter executes (or copies) it before
// calling the Topic again. This keeps the forward path free of allocations.
//
// Execution order (each list in order):
//  1. Penalties: add to the peers' P7 in the router before anything else reads scores.
//  2. Prunes, then Grafts: high-priority control to each peer (PRUNE before
//     GRAFT so a peer never sees us graft and prune in the wrong order).
//  3. IDontWants: before any payload, so a peer can cancel its own copy.
//  4. Sends: message payloads (forwarding, publishing, IWANT replies).
//  5. IWants, then IHaves: gossip control.
//  6. Deliveries: to local subscribers.
//  7. Validations: start validating these messages; report with HandleValidated.
//  8. PeerExchange: candidate peers for the peer manager to dial.
type Effects struct {
	Penalties    []Penalty
	Prunes       []Prune
	Grafts       []peer.ID
	IDontWants   []IDontWant
	Sends        []Send
	IWants       []IWant
	IHaves       []IHave
	Deliveries   []Delivery
	Validations  []Validation
	PeerExchange []PeerExchange
}

// Empty reports whether there is nothing to do.
func (e *Effects) Empty() bool {
	return len(e.Penalties) == 0 && len(e.Prunes) == 0 && len(e.Grafts) == 0 &&
		len(e.IDontWants) == 0 && len(e.Sends) == 0 && len(e.IWants) == 0 && len(e.IHaves) == 0 &&
		len(e.Deliveries) == 0 && len(e.Validations) == 0 && len(e.PeerExchange) == 0
}

func (e *Effects) reset() {
	clear(e.Penalties)
	clear(e.Prunes)
	clear(e.Sends)
	clear(e.IWants)
	clear(e.IHaves)
	clear(e.IDontWants)
	clear(e.Deliveries)
	clear(e.Validations)
	clear(e.PeerExchange)
	e.Penalties = e.Penalties[:0]
	e.Prunes = e.Prunes[:0]
	e.Grafts = e.Grafts[:0]
	e.IDontWants = e.IDontWants[:0]
	e.Sends = e.Sends[:0]
	e.IWants = e.IWants[:0]
	e.IHaves = e.IHaves[:0]
	e.Deliveries = e.Deliveries[:0]
	e.Validations = e.Validations[:0]
	e.PeerExchange = e.PeerExchange[:0]
}

// PenaltyReason says why a behaviour penalty was asked for (for metrics and logs).
type PenaltyReason int

const (
	// PenaltyGraftDirect: a direct peer sent us a GRAFT (peering must be
	// reciprocal). The seed logs this as a warning; the core has no logger,
	// so the adapter logs a warning for this reason.
	PenaltyGraftDirect PenaltyReason = iota + 1
	// PenaltyGraftBackoff: a GRAFT while we are backing off from the peer.
	PenaltyGraftBackoff
	// PenaltyGraftFlood: the GRAFT came within GraftFloodThreshold of our PRUNE.
	PenaltyGraftFlood
	// PenaltyBrokenPromise: the peer advertised ids, we asked, it never delivered.
	PenaltyBrokenPromise
)

func (r PenaltyReason) String() string {
	switch r {
	case PenaltyGraftDirect:
		return "graft_direct"
	case PenaltyGraftBackoff:
		return "graft_backoff"
	case PenaltyGraftFlood:
		return "graft_flood"
	case PenaltyBrokenPromise:
		return "broken_promise"
	}
	return "unknown"
}

// Penalty asks the router to add Amount to the peer's behaviour penalty (P7).
type Penalty struct {
	Peer   peer.ID
	Amount float64
	Reason PenaltyReason
}

// Prune asks the adapter to send PRUNE{topic, PX, Backoff} to a peer.
type Prune struct {
	To peer.ID
	// Backoff is announced in seconds on the wire.
	Backoff time.Duration
	// PX is the peer exchange list (empty unless Config.EnablePX and the
	// receiver supports it); SignedPeerRecord is filled by the adapter from
	// its peer store when it has one.
	PX []peer.ID
}

// Send asks the adapter to send one message to peers.
type Send struct {
	To  []peer.ID
	ID  MessageID
	Msg *gossipsubv1.Message
}

// IDontWant asks the adapter to send IDONTWANT{ID} to peers (before validation).
type IDontWant struct {
	To []peer.ID
	ID MessageID
}

// IWant asks the adapter to send IWANT{IDs} to a peer.
type IWant struct {
	To  peer.ID
	IDs []MessageID
}

// IHave asks the adapter to send IHAVE{topic, IDs} to peers; one IHave is
// shared by all the peers it goes to (the same window is advertised to each).
type IHave struct {
	To  []peer.ID
	IDs []MessageID
}

// Delivery hands a validated message to the local subscribers.
type Delivery struct {
	ID  MessageID
	Msg *gossipsubv1.Message
	// From is the peer the message was first received from (subscribers
	// may need it, e.g. to attribute a delivery; go-libp2p's ReceivedFrom).
	From peer.ID
}

// Validation asks the adapter to validate a message and report the result
// with HandleValidated.
type Validation struct {
	ID   MessageID
	From peer.ID
	Msg  *gossipsubv1.Message
}

// PeerExchange carries the PX peers of a PRUNE we accepted, for the peer
// manager. Records are passed through undecoded: the adapter verifies the
// signed envelope (and that it names the same peer) before use.
type PeerExchange struct {
	From  peer.ID
	Peers []*gossipsubv1.PeerInfo
}

// ValidationResult is the outcome of validating a message.
type ValidationResult int

const (
	// ValidationAccept: deliver, forward, cache; credit P2/P3.
	ValidationAccept ValidationResult = iota + 1
	// ValidationReject: drop and penalise the sender (P4).
	ValidationReject
	// ValidationIgnore: drop silently.
	ValidationIgnore
)

// IWantKind labels received IWANT ids as the seed's libp2p_gossipsub_received_iwants{kind}.
type IWantKind int

const (
	// IWantNotSent: we never advertised the id to this peer (or served it enough times).
	IWantNotSent IWantKind = iota
	// IWantSkipped: ignored after too many invalid requests.
	IWantSkipped
	// IWantUnknown: advertised, but no longer in the message cache.
	IWantUnknown
	// IWantCorrect: served.
	IWantCorrect
	numIWantKinds
)

func (k IWantKind) String() string {
	return [...]string{"notsent", "skipped", "unknown", "correct"}[k]
}

// Stats are the counters and gauges behind the seed's metrics and the drop
// counters of every bound. Counters are cumulative since NewTopic.
type Stats struct {
	// Gauges.
	MeshPeers, FanoutPeers, TopicPeers int
	OutboundMeshPeers                  int
	CacheWindowSize                    int // ids advertised in the last IHAVE round
	CachedMessages, SeenEntries        int
	SeenBytes                          int // estimated memory of the seen cache (MaxSeenBytes)
	BackoffEntries, Promises           int
	PendingValidations                 int
	MailboxDepth                       int // highest mailbox depth since the last heartbeat (adapter)
	// Health of the mesh after the last heartbeat: while joined exactly one
	// of NoPeers, LowPeers, HealthyPeers is true; all are false otherwise.
	NoPeers, LowPeers, HealthyPeers bool
	UnderDout                       bool

	// Counters.
	AboveDhiConditions     uint64
	ReceivedIWants         [numIWantKinds]uint64
	BroadcastIHaves        uint64 // IHAVE messages emitted (one per peer)
	IWantsRepeated         uint64 // ids asked again of another advertiser a heartbeat later (ADR 0032)
	Duplicates             uint64
	PeersRejected          uint64 // AddPeer refused: MaxPeers
	BackoffEvicted         uint64 // MaxBackoff
	SeenEvicted            uint64 // MaxSeenBytes (early eviction)
	KnownUnseen            uint64 // bodiless copies (KnownIDs) of ids no longer seen
	CacheDropped           uint64 // MaxCachedMessages
	ValidationDropped      uint64 // MaxPendingValidations
	PromisesDropped        uint64 // MaxPromises
	BrokenPromises         uint64
	PromisesForgiven       uint64 // expired while we were dropping (Overloaded)
	MailboxDropped         uint64 // received messages dropped at MaxMailbox (adapter)
	MailboxDroppedGossip   uint64 // IHAVE/IWANT dropped at MaxMailbox (adapter)
	IDontWantDropped       uint64 // ids beyond IDontWantMaxPerHeartbeat
	IWantRetransmitIgnored uint64
	PXIgnored              uint64 // PX not accepted (disabled or score below AcceptPX)
	PXTruncated            uint64 // PX peers beyond PrunePeers
}
