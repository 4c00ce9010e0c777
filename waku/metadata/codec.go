package metadata

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/sharding"
)

// ProtocolID is the metadata protocol's libp2p protocol id.
const ProtocolID protocol.ID = "/vac/waku/metadata/1.0.0"

// MaxMessageSize bounds one metadata message, bytes (nwaku reads at most
// 1024). Every shard of a cluster fits: 1024 shards of at most 2 bytes,
// packed, plus the cluster.
const MaxMessageSize = 4096

// Info is what one side says about itself: its cluster (when it says one)
// and the shards it serves.
type Info struct {
	Cluster    uint32
	HasCluster bool
	Shards     []uint32
}

func (i Info) String() string {
	if !i.HasCluster {
		return fmt.Sprintf("cluster <none> shards %v", i.Shards)
	}
	return fmt.Sprintf("cluster %d shards %v", i.Cluster, i.Shards)
}

// Encode writes i as nwaku does: the cluster, then the shards unpacked in
// field 2 and packed in field 3. Request and response share the layout.
func Encode(i Info) []byte {
	m := &wakuv1.WakuMetadataResponse{Shards: i.Shards, ShardsPacked: i.Shards}
	if i.HasCluster {
		m.ClusterId = proto.Uint32(i.Cluster)
	}
	b, _ := proto.Marshal(m) // a message of scalars always marshals
	return b
}

// Decode reads a request or response: the shards of field 3 when present,
// else field 2 (either encoding; js-waku writes only field 2, go-waku only
// field 3). Shards are sorted and deduplicated; a shard index of MaxShards
// or more, or more than MaxShards shards, is an error.
func Decode(b []byte) (Info, error) {
	if len(b) > MaxMessageSize {
		return Info{}, fmt.Errorf("metadata: %d bytes, more than %d", len(b), MaxMessageSize)
	}
	var m wakuv1.WakuMetadataResponse
	if err := proto.Unmarshal(b, &m); err != nil {
		return Info{}, fmt.Errorf("metadata: %w", err)
	}
	shards := m.GetShardsPacked()
	if len(shards) == 0 {
		shards = m.GetShards()
	}
	if len(shards) > sharding.MaxShards {
		return Info{}, fmt.Errorf("metadata: %d shards, more than %d", len(shards), sharding.MaxShards)
	}
	for _, s := range shards {
		if s >= sharding.MaxShards {
			return Info{}, fmt.Errorf("metadata: shard %d is not below %d", s, sharding.MaxShards)
		}
	}
	out := Info{Cluster: m.GetClusterId(), HasCluster: m.ClusterId != nil, Shards: slices.Clone(shards)}
	slices.Sort(out.Shards)
	out.Shards = slices.Compact(out.Shards)
	if len(out.Shards) == 0 {
		out.Shards = nil
	}
	return out, nil
}

// WriteMessage writes one uvarint-length-prefixed message.
func WriteMessage(w io.Writer, b []byte) error {
	var prefix [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(prefix[:], uint64(len(b)))
	if _, err := w.Write(append(prefix[:n:n], b...)); err != nil {
		return fmt.Errorf("metadata: write: %w", err)
	}
	return nil
}

// ReadMessage reads one uvarint-length-prefixed message of at most max
// bytes; a longer one is refused before it is read.
func ReadMessage(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("metadata: read length: %w", err)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("metadata: message of %d bytes, more than %d", n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("metadata: read message: %w", err)
	}
	return b, nil
}

// Request opens a metadata stream to p, sends local and returns what p
// answers, all within timeout.
func Request(ctx context.Context, h host.Host, p peer.ID, local Info, timeout time.Duration) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "metadata"), p, ProtocolID)
	if err != nil {
		return Info{}, fmt.Errorf("metadata: open stream: %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := WriteMessage(s, Encode(local)); err != nil {
		_ = s.Reset()
		return Info{}, err
	}
	_ = s.CloseWrite()
	b, err := ReadMessage(bufio.NewReaderSize(s, 64), MaxMessageSize)
	if err != nil {
		_ = s.Reset()
		return Info{}, err
	}
	return Decode(b)
}

// Serve answers one inbound metadata stream with local and returns what
// the remote side said about itself.
func Serve(s network.Stream, local Info, timeout time.Duration) (Info, error) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(timeout))
	b, err := ReadMessage(bufio.NewReaderSize(s, 64), MaxMessageSize)
	if err != nil {
		_ = s.Reset()
		return Info{}, err
	}
	remote, decodeErr := Decode(b)
	if err := WriteMessage(s, Encode(local)); err != nil {
		_ = s.Reset()
		return Info{}, err
	}
	return remote, decodeErr
}

// ErrNoCluster: the peer answered without a cluster id.
var ErrNoCluster = errors.New("metadata: the peer did not say its cluster")
