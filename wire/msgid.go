package wire

import (
	"crypto/sha256"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// MsgIDFn computes the id of a message, used for duplicate detection and in
// IHAVE/IWANT/IDONTWANT. Every peer on a topic must use the same function,
// or gossip ids never match and honest peers are penalised for broken
// promises. It must not retain or modify msg and must return a fresh slice.
type MsgIDFn func(msg *gossipsubv1.Message) []byte

// MsgIDSHA256Data is Waku's message id: sha256 of Message.data (the encoded
// WakuMessage), as nwaku, go-waku and js-waku compute it.
func MsgIDSHA256Data(msg *gossipsubv1.Message) []byte {
	sum := sha256.Sum256(msg.GetData())
	return sum[:]
}

// MsgIDFromSeqno is the spec's default id: the binary from field followed by
// the seqno bytes (go-libp2p-pubsub's DefaultMsgIdFn, as bytes).
func MsgIDFromSeqno(msg *gossipsubv1.Message) []byte {
	from, seqno := msg.GetFrom(), msg.GetSeqno()
	id := make([]byte, 0, len(from)+len(seqno))
	id = append(id, from...)
	return append(id, seqno...)
}
