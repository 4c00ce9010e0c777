package mesh

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// TestKnownIDsWindows: an id is found from its Add until at most two
// windows later, never after; topics do not share ids; a full window adds
// nothing and counts it.
func TestKnownIDsWindows(t *testing.T) {
	now := t0
	k := NewKnownIDs(time.Second, 3, func() time.Time { return now })
	at := func(d time.Duration) { now = t0.Add(d) }
	k.Add("a", "m1")
	if !k.Has("a", []byte("m1")) || k.Has("b", []byte("m1")) || k.Has("a", []byte("m2")) {
		t.Fatal("m1 of a not found, or found for b, or m2 found")
	}
	at(1500 * time.Millisecond) // second window: m1 still found
	k.Add("a", "m2")
	if !k.Has("a", []byte("m1")) || !k.Has("a", []byte("m2")) {
		t.Fatal("lost an id within two windows")
	}
	at(2000 * time.Millisecond) // m1's window ended two windows ago
	if k.Has("a", []byte("m1")) || !k.Has("a", []byte("m2")) {
		t.Fatal("m1 kept past two windows, or m2 lost within them")
	}
	at(10 * time.Second) // long idle: everything forgotten
	if k.Has("a", []byte("m2")) {
		t.Fatal("m2 kept after a long idle")
	}
	for i := range 5 {
		k.Add("a", MessageID(fmt.Sprint("f", i)))
	}
	if k.Full() != 2 || k.Has("a", []byte("f3")) || !k.Has("a", []byte("f2")) {
		t.Fatalf("full %d: want 2 refused, f0-f2 kept", k.Full())
	}
	// Topic and id boundaries do not run together.
	k2 := NewKnownIDs(time.Second, 0, func() time.Time { return now })
	k2.Add("ab", "c")
	if k2.Has("a", []byte("bc")) {
		t.Fatal("(ab, c) found as (a, bc)")
	}
}

// TestKnownIDsConcurrent: readers and writers at once (run under -race).
func TestKnownIDsConcurrent(t *testing.T) {
	k := NewKnownIDs(0, 0, nil)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				id := MessageID(fmt.Sprint(w, "-", i))
				k.Add("t", id)
				if !k.Has("t", []byte(id)) {
					t.Error("own add not found")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestHandleMessageWithoutBody: a copy whose body the reader dropped (the
// id was known) counts as the duplicate it is — P3 credit after
// acceptance, a source of the message during validation — and one whose id
// the seen cache no longer holds is dropped and counted, never validated.
func TestHandleMessageWithoutBody(t *testing.T) {
	t.Run("during validation: a source, not forwarded to", func(t *testing.T) {
		tp := joinedTopic(t, testConfig(), 5)
		graftN(tp, 0, 5)
		tp.HandleMessage(t0, pid(0), "m", msg(10))
		if fx := tp.HandleMessage(t0, pid(1), "m", nil); !fx.Empty() {
			t.Fatalf("effects %+v", fx)
		}
		fx := tp.HandleValidated(t0, "m", ValidationAccept)
		if len(fx.Sends) != 1 || slices.Contains(fx.Sends[0].To, pid(1)) {
			t.Fatalf("sends %+v: the copy's sender must be skipped", fx.Sends)
		}
		if c1, _ := tp.Counters(pid(1)); c1.MeshMessageDeliveries != 1 {
			t.Fatalf("copy's sender counters %+v, want a mesh delivery", c1)
		}
	})
	t.Run("after acceptance: P3 credit", func(t *testing.T) {
		tp := joinedTopic(t, testConfig(), 5)
		graftN(tp, 0, 5)
		tp.HandleMessage(t0, pid(0), "m", msg(10))
		tp.HandleValidated(t0, "m", ValidationAccept)
		tp.HandleMessage(t0, pid(2), "m", nil)
		if c2, _ := tp.Counters(pid(2)); c2.MeshMessageDeliveries != 1 || tp.Stats().Duplicates != 1 {
			t.Fatalf("counters %+v, dups %d", c2, tp.Stats().Duplicates)
		}
	})
	t.Run("id no longer seen: dropped and counted", func(t *testing.T) {
		tp := joinedTopic(t, testConfig(), 5)
		fx := tp.HandleMessage(t0, pid(0), "m", nil)
		if !fx.Empty() || tp.HasSeen("m") || tp.Stats().KnownUnseen != 1 || tp.Stats().Duplicates != 0 {
			t.Fatalf("effects %+v, seen %v, stats %+v", fx, tp.HasSeen("m"), tp.Stats())
		}
	})
}

// TestTopicActorKnownCopies: the topic actor adds an id to KnownIDs when
// it marks it seen on receipt; a copy without body (the reader dropped it)
// is a duplicate, never verified, delivered or forwarded; one of an id the
// topic does not hold is dropped.
func TestTopicActorKnownCopies(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		known := NewKnownIDs(0, 0, nil)
		h := newTopicHarnessWith(t, actorCfg(), 3, func(d *Deps) {
			d.Known = known
			d.Verify = func(m *gossipsubv1.Message) error {
				if m == nil {
					t.Error("Verify called for a copy without body")
				}
				return nil
			}
		})
		h.subscribeAll()
		h.router.Request(h.topic, &pubsubv1.Join{Topic: actorTopic})
		h.router.ExpectMessage(&pubsubv1.Joined{Topic: actorTopic})
		for _, p := range h.peers {
			p.Next(time.Second) // the GRAFTs, if any
		}
		sub := h.subscriber(t)
		h.receive(actorPeer(0), "m")
		actortest.Expect[*pubsubv1.Delivered](sub)
		synctest.Wait()
		if !known.Has(actorTopic, []byte("m")) {
			t.Fatal("id marked seen on receipt not added to KnownIDs")
		}
		for _, id := range []string{"m", "never seen"} {
			h.router.Send(h.topic, &pubsubv1.ReceivedMessages{Peer: []byte(actorPeer(1)),
				Messages: []*pubsubv1.IdentifiedMessage{{Id: []byte(id)}}})
		}
		synctest.Wait()
		sub.ExpectNoMessage(100 * time.Millisecond)
		if known.Has(actorTopic, []byte("never seen")) {
			t.Fatal("a copy without body added its id")
		}
	})
}

// BenchmarkKnownIDsHas: one reader's look-up of a 32-byte id, as for every
// received copy.
func BenchmarkKnownIDsHas(b *testing.B) {
	k := NewKnownIDs(0, 0, nil)
	ids := make([][]byte, 1024)
	for i := range ids {
		sum := sha256.Sum256(fmt.Append(nil, i))
		ids[i] = sum[:]
		if i%2 == 0 {
			k.Add("/waku/2/rs/1/0", MessageID(ids[i]))
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k.Has("/waku/2/rs/1/0", ids[i%len(ids)])
		i++
	}
}
