package mesh

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMcacheShift(t *testing.T) {
	var c mcache
	c.init(6, 3, 100)
	for hb := range 8 {
		c.put(MessageID(fmt.Sprint(hb)), msg(1))
		if hb < 7 {
			c.shift()
		}
	}
	// windows now hold (newest first) 7, 6, 5, 4, 3, 2; 0 and 1 are gone.
	for _, tt := range []struct {
		id   string
		want bool
	}{{"0", false}, {"1", false}, {"2", true}, {"7", true}} {
		if _, ok := c.get(MessageID(tt.id)); ok != tt.want {
			t.Errorf("get(%s) = %v, want %v", tt.id, ok, tt.want)
		}
	}
	if got, want := c.window(nil), []MessageID{"7", "6", "5"}; !slices.Equal(got, want) {
		t.Errorf("gossip window %v, want %v", got, want)
	}
}

func TestMcacheFullDropsAndCounts(t *testing.T) {
	cfg := testConfig()
	cfg.MaxCachedMessages = 2
	tp := newTopic(t, cfg)
	for i := range 3 {
		tp.Publish(t0, MessageID(fmt.Sprint(i)), msg(1))
	}
	if s := tp.Stats(); s.CachedMessages != 2 || s.CacheDropped != 1 {
		t.Fatalf("cached %d dropped %d", s.CachedMessages, s.CacheDropped)
	}
}

func TestSeenCache(t *testing.T) {
	t.Run("expires after SeenTTL", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		tp.Publish(t0, "a", msg(1))
		tp.Publish(t0.Add(time.Minute), "b", msg(1))
		tp.Heartbeat(t0.Add(2*time.Minute - time.Nanosecond))
		if !tp.HasSeen("a") {
			t.Fatal("expired before the TTL")
		}
		tp.Heartbeat(t0.Add(2 * time.Minute))
		if tp.HasSeen("a") || !tp.HasSeen("b") {
			t.Fatalf("a seen %v, b seen %v", tp.HasSeen("a"), tp.HasSeen("b"))
		}
	})
	t.Run("memory bound: oldest evicted early and counted", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxSeenBytes = 2 * (seenEntryBytes + 1) // two one-byte ids
		tp := newTopic(t, cfg)
		for _, id := range []MessageID{"a", "b", "c"} {
			tp.Publish(t0, id, msg(1))
		}
		if tp.HasSeen("a") || !tp.HasSeen("c") || tp.Stats().SeenEvicted != 1 {
			t.Fatalf("a %v c %v evicted %d", tp.HasSeen("a"), tp.HasSeen("c"), tp.Stats().SeenEvicted)
		}
	})
	// Sized by time: 1,000 msg/s for the whole two-minute TTL (120,000
	// ids, more than the old count cap of 100,000) are all remembered, so
	// a copy of the first still counts as a duplicate just before its TTL
	// (issue 11 item 15).
	t.Run("holds every id of the TTL at 1,000 msg/s", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		const rate, secs = 1000, 120
		for s := range secs {
			now := t0.Add(time.Duration(s) * time.Second)
			for i := range rate {
				tp.HandleMessage(now, pid(1), MessageID(fmt.Sprintf("%032d", s*rate+i)), msg(1))
				tp.HandleValidated(now, MessageID(fmt.Sprintf("%032d", s*rate+i)), ValidationIgnore)
			}
			tp.Heartbeat(now)
		}
		tp.HandleMessage(t0.Add(secs*time.Second-time.Millisecond), pid(2), MessageID(fmt.Sprintf("%032d", 0)), msg(1))
		if s := tp.Stats(); s.Duplicates != 1 || s.SeenEvicted != 0 || s.SeenEntries != rate*secs {
			t.Fatalf("duplicates %d, evicted %d, entries %d; want 1, 0, %d", s.Duplicates, s.SeenEvicted, s.SeenEntries, rate*secs)
		}
		if b := tp.Stats().SeenBytes; b > tp.cfg.MaxSeenBytes || b < rate*secs*seenEntryBytes {
			t.Fatalf("seen bytes %d, want within [%d, %d]", b, rate*secs*seenEntryBytes, tp.cfg.MaxSeenBytes)
		}
	})
	t.Run("grows past its initial ring and expires everything", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		for i := range 1000 {
			tp.Publish(t0, MessageID(fmt.Sprint(i)), msg(1))
		}
		tp.Heartbeat(t0.Add(3 * time.Minute))
		if tp.seen.len() != 0 || len(tp.seen.index) != 0 || tp.seen.bytes != 0 {
			t.Fatalf("seen %d index %d bytes %d", tp.seen.len(), len(tp.seen.index), tp.seen.bytes)
		}
		for range 8 {
			tp.Heartbeat(t0.Add(4 * time.Minute))
		}
		if len(tp.seen.ring) != 64 {
			t.Fatalf("ring of %d slots after draining, want it shrunk back to 64", len(tp.seen.ring))
		}
	})
}

func TestClampRemoteBackoff(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name string
		sec  uint64
		want time.Duration
	}{
		{"plus slack", 60, 62 * time.Second},
		{"zero plus slack", 0, 2 * time.Second},
		{"a day exactly", 86400, day},
		{"just under a day, slack clamped", 86399, day},
		{"max uint64 without overflow", ^uint64(0), day},
		{"overflowing int64 seconds", 1 << 62, day},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clampRemoteBackoff(tt.sec, 2*time.Second, day); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoffTable(t *testing.T) {
	t.Run("expires on heartbeat", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 1)
		tp.UpdateBackoff(t0, pid(0), time.Minute)
		tp.Heartbeat(t0.Add(time.Minute - time.Nanosecond))
		if _, ok := tp.BackoffUntil(pid(0)); !ok {
			t.Fatal("expired early")
		}
		tp.Heartbeat(t0.Add(time.Minute))
		if _, ok := tp.BackoffUntil(pid(0)); ok {
			t.Fatal("not expired")
		}
	})
	t.Run("UpdateBackoff keeps the later end", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		tp.UpdateBackoff(t0, pid(0), time.Hour)
		tp.UpdateBackoff(t0, pid(0), time.Minute)
		if u, _ := tp.BackoffUntil(pid(0)); !u.Equal(t0.Add(time.Hour)) {
			t.Fatalf("until %v", u)
		}
	})
	t.Run("full: the soonest-expiring entry makes room", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxBackoff = 2
		tp := newTopic(t, cfg)
		tp.UpdateBackoff(t0, pid(0), time.Hour)
		tp.UpdateBackoff(t0, pid(1), time.Minute)
		tp.UpdateBackoff(t0, pid(2), time.Hour)
		if _, ok := tp.BackoffUntil(pid(1)); ok || tp.Stats().BackoffEvicted != 1 {
			t.Fatalf("peer-001 kept or eviction not counted")
		}
	})
	t.Run("never graft a peer we back off from", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 1)
		tp.UpdateBackoff(t0, pid(0), time.Minute)
		if fx := tp.Join(t0); len(fx.Grafts) != 0 {
			t.Fatalf("grafted %v", fx.Grafts)
		}
		if fx := tp.Heartbeat(t0.Add(time.Minute)); len(fx.Grafts) != 1 {
			t.Fatalf("not grafted after the backoff: %v", fx.Grafts)
		}
	})
}

func TestPeerTableBound(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPeers = 2
	tp := newTopic(t, cfg)
	withPeers(t, tp, 2)
	if tp.AddPeer(t0, PeerAttrs{ID: pid(2)}) || tp.Stats().PeersRejected != 1 {
		t.Fatal("third peer accepted")
	}
	// A departed peer with counters makes room.
	tp.peers[pid(0)].counters.InvalidMessageDeliveries = 1
	tp.RemovePeer(t0, pid(0))
	if !tp.AddPeer(t0, PeerAttrs{ID: pid(2)}) {
		t.Fatal("departed peer did not make room")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, p := range []Profile{ProfileWaku, ProfileLibp2p} {
		if err := DefaultConfig(p).Validate(); err != nil {
			t.Fatalf("profile %d defaults invalid: %v", p, err)
		}
	}
	tests := []struct {
		param string
		mod   func(c *Config)
	}{
		{"Dlo", func(c *Config) { c.Dlo = 7 }},
		{"Dhi", func(c *Config) { c.Dhi = 5 }},
		{"Dscore", func(c *Config) { c.Dscore = 9 }},
		{"Dout", func(c *Config) { c.Dout = 4 }},
		{"HistoryGossip", func(c *Config) { c.HistoryGossip = 7 }},
		{"GossipFactor", func(c *Config) { c.GossipFactor = 1.5 }},
		{"MaxRemoteBackoff", func(c *Config) { c.MaxRemoteBackoff = time.Second }},
		{"PenaltyGraftBackoff", func(c *Config) { c.PenaltyGraftBackoff = -1 }},
		{"MaxSeenBytes", func(c *Config) { c.MaxSeenBytes = 0 }},
		{"MeshMessageDeliveriesWeight", func(c *Config) { c.Score.MeshMessageDeliveriesWeight = 1 }},
		{"Publish", func(c *Config) { c.Thresholds.Publish = 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			c := DefaultConfig(ProfileWaku)
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.param+" =") {
				t.Fatalf("error %v does not name %s", err, tt.param)
			}
			if _, err := NewTopic("t", c, nil); err == nil || errors.Unwrap(err) == nil {
				t.Fatalf("NewTopic accepted invalid config: %v", err)
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	w, l := DefaultConfig(ProfileWaku), DefaultConfig(ProfileLibp2p)
	got := [][]int{
		{w.D, w.Dlo, w.Dhi, w.Dscore, w.Dout, w.Dlazy, w.HistoryLength, w.HistoryGossip},
		{l.D, l.Dlo, l.Dhi, l.Dscore, l.Dout, l.Dlazy, l.HistoryLength, l.HistoryGossip},
	}
	want := [][]int{{6, 4, 8, 6, 3, 6, 6, 3}, {6, 5, 12, 4, 2, 6, 5, 3}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("profile %d: %v, want %v", i, got[i], want[i])
		}
	}
	if w.UnsubscribeBackoff != 5*time.Second || l.UnsubscribeBackoff != 10*time.Second || w.PruneBackoff != time.Minute {
		t.Error("backoffs")
	}
}

func TestSeenRingWrapsAndGrows(t *testing.T) {
	var s seenCache
	s.init(time.Minute, 1<<20)
	var st Stats
	// 64 entries a second apart fill the initial ring; expire the first 10
	// so the head moves, then add 100 more: the ring wraps, then grows.
	for i := range 64 {
		s.add(t0.Add(time.Duration(i)*time.Second), seenEntry{id: MessageID(fmt.Sprint(i))}, &st)
	}
	s.expire(t0.Add(time.Minute + 9*time.Second))
	for i := 64; i < 164; i++ {
		s.add(t0.Add(time.Duration(i)*time.Second), seenEntry{id: MessageID(fmt.Sprint(i))}, &st)
	}
	for i := range 164 {
		if got, want := s.get(MessageID(fmt.Sprint(i))) != nil, i >= 10; got != want {
			t.Fatalf("entry %d present %v, want %v", i, got, want)
		}
	}
	if s.len() != 154 || st.SeenEvicted != 0 {
		t.Fatalf("len %d evicted %d", s.len(), st.SeenEvicted)
	}
	// Expiry still goes oldest first across the wrap.
	s.expire(t0.Add(time.Minute + 99*time.Second))
	if s.get("99") != nil || s.get("100") == nil || s.len() != 64 {
		t.Fatalf("after expiry: len %d", s.len())
	}
}
