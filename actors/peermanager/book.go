package peermanager

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

// entry is one peer of the books (nwaku's AddressBook, ProtoBook, KeyBook,
// AgentBook, ProtoVersionBook, ConnectionBook, DirectionBook, DisconnectBook,
// NumberFailedConnBook, LastFailedConnBook, SourceBook and ShardBook, in one
// struct per peer). It is kept compact, since a node may hold 100,000 of
// them: addresses stay binary, strings shared between peers are interned and
// times are Unix nanoseconds (0 = never).
type entry struct {
	// Hot fields first: the connectivity round reads them for every peer,
	// so they share the entry's first cache line.
	relay          bool
	connectedness  peerv1.Connectedness
	direction      peerv1.Direction
	origin         peerv1.Origin
	failedAttempts uint32
	// idx is the entry's position in Manager.list.
	idx            int32
	lastFailure    int64
	prunedAt       int64 // when a limit last disconnected the peer (not persisted)
	disconnectTime int64
	connectedAt    int64
	// tie is a hash of this node's and the peer's ids (Manager.insert): the
	// cheap last tie-break of candidate order, different on every node.
	tie uint64
	// lastAttempt is the Manager.attemptSeq of the last connect dial asked
	// for the peer (0: never in this incarnation; not persisted).
	lastAttempt uint64
	// relayDial is set while a connection of ours exists (or is being made)
	// because the connectivity loop dialed the peer for relay: if identify
	// then shows the peer does not speak relay, the connection is closed.
	relayDial bool
	// notRelayAt is when a peer we dialed for relay showed protocols
	// without relay (Manager.noteRelay); 0 when not.
	notRelayAt int64
	// static is set for a peer the operator asked to keep connected
	// (ConnectToNodes with the static source) in this incarnation; see
	// Manager.canBeConnected for what it changes.
	static bool
	// persisted is set once a record of the peer was sent to storage (or
	// loaded from it), so forgetting it deletes the record.
	persisted bool
	// fromStore is set for a peer loaded from storage in this incarnation:
	// ReconnectPeers dials those (its origin is kept, so it cannot tell).
	fromStore bool
	// seen counts the peer's connections in this incarnation, up to 2
	// (loaded peers start at 2): an inbound-only peer seen once is neither
	// written nor kept under pressure (Manager.save, Manager.pruneTo).
	seen  uint8
	addrs [][]byte

	id           peer.ID
	protocols    []string
	publicKey    []byte
	agent        string
	protoVersion string
	shards       []uint32
	remoteIP     string
	// cluster is the Waku cluster the peer said it is on (metadata), when
	// hasCluster.
	cluster    uint32
	hasCluster bool
	// shardRank orders connectivity candidates by Config.Shards: shardServes
	// (shares one of our shards), shardUnknown, shardElsewhere (only other
	// shards). Derived from shards, not persisted.
	shardRank uint8
}

// newEntry returns an entry for id (Manager.insert sets its tie-break).
func newEntry(id peer.ID) *entry {
	return &entry{id: id}
}

func (e *entry) isConnected() bool {
	return e.connectedness == peerv1.Connectedness_CONNECTEDNESS_CONNECTED
}

// knownRank orders peers by what we know of them first hand, best first:
// 0 we were connected to it and learnt of it ourselves (static, discovery,
// peer exchange, the API), 1 we were connected to it but only because it
// dialed us (an attacker's sybils can do that at will), 2 never connected
// (anybody can hand us such records, through discovery or PX). A stopped
// connection leaves a disconnect time; one cut by a crash leaves the record
// CanConnect (LoadFromStorage). Restart under eclipse (reliability case
// F16): outbound slots go to the peers we know before the strangers that
// filled the store.
func (e *entry) knownRank() int {
	switch {
	case e.disconnectTime == 0 && e.connectedness != peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT:
		return 2
	case e.origin == peerv1.Origin_ORIGIN_INBOUND:
		return 1
	}
	return 0
}

// ProtocolMatcher is nwaku's protocolMatcher: codec matches every protocol
// that starts with it, so "/vac/waku/filter/2.0.0" matches
// "/vac/waku/filter/2.0.0-beta3".
func ProtocolMatcher(codec string) func(proto string) bool {
	return func(proto string) bool { return strings.HasPrefix(proto, codec) }
}

// protocolsKnown reports whether identify (or discovery, or storage) told
// us the peer's protocols. Peer exchange and static nodes arrive without
// them.
func (e *entry) protocolsKnown() bool { return len(e.protocols) > 0 }

// mayRelay reports whether the peer is a candidate for a relay connection:
// known to speak relay, or not known at all (identify will tell once
// connected). nwaku's connectivity loop dials every not-connected peer
// outside backoff, whatever the protocol book says.
func (e *entry) mayRelay() bool { return e.relay || !e.protocolsKnown() }

func (e *entry) supports(match func(string) bool) bool {
	return slices.ContainsFunc(e.protocols, match)
}

// toRecord is the persisted and reported form of an entry (nwaku's
// insertOrReplace payload, plus failures, origin, agent and shards).
func (e *entry) toRecord() *peerv1.PeerRecord {
	r := &peerv1.PeerRecord{
		PeerId:          []byte(e.id),
		Addresses:       e.addrs,
		Protocols:       e.protocols,
		PublicKey:       e.publicKey,
		Agent:           e.agent,
		ProtocolVersion: e.protoVersion,
		Origin:          e.origin,
		Connectedness:   e.connectedness,
		Direction:       e.direction,
		FailedAttempts:  e.failedAttempts,
		Shards:          e.shards,
	}
	if e.hasCluster {
		r.ClusterId = proto.Uint32(e.cluster) // a copy: the entry may change, a sent record may not
	}
	if e.disconnectTime != 0 {
		r.DisconnectTime = timestamppb.New(time.Unix(0, e.disconnectTime))
	}
	if e.lastFailure != 0 {
		r.LastFailureTime = timestamppb.New(time.Unix(0, e.lastFailure))
	}
	// The record shares the entry's slices; entries replace their slices
	// instead of mutating them, so a sent record never changes.
	return r
}

// inputError is bad input from a request or a peer: its typ is the
// waku_peers_errors label.
type inputError struct {
	typ string
	err error
}

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

func badInput(typ, format string, args ...any) error {
	return &inputError{typ: typ, err: fmt.Errorf(format, args...)}
}

// errorType is the waku_peers_errors label of err.
func errorType(err error) string {
	var ie *inputError
	if errors.As(err, &ie) {
		return ie.typ
	}
	return "internal"
}

// Error types counted in waku_peers_errors{type}. The seed's
// storage_failure is the storage actor's (peermesh_storage_errors_total),
// since Puts are fire-and-forget messages here.
const (
	errInvalidMultiaddr = "invalid_multiaddr"
	errInvalidPeerID    = "invalid_peer_id"
	errPeerIDMismatch   = "peer_id_mismatch"
	errInvalidProtocol  = "invalid_protocol"
	errUnknownProtocol  = "unknown_protocol"
	errUnknownPeer      = "unknown_peer"
	errSelf             = "self"
	errRelayCodec       = "relay_codec"
	errStoreFull        = "peer_store_full"
	errTooManyRequests  = "too_many_requests"
	errServiceSlotsFull = "service_slots_full"
	errTruncated        = "truncated"
	errStorageLoad      = "storage_load_failure"
	errDeadLetter       = "dead_letter"
)

// parsedPeer is a validated PeerInfo: a peer id, binary transport
// addresses (without /p2p/), protocols and shards.
type parsedPeer struct {
	id        peer.ID
	addrs     [][]byte
	protocols []string
	shards    []uint32
}

// ParsePeerInfo validates a PeerInfo: the multiaddr string (with /p2p/),
// the binary peer id and binary addresses must parse and name one peer.
func ParsePeerInfo(pi *pmv1.PeerInfo) (parsedPeer, error) {
	var p parsedPeer
	if pi == nil {
		return p, badInput(errInvalidPeerID, "peer info missing")
	}
	if s := pi.GetMultiaddr(); s != "" {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return p, badInput(errInvalidMultiaddr, "parse multiaddr %q: %v", s, err)
		}
		transport, id := peer.SplitAddr(m)
		if id == "" {
			return p, badInput(errInvalidPeerID, "multiaddr %q has no /p2p/<peer id>", s)
		}
		p.id = id
		if transport != nil {
			p.addrs = append(p.addrs, transport.Bytes())
		}
	}
	if raw := pi.GetPeerId(); len(raw) > 0 {
		id, err := peer.IDFromBytes(raw)
		if err != nil {
			return p, badInput(errInvalidPeerID, "peer id: %v", err)
		}
		if p.id != "" && p.id != id {
			return p, badInput(errPeerIDMismatch, "peer id %s does not match multiaddr's %s", id, p.id)
		}
		p.id = id
	}
	if p.id == "" {
		return p, badInput(errInvalidPeerID, "peer info names no peer (no multiaddr, no peer_id)")
	}
	for i, raw := range pi.GetAddresses() {
		m, err := ma.NewMultiaddrBytes(raw)
		if err != nil {
			return p, badInput(errInvalidMultiaddr, "address %d of %s: %v", i, p.id, err)
		}
		transport, id := peer.SplitAddr(m)
		if id != "" && id != p.id {
			return p, badInput(errPeerIDMismatch, "address %s names peer %s, not %s", m, id, p.id)
		}
		if transport != nil {
			p.addrs = append(p.addrs, transport.Bytes())
		}
	}
	for _, proto := range pi.GetProtocols() {
		if err := checkProtocol(proto); err != nil {
			return p, err
		}
	}
	p.protocols = pi.GetProtocols()
	p.shards = pi.GetShards()
	return p, nil
}

// checkProtocol accepts a libp2p protocol id: non-empty, starting with '/',
// valid UTF-8 (a record holding it must encode), printable, at most 256
// bytes.
func checkProtocol(proto string) error {
	if proto == "" || proto[0] != '/' || len(proto) > 256 {
		return badInput(errInvalidProtocol, "protocol %q is not a protocol id ('/…', at most 256 bytes)", proto)
	}
	if !utf8.ValidString(proto) {
		return badInput(errInvalidProtocol, "protocol %q is not valid UTF-8", proto)
	}
	for _, r := range proto {
		if r < 0x20 || r == 0x7f {
			return badInput(errInvalidProtocol, "protocol %q contains a control character", proto)
		}
	}
	return nil
}

// fromRecord rebuilds an entry from a stored record; the caller maps the
// live state (connectedness, direction, origin) to what a load keeps.
func fromRecord(r *peerv1.PeerRecord) (*entry, error) {
	id, err := peer.IDFromBytes(r.GetPeerId())
	if err != nil {
		return nil, fmt.Errorf("stored record: peer id: %w", err)
	}
	e := &entry{
		id:             id,
		addrs:          r.GetAddresses(),
		protocols:      r.GetProtocols(),
		publicKey:      r.GetPublicKey(),
		agent:          r.GetAgent(),
		protoVersion:   r.GetProtocolVersion(),
		shards:         r.GetShards(),
		failedAttempts: r.GetFailedAttempts(),
		origin:         r.GetOrigin(),
		connectedness:  r.GetConnectedness(),
		cluster:        r.GetClusterId(),
		hasCluster:     r.ClusterId != nil,
	}
	if t := r.GetDisconnectTime(); t != nil {
		e.disconnectTime = t.AsTime().UnixNano()
	}
	if t := r.GetLastFailureTime(); t != nil {
		e.lastFailure = t.AsTime().UnixNano()
	}
	return e, nil
}

// publicKeyOf extracts the marshalled public key embedded in an id
// (Ed25519 and secp256k1 ids carry it), or nil.
func publicKeyOf(id peer.ID) []byte {
	pk, err := id.ExtractPublicKey()
	if err != nil || pk == nil {
		return nil
	}
	b, err := crypto.MarshalPublicKey(pk)
	if err != nil {
		return nil
	}
	return b
}

func sameBytesList(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// interner shares the strings many peers repeat (protocol ids, agents,
// versions). It is bounded: once full, new strings are kept unshared.
type interner struct {
	m   map[string]string
	max int
}

func (in *interner) get(s string) string {
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) < in.max {
		s = strings.Clone(s)
		in.m[s] = s
	}
	return s
}

func (in *interner) list(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = in.get(s)
	}
	return out
}
