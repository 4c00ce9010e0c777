package peermesh

import "testing"

// TestWakuSubscriptionFilter (reliability case M9): a waku node keeps a
// peer's subscriptions to its own cluster's shards and to its configured
// topics only.
func TestWakuSubscriptionFilter(t *testing.T) {
	accept := wakuSubscriptionFilter(1, []string{"/waku/2/default-waku/proto"})
	for topic, want := range map[string]bool{
		"/waku/2/rs/1/0":             true,
		"/waku/2/rs/1/1023":          true,
		"/waku/2/rs/2/0":             false, // another cluster
		"/waku/2/default-waku/proto": true,  // configured
		"/waku/2/rs/1/x":             false,
		"":                           false,
		"\xff\xfe":                   false,
		"some-libp2p-topic":          false,
	} {
		if got := accept(topic); got != want {
			t.Errorf("accept(%q) = %v, want %v", topic, got, want)
		}
	}
}
