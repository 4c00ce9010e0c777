package attacker_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// frame is what the plain target read: an RPC or the error that ended the
// stream.
type frame struct {
	rpc *gossipsubv1.RPC
	err error
}

// sink makes h a plain gossipsub target: it reads every inbound stream with
// wire.Reader (default limits, 1 MiB frames) and reports each RPC and the
// error that ends the stream; a failed stream is reset, as a real router does.
func sink(h host.Host) <-chan frame {
	out := make(chan frame, 1024)
	h.SetStreamHandler(wire.ProtocolMeshsub12, func(s network.Stream) {
		r := wire.NewReader(s, wire.MaxFrameDefault)
		for {
			rpc := &gossipsubv1.RPC{}
			if err := r.ReadRPC(rpc); err != nil {
				out <- frame{err: err}
				_ = s.Reset()
				return
			}
			out <- frame{rpc: rpc}
		}
	})
	return out
}

func next(t *testing.T, ch <-chan frame) frame {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("target read nothing within 10 s")
		return frame{}
	}
}

func signer(t *testing.T) *wire.Signer {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := wire.NewSigner(priv, wire.NewSeqnoSource(1))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCraftedRPCsOverLoopback sends each crafted attack from an attacker
// host to a plain host on 127.0.0.1 and checks what the target's wire.Reader
// makes of it: well-formed abuse decodes to exactly the entries crafted,
// malformed frames fail with the wire package's error, after which the
// target resets the stream and the attacker records the reset.
func TestCraftedRPCsOverLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target := sim.LoopbackHost(t)
	got := sink(target)
	a := attacker.New(sim.LoopbackHost(t), attacker.Config{Protocols: []protocol.ID{wire.ProtocolMeshsub12}})
	defer a.Close()
	tid := target.ID()
	if err := a.Connect(ctx, peer.AddrInfo{ID: tid, Addrs: target.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if p := a.Record(tid).Protocol; p != string(wire.ProtocolMeshsub12) {
		t.Fatalf("negotiated %q", p)
	}
	send := func(rpcs ...*gossipsubv1.RPC) {
		t.Helper()
		if err := a.Send(tid, rpcs...); err != nil {
			t.Fatal(err)
		}
	}

	// Well-formed abuse: the target decodes exactly what was crafted.
	send(attacker.GraftRPC("no-such-topic"))
	if g := next(t, got).rpc.GetControl().GetGraft(); len(g) != 1 || g[0].GetTopicID() != "no-such-topic" {
		t.Fatalf("graft unknown topic: %v", g)
	}
	const spam = 50
	grafts := make([]*gossipsubv1.RPC, spam)
	for i := range grafts {
		grafts[i] = attacker.GraftRPC("t")
	}
	send(grafts...)
	for range spam {
		if g := next(t, got).rpc.GetControl().GetGraft(); len(g) != 1 {
			t.Fatalf("graft spam frame: %v", g)
		}
	}
	ids := attacker.BogusIDs("flood", 0, 5000)
	send(attacker.IHaveRPC("t", ids, 500))
	ih := next(t, got).rpc.GetControl().GetIhave()
	if len(ih) != 10 || len(ih[9].GetMessageIDs()) != 500 || string(ih[3].GetMessageIDs()[7]) != string(ids[1507]) {
		t.Fatalf("IHAVE flood: %d entries", len(ih))
	}
	send(attacker.IWantRPC(attacker.BogusIDs("unknown", 0, 100)...))
	if iw := next(t, got).rpc.GetControl().GetIwant(); len(iw) != 1 || len(iw[0].GetMessageIDs()) != 100 {
		t.Fatalf("IWANT spam: %v", iw)
	}
	one := attacker.BogusIDs("same", 7, 1)[0]
	for range 3 {
		send(attacker.IWantRPC(one))
	}
	for range 3 {
		if iw := next(t, got).rpc.GetControl().GetIwant(); string(iw[0].GetMessageIDs()[0]) != string(one) {
			t.Fatalf("repeated IWANT: %v", iw)
		}
	}

	// Messages: valid and invalid signatures, forbidden StrictNoSign fields.
	s := signer(t)
	good, err := attacker.SignedMessage(s, "t", []byte("ok"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := attacker.InvalidSignatureMessage(s, "t", []byte("forged"))
	if err != nil {
		t.Fatal(err)
	}
	send(attacker.PublishRPC(good, bad))
	pub := next(t, got).rpc.GetPublish()
	if err := wire.VerifySignature(pub[0]); err != nil {
		t.Fatalf("signed message does not verify: %v", err)
	}
	if err := wire.VerifySignature(pub[1]); !errors.Is(err, wire.ErrBadSignature) {
		t.Fatalf("invalid signature message: %v", err)
	}
	var forbidden []*gossipsubv1.Message
	for _, f := range attacker.ForbiddenFields {
		forbidden = append(forbidden, attacker.ForbiddenFieldMessage("t", []byte(f.String()), f))
	}
	send(attacker.PublishRPC(append(forbidden, attacker.UnsignedMessage("t", []byte("clean")))...))
	pub = next(t, got).rpc.GetPublish()
	for i, f := range attacker.ForbiddenFields {
		if err := wire.CheckPolicy(wire.StrictNoSign, pub[i]); !errors.Is(err, wire.ErrUnexpectedAuthInfo) {
			t.Errorf("message with %s passes StrictNoSign: %v", f, err)
		}
	}
	if err := wire.CheckPolicy(wire.StrictNoSign, pub[len(pub)-1]); err != nil {
		t.Errorf("clean message fails StrictNoSign: %v", err)
	}

	// Malformed frames: each ends the stream with the reader's error; the
	// target resets it, the attacker records that and opens a new one.
	truncated, err := attacker.TruncatedFrame(attacker.GraftRPC("t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, tc := range []struct {
		name  string
		raw   []byte
		fin   bool
		want  error
		valid int // well-formed RPCs the target may decode first
	}{
		{name: "oversized 16 MiB prefix", raw: attacker.OversizedPrefix(16 << 20), want: wire.ErrFrameTooLarge},
		{name: "varint overflow", raw: attacker.VarintOverflow(), want: wire.ErrVarintOverflow},
		{name: "truncated then FIN", raw: truncated, fin: true, want: wire.ErrTruncated},
		{name: "garbage body", raw: attacker.GarbageFrame(), want: wire.ErrMalformed},
		{name: "random bodies", raw: append(attacker.RandomFrames(rng, 20, 64), attacker.GarbageFrame()...), want: wire.ErrMalformed, valid: 21},
	} {
		if err := a.Open(ctx, tid); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := a.SendRaw(tid, tc.raw); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.fin {
			if err := a.CloseWrite(tid); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		f := next(t, got)
		for k := 0; f.err == nil && k < tc.valid; k++ {
			f = next(t, got)
		}
		if !errors.Is(f.err, tc.want) {
			t.Fatalf("%s: target read error %v, want %v", tc.name, f.err, tc.want)
		}
		r, err := a.WaitFor(ctx, tid, func(r attacker.Record) bool { return r.OutboundClosed })
		if err != nil {
			t.Fatalf("%s: reset not recorded: %v (%+v)", tc.name, err, r)
		}
	}
}

// TestRecordsWhatTheTargetSends runs in a simulated network: the target
// opens its own stream to the attacker and sends subscriptions, a GRAFT, a
// PRUNE with backoff and PX, messages, IHAVE, IWANT and IDONTWANT, then
// resets the stream. The attacker's record holds all of it, bounded by
// MaxRecorded, and WaitFor sees each step without sleeping.
func TestRecordsWhatTheTargetSends(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw, err := sim.New(t, sim.Config{Nodes: 2})
		if err != nil {
			t.Fatal(err)
		}
		a := attacker.New(nw.Hosts[0], attacker.Config{MaxRecorded: 3})
		defer a.Close()
		target := nw.Hosts[1]
		if err := nw.Connect(ctx, 1, 0); err != nil {
			t.Fatal(err)
		}
		s, err := target.NewStream(ctx, a.ID(), wire.ProfileWaku.Protocols()...)
		if err != nil {
			t.Fatal(err)
		}
		w := wire.NewWriter(s, wire.MaxFrameDefault)
		prune := attacker.PruneRPC("t", 60)
		prune.Control.Prune[0].Peers = []*gossipsubv1.PeerInfo{{PeerID: []byte("p1")}, {PeerID: []byte("p2")}}
		rpcs := []*gossipsubv1.RPC{
			attacker.SubscribeRPC(true, "t", "u"),
			attacker.SubscribeRPC(false, "u"),
			attacker.GraftRPC("t"),
			prune,
			attacker.IHaveRPC("t", attacker.BogusIDs("h", 0, 7), 3),
			attacker.IWantRPC(attacker.BogusIDs("w", 0, 4)...),
			attacker.IDontWantRPC(attacker.BogusIDs("d", 0, 2)...),
		}
		for i := range 10 {
			rpcs = append(rpcs, attacker.PublishRPC(attacker.UnsignedMessage("t", fmt.Appendf(nil, "m%d", i))))
		}
		for _, rpc := range rpcs {
			if err := w.Write(rpc); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		r, err := a.WaitFor(ctx, target.ID(), func(r attacker.Record) bool { return r.RPCs == len(rpcs) })
		if err != nil {
			t.Fatal(err)
		}
		if !r.Subscribed["t"] || r.Subscribed["u"] || len(r.Subscribed) != 1 {
			t.Errorf("subscriptions %v, want only t", r.Subscribed)
		}
		if r.Grafts["t"] != 1 {
			t.Errorf("grafts %v", r.Grafts)
		}
		if p := r.PrunesOf("t"); len(p) != 1 || p[0].Backoff != 60 || p[0].PX != 2 || r.PruneCount != 1 {
			t.Errorf("prunes %+v (count %d)", p, r.PruneCount)
		}
		if len(r.Advertised) != 3 || string(r.Advertised[1]) != string(attacker.BogusIDs("h", 1, 1)[0]) {
			t.Errorf("advertised ids kept: %q (MaxRecorded 3)", r.Advertised)
		}
		if r.IHaves != 3 || r.IHaveIDs != 7 || r.IWantIDs != 4 || r.IDontWantIDs != 2 {
			t.Errorf("gossip counts: ihave %d/%d iwant %d idontwant %d", r.IHaves, r.IHaveIDs, r.IWantIDs, r.IDontWantIDs)
		}
		if r.MessageCount != 10 || len(r.Messages) != 3 || string(r.Messages[2].GetData()) != "m2" {
			t.Errorf("messages: count %d, kept %d (MaxRecorded 3)", r.MessageCount, len(r.Messages))
		}
		if r.InboundStreams != 1 || r.InboundEnded {
			t.Errorf("inbound stream state %+v", r)
		}
		_ = s.Reset()
		r, err = a.WaitFor(ctx, target.ID(), func(r attacker.Record) bool { return r.InboundEnded })
		if err != nil {
			t.Fatal(err)
		}
		if r.InboundErr == "" {
			t.Error("a reset stream is recorded as a clean close")
		}
	})
}

// TestSybilRegraftsAfterEachPrune: a sybil (Config.Join) answers a stream
// from a peer by opening its own, subscribing and grafting; after a PRUNE
// with a 30 s backoff it grafts again 30 s + RegraftDelay later, not before;
// it never sends a message. Simulated, so the backoff costs no wall time.
func TestSybilRegraftsAfterEachPrune(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw, err := sim.New(t, sim.Config{Nodes: 2, Latency: 10 * time.Millisecond, Jitter: -1})
		if err != nil {
			t.Fatal(err)
		}
		target := nw.Hosts[1]
		got := sink(target)
		a := attacker.New(nw.Hosts[0], attacker.Config{Protocols: []protocol.ID{wire.ProtocolMeshsub12},
			Join: []string{"t"}, RegraftDelay: 5 * time.Second})
		defer a.Close()
		if err := nw.Connect(ctx, 1, 0); err != nil {
			t.Fatal(err)
		}
		s, err := target.NewStream(ctx, a.ID(), wire.ProtocolMeshsub12)
		if err != nil {
			t.Fatal(err)
		}
		// The target's hello: go-libp2p negotiates lazily, so the sybil
		// sees the stream only once the target writes on it.
		w := wire.NewWriter(s, wire.MaxFrameDefault)
		if err := w.Write(attacker.SubscribeRPC(true, "t")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		join := next(t, got).rpc
		if !proto.Equal(join, attacker.JoinRPC("t")) {
			t.Fatalf("sybil's first RPC %v, want subscribe+graft t", join)
		}
		for round := range 2 {
			pruned := time.Now()
			if err := w.Write(attacker.PruneRPC("t", 30)); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			sim.Advance(34 * time.Second)
			select {
			case f := <-got:
				t.Fatalf("round %d: sybil sent %v within the backoff", round, f)
			default:
			}
			f := next(t, got)
			if g := f.rpc.GetControl().GetGraft(); len(g) != 1 || g[0].GetTopicID() != "t" || len(f.rpc.GetPublish()) != 0 {
				t.Fatalf("round %d: after the backoff the sybil sent %v", round, f.rpc)
			}
			if d := time.Since(pruned); d < 35*time.Second || d > 36*time.Second {
				t.Fatalf("round %d: re-graft %s after the PRUNE, want 30 s backoff + 5 s delay", round, d)
			}
		}
	})
}

// TestCovertFlashForwardsThenGoesSilent: with ForwardFor the attacker relays
// each message it receives to its other peers once (a duplicate is not
// relayed again, a censored one never) until ForwardFor has passed, then
// relays nothing.
func TestCovertFlashForwardsThenGoesSilent(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw, err := sim.New(t, sim.Config{Nodes: 3})
		if err != nil {
			t.Fatal(err)
		}
		a := attacker.New(nw.Hosts[0], attacker.Config{Protocols: []protocol.ID{wire.ProtocolMeshsub12}, ForwardFor: 30 * time.Second,
			Censor: func(m *gossipsubv1.Message) bool { return string(m.GetData()) == "censored" }})
		defer a.Close()
		sender, receiver := nw.Hosts[1], nw.Hosts[2]
		got := sink(receiver)
		if err := a.Connect(ctx, nw.Info(2)); err != nil {
			t.Fatal(err)
		}
		if err := nw.Connect(ctx, 1, 0); err != nil {
			t.Fatal(err)
		}
		s, err := sender.NewStream(ctx, a.ID(), wire.ProtocolMeshsub12)
		if err != nil {
			t.Fatal(err)
		}
		w := wire.NewWriter(s, wire.MaxFrameDefault)
		publish := func(data string) {
			t.Helper()
			if err := w.Write(attacker.PublishRPC(attacker.UnsignedMessage("t", []byte(data)))); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			sim.Advance(time.Second)
		}
		publish("censored") // withheld
		publish("early")
		publish("early") // a duplicate: not relayed again
		if f := next(t, got); len(f.rpc.GetPublish()) != 1 || string(f.rpc.GetPublish()[0].GetData()) != "early" {
			t.Fatalf("relayed %v, want the early message", f.rpc)
		}
		select {
		case f := <-got:
			t.Fatalf("relayed a duplicate: %v", f.rpc)
		default:
		}
		sim.Advance(30 * time.Second)
		publish("late")
		select {
		case f := <-got:
			t.Fatalf("still relaying after ForwardFor: %v", f.rpc)
		default:
		}
		if r := a.Record(sender.ID()); r.MessageCount != 4 {
			t.Fatalf("recorded %d messages from the sender, want 4", r.MessageCount)
		}
	})
}
