package wire_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/crypto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// A peer session writes a batch of RPCs with one stream write and reads them
// back frame by frame.
func Example() {
	var stream bytes.Buffer // stands in for a libp2p stream
	topic := "/waku/2/rs/1/0"
	w := wire.NewWriter(&stream, wire.ProfileWaku.MaxFrame())
	_ = w.Write(&gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{{Subscribe: new(true), Topicid: &topic}}})
	_ = w.Write(&gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Data: []byte("hi"), Topic: &topic}}})
	if err := w.Flush(); err != nil {
		fmt.Println(err)
		return
	}

	r := wire.NewReader(&stream, wire.ProfileWaku.MaxFrame())
	for {
		var rpc gossipsubv1.RPC
		if err := r.ReadRPC(&rpc); err == io.EOF {
			break
		} else if err != nil {
			fmt.Println("reset stream:", err)
			return
		}
		for _, m := range rpc.Publish {
			fmt.Printf("message %q, policy check: %v, id %x...\n",
				m.Data, wire.CheckPolicy(wire.StrictNoSign, m), wire.MsgIDSHA256Data(m)[:4])
		}
		for _, s := range rpc.Subscriptions {
			fmt.Println("subscribe", s.GetTopicid())
		}
	}
	// Output:
	// subscribe /waku/2/rs/1/0
	// message "hi", policy check: <nil>, id 8f434346...
}

// Signing in the libp2p profile: a deterministic seqno source for tests, the
// wall clock in production.
func ExampleSigner() {
	priv, _, _ := crypto.GenerateEd25519Key(bytes.NewReader(make([]byte, 32)))
	signer, err := wire.NewSigner(priv, wire.NewSeqnoSource(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	topic := "t"
	msg := &gossipsubv1.Message{Data: []byte("payload"), Topic: &topic}
	if err := signer.Sign(msg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("seqno %x, key field present: %v, verify: %v\n",
		msg.Seqno, msg.Key != nil, wire.CheckPolicy(wire.StrictSign, msg))
	msg.Data = []byte("tampered")
	fmt.Println(wire.CheckPolicy(wire.StrictSign, msg) != nil)
	// Output:
	// seqno 0000000000000001, key field present: false, verify: <nil>
	// true
}

// The features a negotiated protocol id allows.
func ExampleFeaturesOf() {
	for _, id := range wire.ProfileWaku.Protocols() {
		fmt.Printf("%s %+v\n", id, wire.FeaturesOf(id))
	}
	// Output:
	// /vac/waku/relay/2.0.0 {Mesh:true PX:true Backoff:true IDontWant:true}
	// /meshsub/1.2.0 {Mesh:true PX:true Backoff:true IDontWant:true}
	// /meshsub/1.1.0 {Mesh:true PX:true Backoff:true IDontWant:false}
	// /meshsub/1.0.0 {Mesh:true PX:false Backoff:false IDontWant:false}
}
