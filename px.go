package peermesh

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// maxPXPeers bounds the peers taken from one PRUNE's peer exchange
// (gossipsub's PrunePeers default is 16); the rest are ignored.
const maxPXPeers = 16

// pxAddPeers turns the PX peers of an accepted PRUNE into peer-manager
// AddPeer commands with origin PX, as nwaku adds PX peers to its store for
// the connectivity loop to dial. A peer comes with its addresses only inside
// a signed peer record, which is verified here, at the edge: the envelope's
// signature, and that its key and record name the advertised peer. Peers
// without a valid record are skipped; skipped counts them.
func pxAddPeers(ev *pubsubv1.PeerExchangeReceived) (adds []*pmv1.AddPeer, skipped int) {
	for i, p := range ev.GetPeers() {
		if i >= maxPXPeers {
			skipped += len(ev.GetPeers()) - maxPXPeers
			break
		}
		info, err := verifyPX(p)
		if err != nil {
			skipped++
			continue
		}
		adds = append(adds, &pmv1.AddPeer{Peer: info, Origin: peerv1.Origin_ORIGIN_PX})
	}
	return adds, skipped
}

func verifyPX(p *gossipsubv1.PeerInfo) (*pmv1.PeerInfo, error) {
	id, err := peer.IDFromBytes(p.GetPeerID())
	if err != nil {
		return nil, fmt.Errorf("px peer id: %w", err)
	}
	if len(p.GetSignedPeerRecord()) == 0 {
		return nil, errors.New("px peer without a signed peer record")
	}
	env, rec, err := record.ConsumeEnvelope(p.GetSignedPeerRecord(), peer.PeerRecordEnvelopeDomain)
	if err != nil {
		return nil, fmt.Errorf("px record of %s: %w", id, err)
	}
	pr, ok := rec.(*peer.PeerRecord)
	if !ok {
		return nil, fmt.Errorf("px record of %s is a %T", id, rec)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil || signer != id || pr.PeerID != id {
		return nil, fmt.Errorf("px record of %s is signed by or names another peer", id)
	}
	if len(pr.Addrs) == 0 {
		return nil, fmt.Errorf("px record of %s has no addresses", id)
	}
	info := &pmv1.PeerInfo{PeerId: []byte(id)}
	for _, a := range pr.Addrs {
		info.Addresses = append(info.Addresses, a.Bytes())
	}
	return info, nil
}
