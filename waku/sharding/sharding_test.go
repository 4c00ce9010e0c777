package sharding

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Vectors: the spec's myapp/1 example, nwaku's test_sharding.nim toychat
// topic, and a non-power-of-two N where the last-64-bit reading (what
// every implementation computes) differs from the spec text's full-hash
// reading (which would give 1).
func TestAutoShardVectors(t *testing.T) {
	cases := []struct {
		name         string
		contentTopic string
		numShards    int
		cluster      uint16
		want         string
	}{
		{"spec example", "/myapp/1/chat/proto", 8, 1, "/waku/2/rs/1/0"},
		{"nwaku toychat", "/toychat/2/huilong/proto", 8, 1, "/waku/2/rs/1/3"},
		{"last 64 bits, N=5", "/myapp/1/chat/proto", 5, 16, "/waku/2/rs/16/2"},
		{"generation 0 maps like no generation", "/0/toychat/2/huilong/proto", 8, 1, "/waku/2/rs/1/3"},
		{"name and encoding do not matter", "/toychat/2/other/rfc26", 8, 1, "/waku/2/rs/1/3"},
		{"one shard", "/toychat/2/huilong/proto", 1, 0, "/waku/2/rs/0/0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := AutoShard(c.cluster, c.numShards, c.contentTopic)
			if err != nil {
				t.Fatal(err)
			}
			if s.Topic() != c.want {
				t.Fatalf("AutoShard(%d, %d, %q) = %s, want %s", c.cluster, c.numShards, c.contentTopic, s.Topic(), c.want)
			}
		})
	}
}

func TestContentTopicRules(t *testing.T) {
	cases := []struct {
		in      string
		wantErr string
	}{
		{"/app/1/name/proto", ""},
		{"/0/app/1/name/proto", ""},
		{"app/1/name/proto", "must start with '/'"},
		{"", "must start with '/'"},
		{"/app/1/name", "has 3 parts"},
		{"/app/1/name/proto/extra/x", "has 6 parts"},
		{"/app//name/proto", "empty version"},
		{"//1/name/proto", "empty application"},
		{"/app/1/name/", "empty encoding"},
		{"/1/app/1/name/proto", "generation other than 0"},
		{"/x/app/1/name/proto", "not a number"},
	}
	for _, c := range cases {
		ct, err := ParseContentTopic(c.in)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%q: unexpected error %v", c.in, err)
		case c.wantErr == "" && ct.String() != c.in:
			t.Errorf("%q: String() = %q", c.in, ct.String())
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: error %v, want one containing %q", c.in, err, c.wantErr)
		}
	}
	if _, err := ParseContentTopic("/2/app/1/n/e"); !errors.Is(err, ErrGeneration) {
		t.Errorf("generation 2: %v, want ErrGeneration", err)
	}
}

func TestParseTopic(t *testing.T) {
	cases := []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"/waku/2/rs/0/0", Shard{0, 0}, true},
		{"/waku/2/rs/1/7", Shard{1, 7}, true},
		{"/waku/2/rs/65535/1023", Shard{65535, 1023}, true},
		{"/waku/2/rs/65536/0", Shard{}, false},
		{"/waku/2/rs/1/1024", Shard{}, false},
		{"/waku/2/rs/01/0", Shard{}, false},
		{"/waku/2/rs/1/-1", Shard{}, false},
		{"/waku/2/rs/1", Shard{}, false},
		{"/waku/2/rs/1/2/3", Shard{}, false},
		{"/waku/2/default-waku/proto", Shard{}, false},
		{"/waku/2/rs/+1/0", Shard{}, false},
	}
	for _, c := range cases {
		got, err := ParseTopic(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseTopic(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && got.Topic() != c.in {
			t.Errorf("round trip %q → %q", c.in, got.Topic())
		}
	}
}

func TestAllShardsAndTopics(t *testing.T) {
	if got := AllShards(3); !slices.Equal(got, []uint16{0, 1, 2}) {
		t.Fatalf("AllShards(3) = %v", got)
	}
	if got := AllShards(0); len(got) != 0 {
		t.Fatalf("AllShards(0) = %v", got)
	}
	if got := Topics(1, []uint16{0, 5}); !slices.Equal(got, []string{"/waku/2/rs/1/0", "/waku/2/rs/1/5"}) {
		t.Fatalf("Topics = %v", got)
	}
	if _, err := AutoShard(1, 0, "/a/1/b/c"); err == nil {
		t.Fatal("AutoShard with 0 shards must fail")
	}
}
