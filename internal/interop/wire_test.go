package interop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/peermesh/peermesh/internal/interop"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// recordEnv names a directory to which the test writes the raw bytes the js
// peer sent on each stream; that is how wire/testdata/js_*.bin were made.
const recordEnv = "PEERMESH_INTEROP_RECORD"

// testTimeout bounds each scenario, js start-up included.
const testTimeout = 60 * time.Second

// newHost is a plain go-libp2p host: TCP + Noise + Yamux on 127.0.0.1 only.
func newHost(t *testing.T, priv crypto.PrivKey) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.ResourceManager(&network.NullResourceManager{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func ed25519Key(t *testing.T, seed byte) crypto.PrivKey {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// rsaKey loads the 2048-bit key committed for the wire tests (generating one
// costs seconds under -race).
func rsaKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "wire", "testdata", "rsa2048.key"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// inbound collects the RPCs the js peer writes on its stream to us.
type inbound struct {
	rpcs chan *gossipsubv1.RPC
	mu   sync.Mutex
	err  error        // first decode error: the wire format disagrees
	raw  bytes.Buffer // bytes as received, for recordEnv
}

func (in *inbound) handle(ctx context.Context, maxFrame int) network.StreamHandler {
	return func(s network.Stream) {
		defer func() { _ = s.Reset() }()
		r := wire.NewReader(io.TeeReader(s, lockedBuffer{in}), maxFrame)
		for {
			rpc := new(gossipsubv1.RPC)
			if err := r.ReadRPC(rpc); err != nil {
				for _, bad := range []error{wire.ErrMalformed, wire.ErrLimitExceeded, wire.ErrFrameTooLarge, wire.ErrVarintOverflow} {
					if errors.Is(err, bad) {
						in.mu.Lock()
						in.err = err
						in.mu.Unlock()
					}
				}
				return
			}
			select {
			case in.rpcs <- rpc:
			case <-ctx.Done():
				return
			}
		}
	}
}

type lockedBuffer struct{ in *inbound }

func (l lockedBuffer) Write(b []byte) (int, error) {
	l.in.mu.Lock()
	defer l.in.mu.Unlock()
	return l.in.raw.Write(b)
}

// awaitRPC returns the first inbound RPC satisfying match.
func (in *inbound) awaitRPC(ctx context.Context, t *testing.T, what string, match func(*gossipsubv1.RPC) bool) *gossipsubv1.RPC {
	t.Helper()
	for {
		select {
		case rpc := <-in.rpcs:
			if match(rpc) {
				return rpc
			}
		case <-ctx.Done():
			in.mu.Lock()
			defer in.mu.Unlock()
			t.Fatalf("no RPC from js with %s (decode error: %v)", what, in.err)
			return nil
		}
	}
}

type scenario struct {
	name     string
	profile  wire.Profile
	proto    protocol.ID
	goSigner crypto.PrivKey // nil: unsigned (waku)
	jsKey    string         // js identity key type
	// wantKey: js messages carry the key field. ChainSafe js attaches it to
	// every signed message, even when the peer id inlines the key (unlike go
	// and rust); our verifier then checks that key against from.
	wantKey bool
}

// TestWireAgainstJS proves the wire package against js-libp2p gossipsub
// without any router: a go-libp2p host speaks raw frames through
// wire.Writer and wire.Reader, and the js peer must accept our
// subscription, GRAFT and message, and send its own message that we decode
// and verify.
func TestWireAgainstJS(t *testing.T) {
	scenarios := []scenario{
		{name: "libp2p-ed25519", profile: wire.ProfileLibp2p, proto: wire.ProtocolMeshsub12, goSigner: ed25519Key(t, 7), jsKey: "Ed25519", wantKey: true},
		{name: "libp2p-rsa", profile: wire.ProfileLibp2p, proto: wire.ProtocolMeshsub12, goSigner: rsaKey(t), jsKey: "RSA", wantKey: true},
		{name: "waku", profile: wire.ProfileWaku, proto: wire.ProtocolWakuRelay, jsKey: "Ed25519"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

// topic is the one topic of every scenario.
const topic = "/peermesh/interop/1"

// session is one go-libp2p host talking raw gossipsub frames to one js peer.
type session struct {
	t   *testing.T
	ctx context.Context
	js  *interop.Peer
	h   host.Host
	in  *inbound
	w   *wire.Writer
}

// newSession starts a js peer subscribed to topic, connects a Go host to it
// and opens our outbound stream with protocol sc.proto.
func newSession(t *testing.T, ctx context.Context, sc scenario) *session {
	t.Helper()
	js := interop.Start(t, interop.Config{Profile: sc.profile.String(), Topics: []string{topic}, KeyType: sc.jsKey})
	return attach(t, ctx, sc, js, 1)
}

// attach connects another Go host (identity from keySeed) to a running js
// peer and opens its outbound stream.
func attach(t *testing.T, ctx context.Context, sc scenario, js *interop.Peer, keySeed byte) *session {
	t.Helper()
	h := newHost(t, ed25519Key(t, keySeed))
	in := &inbound{rpcs: make(chan *gossipsubv1.RPC, 64)}
	h.SetStreamHandler(sc.proto, in.handle(ctx, sc.profile.MaxFrame()))
	if err := h.Connect(ctx, js.AddrInfo()); err != nil {
		t.Fatalf("connect to js: %v", err)
	}
	s, err := h.NewStream(ctx, js.ID, sc.proto)
	if err != nil {
		t.Fatalf("open %s stream: %v", sc.proto, err)
	}
	t.Cleanup(func() { _ = s.Reset() })
	if s.Protocol() != sc.proto {
		t.Fatalf("negotiated %s, want %s", s.Protocol(), sc.proto)
	}
	return &session{t: t, ctx: ctx, js: js, h: h, in: in, w: wire.NewWriter(s, sc.profile.MaxFrame())}
}

// send writes rpcs as one batch: one stream write.
func (s *session) send(rpcs ...*gossipsubv1.RPC) {
	s.t.Helper()
	for _, rpc := range rpcs {
		if err := s.w.Write(rpc); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := s.w.Flush(); err != nil {
		s.t.Fatal(err)
	}
}

// waitJS waits for a js event.
func (s *session) waitJS(what string, match func(interop.Event) bool) interop.Event {
	s.t.Helper()
	e, err := s.js.WaitFor(s.ctx, match)
	if err != nil {
		s.t.Fatalf("js never reported %s: %v", what, err)
	}
	return e
}

// join subscribes to topic and grafts the js peer, and waits until js has
// us in its mesh and has opened its own stream to us (js drops RPCs for a
// peer whose outbound stream is still being opened, so a test that expects
// an answer must wait for js's hello first).
func (s *session) join(extra ...*gossipsubv1.RPC) {
	s.t.Helper()
	s.send(append([]*gossipsubv1.RPC{
		{Subscriptions: []*gossipsubv1.SubOpts{{Subscribe: ptr(true), Topicid: str(topic)}}},
		{Control: &gossipsubv1.ControlMessage{Graft: []*gossipsubv1.ControlGraft{{TopicID: str(topic)}}}},
	}, extra...)...)
	goID := s.h.ID().String()
	s.waitJS("our subscription", func(e interop.Event) bool {
		return e.Event == "subscription-change" && e.Peer == goID &&
			slices.Contains(e.Subscriptions, interop.Subscription{Topic: topic, Subscribe: true})
	})
	s.waitJS("our GRAFT", func(e interop.Event) bool {
		return e.Event == "graft" && e.Peer == goID && e.Topic == topic && e.Direction == "inbound"
	})
	s.in.awaitRPC(s.ctx, s.t, "js hello with its subscription", func(rpc *gossipsubv1.RPC) bool {
		return slices.ContainsFunc(rpc.Subscriptions, func(sub *gossipsubv1.SubOpts) bool {
			return sub.GetSubscribe() && sub.GetTopicid() == topic
		})
	})
}

// jsPublish makes js publish data and returns the message as we decoded it.
func (s *session) jsPublish(data []byte) *gossipsubv1.Message {
	s.t.Helper()
	recipients, err := s.js.Publish(s.ctx, topic, data)
	if err != nil {
		s.t.Fatal(err)
	}
	if goID := s.h.ID().String(); !slices.Contains(recipients, goID) {
		s.t.Errorf("js published to %v, not to us (%s)", recipients, goID)
	}
	return s.awaitMessage(data)
}

// awaitMessage waits for a message with data on the js stream.
func (s *session) awaitMessage(data []byte) *gossipsubv1.Message {
	s.t.Helper()
	var msg *gossipsubv1.Message
	s.in.awaitRPC(s.ctx, s.t, fmt.Sprintf("message %q", data), func(rpc *gossipsubv1.RPC) bool {
		for _, m := range rpc.Publish {
			if bytes.Equal(m.Data, data) {
				msg = m
				return true
			}
		}
		return false
	})
	return msg
}

// checkDecoded fails if any frame from js failed to decode.
func (s *session) checkDecoded() {
	s.t.Helper()
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	if s.in.err != nil {
		s.t.Fatalf("decoding the js stream: %v", s.in.err)
	}
}

func runScenario(t *testing.T, sc scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	msgID := sc.profile.MsgIDFn()
	policy := sc.profile.SignaturePolicy()
	s := newSession(t, ctx, sc)
	js, h, in := s.js, s.h, s.in

	// Our message: signed in the libp2p profile, anonymous in waku.
	goMsg := &gossipsubv1.Message{Data: []byte("hello from go " + sc.name), Topic: str(topic)}
	if sc.goSigner != nil {
		signer, err := wire.NewSigner(sc.goSigner, wire.NewSeqnoSource(1000))
		if err != nil {
			t.Fatal(err)
		}
		if err := signer.Sign(goMsg); err != nil {
			t.Fatal(err)
		}
	}
	// Subscription, GRAFT and message in one batched write.
	s.join(&gossipsubv1.RPC{Publish: []*gossipsubv1.Message{goMsg}})
	goID := h.ID().String()
	got := s.waitJS("our message", func(e interop.Event) bool {
		return e.Event == "message" && e.DataHex == hex.EncodeToString(goMsg.Data)
	})
	if got.Topic != topic || got.PropagationSource != goID {
		t.Errorf("js message event topic %q source %s, want %q from %s", got.Topic, got.PropagationSource, topic, goID)
	}
	if want := hex.EncodeToString(msgID(goMsg)); got.MsgIDHex != want {
		t.Errorf("js message id %s, ours %s", got.MsgIDHex, want)
	}
	if sc.goSigner != nil {
		if !got.Signed || got.From == "" || got.Seqno != "1000" {
			t.Errorf("js saw signed=%v from=%q seqno=%q, want signed, seqno 1000", got.Signed, got.From, got.Seqno)
		}
		// js reports the key it verified with: ours from the key field (RSA)
		// or extracted from the peer id (Ed25519).
		wantKey, err := crypto.MarshalPublicKey(sc.goSigner.GetPublic())
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyHex != hex.EncodeToString(wantKey) {
			t.Errorf("js verified with key %s, want ours %x", got.KeyHex, wantKey)
		}
	} else if got.Signed {
		t.Error("js saw our waku message as signed")
	}
	mesh, err := js.MeshPeers(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(mesh, goID) {
		t.Errorf("js mesh %v does not contain us (%s)", mesh, goID)
	}

	jsMsg := s.jsPublish([]byte("hello from js " + sc.name))
	if err := wire.CheckPolicy(policy, jsMsg); err != nil {
		t.Fatalf("js message fails %s: %v", policy, err)
	}
	if jsMsg.GetTopic() != topic {
		t.Errorf("js message topic %q, want %q", jsMsg.GetTopic(), topic)
	}
	if sc.goSigner != nil {
		if !bytes.Equal(jsMsg.From, []byte(js.ID)) {
			t.Errorf("js message from %x, want js peer id %s", jsMsg.From, js.ID)
		}
		if (jsMsg.Key != nil) != sc.wantKey {
			t.Errorf("js message key present = %v, want %v", jsMsg.Key != nil, sc.wantKey)
		}
	}
	s.checkDecoded()
	in.mu.Lock()
	defer in.mu.Unlock()
	if dir := os.Getenv(recordEnv); dir != "" {
		path := filepath.Join(dir, "js_"+sc.name+".bin")
		if err := os.WriteFile(path, in.raw.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d bytes from js to %s", in.raw.Len(), path)
	}
}

func ptr[T any](v T) *T    { return &v }
func str(s string) *string { return &s }

// TestControlAgainstJS exchanges every control message the js peer reacts
// to on its own, still without a router: IHAVE (js answers IWANT), IWANT (js
// retransmits its message), PRUNE with backoff (js drops us from its mesh),
// GRAFT during that backoff (js answers PRUNE with a backoff).
func TestControlAgainstJS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sc := scenario{name: "control", profile: wire.ProfileLibp2p, proto: wire.ProtocolMeshsub12, jsKey: "Ed25519"}
	s := newSession(t, ctx, sc)
	s.join()
	goID := s.h.ID().String()

	unknownID := bytes.Repeat([]byte{0xee}, 40)
	s.send(&gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
		Ihave: []*gossipsubv1.ControlIHave{{TopicID: str(topic), MessageIDs: [][]byte{unknownID}}},
	}})
	s.in.awaitRPC(ctx, t, "IWANT for our IHAVE", func(rpc *gossipsubv1.RPC) bool {
		return slices.ContainsFunc(rpc.GetControl().GetIwant(), func(w *gossipsubv1.ControlIWant) bool {
			return slices.ContainsFunc(w.MessageIDs, func(id []byte) bool { return bytes.Equal(id, unknownID) })
		})
	})

	data := []byte("retransmit me")
	first := s.jsPublish(data)
	s.send(&gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
		Iwant: []*gossipsubv1.ControlIWant{{MessageIDs: [][]byte{wire.MsgIDFromSeqno(first)}}},
	}})
	again := s.awaitMessage(data)
	if !bytes.Equal(again.Seqno, first.Seqno) || wire.CheckPolicy(wire.StrictSign, again) != nil {
		t.Errorf("IWANT answer %v is not the original message %v", again, first)
	}

	s.send(&gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
		Prune: []*gossipsubv1.ControlPrune{{TopicID: str(topic), Backoff: ptr(uint64(60))}},
	}})
	s.waitJS("our PRUNE", func(e interop.Event) bool {
		return e.Event == "prune" && e.Peer == goID && e.Topic == topic && e.Direction == "inbound"
	})
	mesh, err := s.js.MeshPeers(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(mesh, goID) {
		t.Errorf("js kept us in its mesh after PRUNE: %v", mesh)
	}

	s.send(&gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
		Graft: []*gossipsubv1.ControlGraft{{TopicID: str(topic)}},
	}})
	rpc := s.in.awaitRPC(ctx, t, "PRUNE for a GRAFT during backoff", func(rpc *gossipsubv1.RPC) bool {
		return slices.ContainsFunc(rpc.GetControl().GetPrune(), func(p *gossipsubv1.ControlPrune) bool {
			return p.GetTopicID() == topic
		})
	})
	for _, p := range rpc.GetControl().GetPrune() {
		if p.GetTopicID() == topic && p.GetBackoff() == 0 {
			t.Errorf("js PRUNE on /meshsub/1.2.0 without backoff: %v", p)
		}
	}
	s.checkDecoded()
	scores, err := s.js.Scores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing we sent was invalid, so js (default score parameters) must
	// not have scored us below zero.
	if score, ok := scores[goID]; !ok || score < 0 {
		t.Errorf("js scores %v: us (%s) missing or negative", scores, goID)
	}
}

// TestBatchAgainstJS writes 300 messages of 1 KiB through one Writer (a few
// large stream writes, frames split across them at arbitrary points) and
// expects js to deliver every one: batching must not confuse another
// implementation's frame decoder.
func TestBatchAgainstJS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s := newSession(t, ctx, scenario{name: "batch", profile: wire.ProfileWaku, proto: wire.ProtocolWakuRelay})
	s.join()
	const n = 300
	var rpcs []*gossipsubv1.RPC
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, 1024)
		copy(data, fmt.Sprintf("batch message %03d", i))
		rpcs = append(rpcs, &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Data: data, Topic: str(topic)}}})
	}
	s.send(rpcs...)
	for _, rpc := range rpcs {
		want := hex.EncodeToString(rpc.Publish[0].Data)
		s.waitJS(fmt.Sprintf("message %.20s", rpc.Publish[0].Data), func(e interop.Event) bool {
			return e.Event == "message" && e.DataHex == want
		})
	}
	s.checkDecoded()
}

// TestForwardAndIDontWantAgainstJS connects two Go hosts to one js peer; A
// publishes a signed 1 KiB message. js must forward it to B with our
// signature intact, and (on /meshsub/1.2.0, data >= 512 bytes) tell B
// IDONTWANT with the id B computes itself.
func TestForwardAndIDontWantAgainstJS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sc := scenario{name: "forward", profile: wire.ProfileLibp2p, proto: wire.ProtocolMeshsub12, jsKey: "Ed25519"}
	js := interop.Start(t, interop.Config{Profile: "libp2p", Topics: []string{topic}})
	a := attach(t, ctx, sc, js, 1)
	b := attach(t, ctx, sc, js, 2)
	a.join()
	b.join()

	signer, err := wire.NewSigner(ed25519Key(t, 1), wire.NewSeqnoSource(77))
	if err != nil {
		t.Fatal(err)
	}
	msg := &gossipsubv1.Message{Data: bytes.Repeat([]byte("forward "), 128), Topic: str(topic)}
	if err := signer.Sign(msg); err != nil {
		t.Fatal(err)
	}
	a.send(&gossipsubv1.RPC{Publish: []*gossipsubv1.Message{msg}})

	id := wire.MsgIDFromSeqno(msg)
	var forwarded *gossipsubv1.Message
	sawIDontWant := false
	b.in.awaitRPC(ctx, t, "the forwarded message and an IDONTWANT for it", func(rpc *gossipsubv1.RPC) bool {
		for _, m := range rpc.Publish {
			if bytes.Equal(m.Data, msg.Data) {
				forwarded = m
			}
		}
		for _, d := range rpc.GetControl().GetIdontwant() {
			if slices.ContainsFunc(d.MessageIDs, func(x []byte) bool { return bytes.Equal(x, id) }) {
				sawIDontWant = true
			}
		}
		return forwarded != nil && sawIDontWant
	})
	if !proto.Equal(forwarded, msg) {
		t.Errorf("js forwarded %v, want exactly what A sent", forwarded)
	}
	if err := wire.CheckPolicy(wire.StrictSign, forwarded); err != nil {
		t.Errorf("forwarded message fails verification: %v", err)
	}
	a.checkDecoded()
	b.checkDecoded()
}
