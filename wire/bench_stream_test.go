package wire

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// loopbackHost is a go-libp2p host with the benchmark transport stack of
// BENCHMARKS.md (TCP + Noise + Yamux on 127.0.0.1).
func loopbackHost(b *testing.B) host.Host {
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.ResourceManager(&network.NullResourceManager{}),
	)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close() })
	return h
}

// BenchmarkStream sends signed 1 KiB RPCs over a real Yamux/Noise stream
// and decodes them on the other side, flushing after every RPC or after a
// batch of benchBatch; one op is one RPC delivered and decoded.
func BenchmarkStream(b *testing.B) {
	for _, batch := range []int{1, benchBatch} {
		b.Run(map[int]string{1: "flush-each", benchBatch: "flush-batch"}[batch], func(b *testing.B) {
			benchStream(b, batch)
		})
	}
}

func benchStream(b *testing.B, batch int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	src, dst := loopbackHost(b), loopbackHost(b)
	got := make(chan int, 1024)
	dst.SetStreamHandler(ProtocolMeshsub12, func(s network.Stream) {
		defer func() { _ = s.Reset() }()
		r := NewReader(s, 0)
		var rpc gossipsubv1.RPC
		for {
			if err := r.ReadRPC(&rpc); err != nil {
				if err != io.EOF {
					got <- -1
				}
				return
			}
			got <- 1
		}
	})
	if err := src.Connect(ctx, dst.Peerstore().PeerInfo(dst.ID())); err != nil {
		b.Fatal(err)
	}
	dst.Peerstore().AddAddrs(src.ID(), src.Addrs(), time.Hour)
	s, err := src.NewStream(ctx, dst.ID(), ProtocolMeshsub12)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	rpc := benchRPC(b)
	w := NewWriter(s, 0)
	b.SetBytes(int64(len(mustFrame(b, rpc))))
	b.ReportAllocs()
	sent, received := 0, 0
	for b.Loop() {
		if err := w.Write(rpc); err != nil {
			b.Fatal(err)
		}
		sent++
		if sent%batch == 0 {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		// Keep at most a few batches in flight, as a router's queue would.
		for sent-received > 4*batch {
			received += waitOne(b, ctx, got)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	for received < sent {
		received += waitOne(b, ctx, got)
	}
}

func waitOne(b *testing.B, ctx context.Context, got <-chan int) int {
	select {
	case n := <-got:
		if n < 0 {
			b.Fatal("reader failed")
		}
		return n
	case <-ctx.Done():
		b.Fatal("timed out waiting for the reader")
	}
	return 0
}
