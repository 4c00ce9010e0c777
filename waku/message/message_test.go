package message

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The four test vectors of RFC 14 (14/WAKU2-MESSAGE, "Deterministic message
// hashing").
func TestHashRFC14Vectors(t *testing.T) {
	meta64 := make([]byte, 64)
	for i := range meta64 {
		meta64[i] = byte(i)
	}
	payload := unhex(t, "0x010203045445535405060708")
	cases := []struct {
		name    string
		payload []byte
		meta    []byte
		want    string
	}{
		{"meta", payload, unhex(t, "0x73757065722d736563726574"), "0x64cce733fed134e83da02b02c6f689814872b1a0ac97ea56b76095c3c72bfe05"},
		{"64-byte meta", payload, meta64, "0x7158b6498753313368b9af8f6e0a0a05104f68f972981da42a43bc53fb0c1b27"},
		{"no meta", payload, nil, "0xa2554498b31f5bcdfcbf7fa58ad1c2d45f0254f3f8110a85588ec3cf10720fd8"},
		{"empty payload", []byte{}, unhex(t, "0x73757065722d736563726574"), "0x483ea950cb63f9b9d6926b262bb36194d3f40a0463ce8446228350bd44e96de4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &wakuv1.WakuMessage{Payload: c.payload, ContentTopic: "/waku/2/default-content/proto",
				Meta: c.meta, Timestamp: proto.Int64(0x175789bfa23f8400)}
			if got := HashOf("/waku/2/default-waku/proto", m).String(); got != c.want {
				t.Fatalf("hash = %s, want %s", got, c.want)
			}
			// Version and ephemeral are not hashed.
			m.Version, m.Ephemeral = proto.Uint32(1), proto.Bool(true)
			if got := HashOf("/waku/2/default-waku/proto", m).String(); got != c.want {
				t.Fatalf("hash with version/ephemeral = %s, want %s", got, c.want)
			}
			data, _ := proto.Marshal(m)
			if h, ok := HashData("/waku/2/default-waku/proto", data); !ok || h.String() != c.want {
				t.Fatalf("HashData = %s %v", h, ok)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ok := func() *wakuv1.WakuMessage {
		return &wakuv1.WakuMessage{Payload: []byte("hi"), ContentTopic: "/app/1/chat/proto"}
	}
	cases := []struct {
		name  string
		rules Rules
		edit  func(*wakuv1.WakuMessage)
		rule  Rule
		out   Outcome
	}{
		{"valid", DefaultRules(), func(*wakuv1.WakuMessage) {}, "", 0},
		{"valid with 64-byte meta", DefaultRules(), func(m *wakuv1.WakuMessage) { m.Meta = make([]byte, 64) }, "", 0},
		{"empty content topic", DefaultRules(), func(m *wakuv1.WakuMessage) { m.ContentTopic = "" }, RuleContentTopic, Reject},
		{"meta of 65 bytes", DefaultRules(), func(m *wakuv1.WakuMessage) { m.Meta = make([]byte, 65) }, RuleMeta, Reject},
		{"empty payload", DefaultRules(), func(m *wakuv1.WakuMessage) { m.Payload = nil }, RulePayload, Ignore},
		{"malformed content topic", DefaultRules(), func(m *wakuv1.WakuMessage) { m.ContentTopic = "chat" }, RuleContentForm, Ignore},
		{"too large", Rules{MaxMessageSize: 10}, func(m *wakuv1.WakuMessage) { m.Payload = make([]byte, 20) }, RuleSize, Reject},
		{"timestamp unchecked by default", DefaultRules(), func(m *wakuv1.WakuMessage) { m.Timestamp = proto.Int64(1) }, "", 0},
		{"timestamp within skew", Rules{MaxTimestampSkew: 20 * time.Second}, func(m *wakuv1.WakuMessage) {
			m.Timestamp = proto.Int64(now.Add(-19 * time.Second).UnixNano())
		}, "", 0},
		{"timestamp too old", Rules{MaxTimestampSkew: 20 * time.Second}, func(m *wakuv1.WakuMessage) {
			m.Timestamp = proto.Int64(now.Add(-21 * time.Second).UnixNano())
		}, RuleTimestamp, Ignore},
		{"timestamp in the future", Rules{MaxTimestampSkew: 20 * time.Second}, func(m *wakuv1.WakuMessage) {
			m.Timestamp = proto.Int64(now.Add(21 * time.Second).UnixNano())
		}, RuleTimestamp, Ignore},
		{"unset timestamp with skew", Rules{MaxTimestampSkew: 20 * time.Second}, func(m *wakuv1.WakuMessage) {}, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := ok()
			c.edit(m)
			check := func(label string, err error) {
				t.Helper()
				var re *RuleError
				if c.rule == "" {
					if err != nil {
						t.Fatalf("%s: unexpected %v", label, err)
					}
					return
				}
				if !errors.As(err, &re) || re.Rule != c.rule || re.Outcome != c.out {
					t.Fatalf("%s: got %v, want rule %s (%s)", label, err, c.rule, c.out)
				}
			}
			check("Validate", c.rules.Validate(m, now))
			data, _ := proto.Marshal(m)
			_, err := c.rules.Decode(data, now)
			check("Decode", err)
		})
	}
	var re *RuleError
	if _, err := DefaultRules().Decode([]byte{0xff, 0xff}, now); !errors.As(err, &re) || re.Rule != RuleDecode || re.Outcome != Reject {
		t.Fatalf("undecodable: %v", err)
	}
}
