package sharding

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxShards is the number of shard indices a cluster can have (0–1023).
const MaxShards = 1024

// TopicPrefix starts every static-sharding pubsub topic.
const TopicPrefix = "/waku/2/rs/"

// Shard is one relay shard: a cluster and a shard index in it.
type Shard struct {
	Cluster uint16
	Index   uint16
}

// Topic is the shard's pubsub topic, /waku/2/rs/<cluster>/<index>.
func (s Shard) Topic() string {
	return TopicPrefix + strconv.Itoa(int(s.Cluster)) + "/" + strconv.Itoa(int(s.Index))
}

// String is the shard's pubsub topic.
func (s Shard) String() string { return s.Topic() }

// ParseTopic reads a static-sharding pubsub topic /waku/2/rs/<cluster>/<index>
// (decimal, no sign, no leading zeros beyond "0", index below MaxShards).
func ParseTopic(topic string) (Shard, error) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix)
	if !ok {
		return Shard{}, fmt.Errorf("pubsub topic %q is not a shard topic %s<cluster>/<shard>", topic, TopicPrefix)
	}
	c, i, ok := strings.Cut(rest, "/")
	if !ok {
		return Shard{}, fmt.Errorf("pubsub topic %q: want %s<cluster>/<shard>", topic, TopicPrefix)
	}
	cluster, err := decimal(c, 1<<16-1)
	if err != nil {
		return Shard{}, fmt.Errorf("pubsub topic %q: cluster: %w", topic, err)
	}
	index, err := decimal(i, MaxShards-1)
	if err != nil {
		return Shard{}, fmt.Errorf("pubsub topic %q: shard: %w", topic, err)
	}
	return Shard{Cluster: uint16(cluster), Index: uint16(index)}, nil
}

// decimal parses a canonical non-negative decimal of at most max, so that
// every shard has exactly one topic string.
func decimal(s string, max uint64) (uint64, error) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if n > max {
		return 0, fmt.Errorf("%d is above %d", n, max)
	}
	return n, nil
}

// Topics returns the pubsub topics of the given shards of cluster, in order.
func Topics(cluster uint16, shards []uint16) []string {
	out := make([]string, 0, len(shards))
	for _, s := range shards {
		out = append(out, Shard{Cluster: cluster, Index: s}.Topic())
	}
	return out
}

// AllShards returns 0 … n-1: the shards a node serves by default in a
// cluster of n shards (nwaku subscribes to every shard of the network when
// no --shard is given).
func AllShards(n int) []uint16 {
	out := make([]uint16, 0, max(n, 0))
	for i := 0; i < n && i < MaxShards; i++ {
		out = append(out, uint16(i))
	}
	return out
}

// ContentTopic is a parsed content topic
// /{application}/{version}/{name}/{encoding}, optionally preceded by a
// generation (/0/…).
type ContentTopic struct {
	// Generation is 0; a content topic of another generation is refused,
	// as nwaku, go-waku and js-waku refuse it.
	Generation  int
	Application string
	Version     string
	Name        string
	Encoding    string
	// hasGeneration keeps the generation prefix for String.
	hasGeneration bool
}

// ErrGeneration: a content topic of a generation other than 0.
var ErrGeneration = errors.New("generation other than 0 is not supported")

// ParseContentTopic parses and checks a content topic: 4 non-empty parts
// after a leading '/', or 5 when the first is the generation 0.
func ParseContentTopic(s string) (ContentTopic, error) {
	if !strings.HasPrefix(s, "/") {
		return ContentTopic{}, fmt.Errorf("content topic %q must start with '/' (/{application}/{version}/{name}/{encoding})", s)
	}
	parts := strings.Split(s[1:], "/")
	var ct ContentTopic
	switch len(parts) {
	case 4:
	case 5:
		g, err := strconv.Atoi(parts[0])
		if err != nil || parts[0] == "" {
			return ContentTopic{}, fmt.Errorf("content topic %q: generation %q is not a number", s, parts[0])
		}
		if g != 0 {
			return ContentTopic{}, fmt.Errorf("content topic %q: %w", s, ErrGeneration)
		}
		ct.hasGeneration = true
		parts = parts[1:]
	default:
		return ContentTopic{}, fmt.Errorf("content topic %q has %d parts, want /{application}/{version}/{name}/{encoding}", s, len(parts))
	}
	for i, what := range []string{"application", "version", "name", "encoding"} {
		if parts[i] == "" {
			return ContentTopic{}, fmt.Errorf("content topic %q: empty %s", s, what)
		}
	}
	ct.Application, ct.Version, ct.Name, ct.Encoding = parts[0], parts[1], parts[2], parts[3]
	return ct, nil
}

// String formats the content topic as it was parsed.
func (c ContentTopic) String() string {
	s := "/" + c.Application + "/" + c.Version + "/" + c.Name + "/" + c.Encoding
	if c.hasGeneration {
		s = "/" + strconv.Itoa(c.Generation) + s
	}
	return s
}

// ShardIndex is autosharding's shard of c in a cluster of numShards
// shards: the last 8 bytes of sha256(application ‖ version), big-endian,
// modulo numShards. numShards must be positive.
func (c ContentTopic) ShardIndex(numShards int) uint16 {
	h := sha256.New()
	h.Write([]byte(c.Application))
	h.Write([]byte(c.Version))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return uint16(binary.BigEndian.Uint64(sum[24:]) % uint64(numShards))
}

// AutoShard maps a content topic to its shard in cluster, a network of
// numShards shards (autosharding).
func AutoShard(cluster uint16, numShards int, contentTopic string) (Shard, error) {
	if numShards < 1 || numShards > MaxShards {
		return Shard{}, fmt.Errorf("autosharding needs 1–%d shards in the network, have %d", MaxShards, numShards)
	}
	ct, err := ParseContentTopic(contentTopic)
	if err != nil {
		return Shard{}, err
	}
	return Shard{Cluster: cluster, Index: ct.ShardIndex(numShards)}, nil
}
