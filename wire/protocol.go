package wire

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// Protocol ids peermesh speaks.
const (
	ProtocolWakuRelay protocol.ID = "/vac/waku/relay/2.0.0"
	ProtocolMeshsub12 protocol.ID = "/meshsub/1.2.0"
	ProtocolMeshsub11 protocol.ID = "/meshsub/1.1.0"
	ProtocolMeshsub10 protocol.ID = "/meshsub/1.0.0"
)

// Profile selects the protocol ids, signature policy and message-id function
// of a deployment.
type Profile int

const (
	// ProfileWaku is Waku relay: /vac/waku/relay/2.0.0 first (as nwaku
	// orders it), meshsub as fallback, StrictNoSign, sha256(data) ids.
	ProfileWaku Profile = iota + 1
	// ProfileLibp2p is plain gossipsub: meshsub 1.2, 1.1, 1.0, StrictSign,
	// from||seqno ids.
	ProfileLibp2p
)

// String returns "waku" or "libp2p".
func (p Profile) String() string {
	switch p {
	case ProfileWaku:
		return "waku"
	case ProfileLibp2p:
		return "libp2p"
	}
	return fmt.Sprintf("Profile(%d)", int(p))
}

// ParseProfile is the inverse of Profile.String.
func ParseProfile(s string) (Profile, error) {
	switch s {
	case "waku":
		return ProfileWaku, nil
	case "libp2p":
		return ProfileLibp2p, nil
	}
	return 0, fmt.Errorf("wire: unknown profile %q (want waku or libp2p)", s)
}

// Protocols returns the ids to offer, most preferred first. The slice is
// fresh: callers may keep or modify it.
func (p Profile) Protocols() []protocol.ID {
	switch p {
	case ProfileWaku:
		return []protocol.ID{ProtocolWakuRelay, ProtocolMeshsub12, ProtocolMeshsub11, ProtocolMeshsub10}
	case ProfileLibp2p:
		return []protocol.ID{ProtocolMeshsub12, ProtocolMeshsub11, ProtocolMeshsub10}
	}
	return nil
}

// SignaturePolicy returns StrictNoSign for waku and StrictSign for libp2p.
func (p Profile) SignaturePolicy() SignaturePolicy {
	if p == ProfileWaku {
		return StrictNoSign
	}
	return StrictSign
}

// MsgIDFn returns MsgIDSHA256Data for waku and MsgIDFromSeqno for libp2p.
func (p Profile) MsgIDFn() MsgIDFn {
	if p == ProfileWaku {
		return MsgIDSHA256Data
	}
	return MsgIDFromSeqno
}

// MaxFrame returns MaxFrameWaku for waku and MaxFrameDefault otherwise.
func (p Profile) MaxFrame() int {
	if p == ProfileWaku {
		return MaxFrameWaku
	}
	return MaxFrameDefault
}

// Features are the gossipsub features a negotiated protocol id allows.
type Features struct {
	Mesh      bool // GRAFT/PRUNE meshes (every meshsub id)
	PX        bool // peer exchange on PRUNE (v1.1+)
	Backoff   bool // PRUNE backoff (v1.1+)
	IDontWant bool // IDONTWANT (v1.2+)
}

// FeaturesOf returns the features of a negotiated protocol id; unknown ids
// (floodsub, future versions not yet implemented) get none. The Waku id gets
// every feature: nwaku sends IDONTWANT over it, go-waku grants it PX, and a
// peer that does not implement IDONTWANT (go-waku, js-waku) ignores the
// unknown control field.
func FeaturesOf(id protocol.ID) Features {
	switch id {
	case ProtocolWakuRelay, ProtocolMeshsub12:
		return Features{Mesh: true, PX: true, Backoff: true, IDontWant: true}
	case ProtocolMeshsub11:
		return Features{Mesh: true, PX: true, Backoff: true}
	case ProtocolMeshsub10:
		return Features{Mesh: true}
	}
	return Features{}
}
