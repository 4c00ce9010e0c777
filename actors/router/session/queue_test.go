package session

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

const (
	pCtl = pubsubv1.Priority_PRIORITY_CONTROL
	pFwd = pubsubv1.Priority_PRIORITY_FORWARD
	pGsp = pubsubv1.Priority_PRIORITY_GOSSIP
	pPub = pubsubv1.Priority_PRIORITY_PUBLISH
)

func testMsg(i int, size int) *gossipsubv1.Message {
	return &gossipsubv1.Message{Topic: proto.String("t"), Data: make([]byte, size), Seqno: []byte(fmt.Sprint(i))}
}

func graft(t string) *gossipsubv1.ControlMessage {
	return &gossipsubv1.ControlMessage{Graft: []*gossipsubv1.ControlGraft{{TopicID: proto.String(t)}}}
}

// msgCost is what one queued 100-byte test message is charged.
var msgCost = fieldCost(proto.Size(testMsg(0, 100))) + ItemOverhead

func TestQueueRules(t *testing.T) {
	type step struct {
		prio pubsubv1.Priority
		id   string // message id; "" pushes a GRAFT control item
	}
	tests := []struct {
		name      string
		limit     int
		steps     []step
		cancel    []string
		wantDrops Drops
		// wantOrder lists the ids popped, "G" for a control item.
		wantOrder []string
	}{
		{
			name:      "control before forward before gossip",
			limit:     1 << 20,
			steps:     []step{{pGsp, "g1"}, {pFwd, "f1"}, {pCtl, ""}, {pFwd, "f2"}},
			wantOrder: []string{"G", "f1", "f2", "g1"},
		},
		{
			name:      "full queue evicts the oldest of the lowest priority first",
			limit:     3 * msgCost,
			steps:     []step{{pGsp, "g1"}, {pGsp, "g2"}, {pFwd, "f1"}, {pFwd, "f2"}},
			wantDrops: Drops{0, 0, 0, 1},
			wantOrder: []string{"f1", "f2", "g2"},
		},
		{
			name:      "forward evicts gossip before forward",
			limit:     2 * msgCost,
			steps:     []step{{pFwd, "f1"}, {pGsp, "g1"}, {pFwd, "f2"}, {pFwd, "f3"}},
			wantDrops: Drops{0, 0, 1, 1},
			wantOrder: []string{"f2", "f3"},
		},
		{
			name:      "gossip never evicts forward: the new gossip item is refused",
			limit:     2 * msgCost,
			steps:     []step{{pFwd, "f1"}, {pFwd, "f2"}, {pGsp, "g1"}},
			wantDrops: Drops{0, 0, 0, 1},
			wantOrder: []string{"f1", "f2"},
		},
		{
			name:      "control evicts data",
			limit:     2 * msgCost,
			steps:     []step{{pFwd, "f1"}, {pFwd, "f2"}, {pCtl, ""}},
			wantDrops: Drops{0, 0, 1, 0},
			wantOrder: []string{"G", "f2"},
		},
		{
			name:      "own publishes go after control, before forwards",
			limit:     1 << 20,
			steps:     []step{{pGsp, "g1"}, {pFwd, "f1"}, {pPub, "p1"}, {pCtl, ""}, {pPub, "p2"}},
			wantOrder: []string{"G", "p1", "p2", "f1", "g1"},
		},
		{
			name:      "a publish evicts forwards and gossip",
			limit:     2 * msgCost,
			steps:     []step{{pFwd, "f1"}, {pGsp, "g1"}, {pPub, "p1"}, {pPub, "p2"}},
			wantDrops: Drops{0, 0, 1, 1},
			wantOrder: []string{"p1", "p2"},
		},
		{
			name:      "a forward never evicts a publish: the new forward is refused",
			limit:     2 * msgCost,
			steps:     []step{{pPub, "p1"}, {pPub, "p2"}, {pFwd, "f1"}},
			wantDrops: Drops{0, 0, 1, 0},
			wantOrder: []string{"p1", "p2"},
		},
		{
			name:      "control evicts a publish last",
			limit:     2 * msgCost,
			steps:     []step{{pPub, "p1"}, {pPub, "p2"}, {pCtl, ""}},
			wantDrops: Drops{0, 1, 0, 0},
			wantOrder: []string{"G", "p2"},
		},
		{
			name:      "same id is queued once",
			limit:     1 << 20,
			steps:     []step{{pFwd, "f1"}, {pGsp, "f1"}},
			wantOrder: []string{"f1"},
		},
		{
			name:      "cancel removes a queued message and frees its bytes",
			limit:     2 * msgCost,
			steps:     []step{{pFwd, "f1"}, {pFwd, "f2"}},
			cancel:    []string{"f1", "nope"},
			wantOrder: []string{"f2"},
		},
		{
			name:      "an item larger than the limit is refused",
			limit:     msgCost - 1,
			steps:     []step{{pFwd, "f1"}},
			wantDrops: Drops{0, 0, 1, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewQueue(tt.limit)
			var drops Drops
			byMsg := map[*gossipsubv1.Message]string{}
			for i, s := range tt.steps {
				if s.id == "" {
					drops = add(drops, q.PushControl(s.prio, graft("t")))
					continue
				}
				m := testMsg(i, 100)
				byMsg[m] = s.id
				d, _ := q.PushMessage(s.prio, s.id, m)
				drops = add(drops, d)
			}
			for _, id := range tt.cancel {
				q.Cancel(id)
			}
			if q.Bytes() > tt.limit {
				t.Fatalf("queue holds %d bytes, limit %d", q.Bytes(), tt.limit)
			}
			if drops != tt.wantDrops {
				t.Errorf("drops = %v, want %v", drops, tt.wantDrops)
			}
			rpc := &gossipsubv1.RPC{}
			q.PopBatch(rpc, 1<<20)
			var got []string
			for range rpc.GetControl().GetGraft() {
				got = append(got, "G")
			}
			for _, m := range rpc.GetPublish() {
				got = append(got, byMsg[m])
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantOrder) {
				t.Errorf("popped %v, want %v", got, tt.wantOrder)
			}
			if !q.Empty() || q.Bytes() != 0 || q.Len() != 0 {
				t.Errorf("after PopBatch: bytes=%d len=%d, want empty", q.Bytes(), q.Len())
			}
		})
	}
}

func TestQueuePopBatchRespectsFrameLimit(t *testing.T) {
	q := NewQueue(1 << 20)
	for i := range 10 {
		q.PushMessage(pFwd, fmt.Sprint(i), testMsg(i, 1000))
	}
	rpc := &gossipsubv1.RPC{}
	n := q.PopBatch(rpc, 3500)
	if n != 3 || len(rpc.Publish) != 3 {
		t.Fatalf("popped %d items (%d messages), want 3", n, len(rpc.Publish))
	}
	if s := proto.Size(rpc); s > 3500 {
		t.Fatalf("batch is %d bytes, limit 3500", s)
	}
	// An item larger than the batch limit still leaves the queue alone.
	big := NewQueue(1 << 20)
	big.PushMessage(pFwd, "big", testMsg(0, 5000))
	big.PushMessage(pFwd, "next", testMsg(1, 10))
	rpc = &gossipsubv1.RPC{}
	if n := big.PopBatch(rpc, 3500); n != 1 {
		t.Fatalf("oversized head: popped %d, want 1", n)
	}
}

// A stalled writer and a peer that cancels every message it is sent (by
// IDONTWANT or a copy) must not grow the queue past its byte limit: the
// cancelled placeholders stay charged ItemOverhead and hold no message.
func TestQueuePushThenCancelStaysBounded(t *testing.T) {
	const limit = 4096
	q := NewQueue(limit)
	for i := range 10000 {
		id := fmt.Sprint("m", i)
		q.PushMessage(pubsubv1.Priority_PRIORITY_FORWARD, id, testMsg(i, 100))
		q.Cancel(id)
		if q.Bytes() > limit {
			t.Fatalf("after %d push+cancel: %d bytes, limit %d", i+1, q.Bytes(), limit)
		}
	}
	f := &q.lanes[lane(pubsubv1.Priority_PRIORITY_FORWARD)]
	if n := len(f.items) - f.head; n > limit/ItemOverhead {
		t.Fatalf("%d placeholders queued, want at most %d", n, limit/ItemOverhead)
	}
	for _, it := range f.items[f.head:] {
		if it.msg != nil {
			t.Fatal("a cancelled placeholder still holds its message")
		}
	}
	q.PopBatch(&gossipsubv1.RPC{}, 1<<20)
	if !q.Empty() || q.Bytes() != 0 || q.Len() != 0 {
		t.Fatalf("after PopBatch: bytes=%d len=%d, want empty", q.Bytes(), q.Len())
	}
}

// Age limits (ADR 0021): a forward or gossip item that waited longer than its
// lane's limit is dropped by the next Expire and reported; control items
// never expire; cancelled placeholders go without being counted; the clock
// never moves back.
func TestQueueExpire(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type push struct {
		at   int // ms after t0 (the time given to Expire before the push)
		prio pubsubv1.Priority
		id   string // "" pushes a GRAFT
	}
	tests := []struct {
		name        string
		pushes      []push
		cancel      []string
		expireAt    int
		wantExpired Drops
		wantOrder   []string
	}{
		{
			name:        "forward older than its limit expires, younger stays",
			pushes:      []push{{0, pFwd, "f1"}, {200, pFwd, "f2"}},
			expireAt:    350,
			wantExpired: Drops{0, 0, 1, 0},
			wantOrder:   []string{"f2"},
		},
		{
			name:      "exactly at the limit stays",
			pushes:    []push{{0, pFwd, "f1"}},
			expireAt:  300,
			wantOrder: []string{"f1"},
		},
		{
			name:        "gossip has its own limit",
			pushes:      []push{{0, pGsp, "g1"}, {0, pFwd, "f1"}},
			expireAt:    800,
			wantExpired: Drops{0, 0, 1, 0},
			wantOrder:   []string{"g1"},
		},
		{
			name:        "own publishes have no age limit by default",
			pushes:      []push{{0, pPub, "p1"}, {0, pFwd, "f1"}},
			expireAt:    60_000,
			wantExpired: Drops{0, 0, 1, 0},
			wantOrder:   []string{"p1"},
		},
		{
			name:      "control never expires",
			pushes:    []push{{0, pCtl, ""}},
			expireAt:  60_000,
			wantOrder: []string{"G"},
		},
		{
			name:      "a cancelled placeholder goes uncounted",
			pushes:    []push{{0, pFwd, "f1"}, {250, pFwd, "f2"}},
			cancel:    []string{"f1"},
			expireAt:  400,
			wantOrder: []string{"f2"},
		},
		{
			name:        "a clock going back changes nothing",
			pushes:      []push{{500, pFwd, "f1"}},
			expireAt:    100,
			wantExpired: Drops{},
			wantOrder:   []string{"f1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewQueue(1 << 20)
			q.SetMaxAge(pFwd, 300*time.Millisecond)
			q.SetMaxAge(pGsp, time.Second)
			byMsg := map[*gossipsubv1.Message]string{}
			var expired Drops
			for i, p := range tt.pushes {
				expired = add(expired, q.Expire(ms(p.at)))
				if p.id == "" {
					q.PushControl(p.prio, graft("t"))
					continue
				}
				m := testMsg(i, 100)
				byMsg[m] = p.id
				q.PushMessage(p.prio, p.id, m)
			}
			for _, id := range tt.cancel {
				q.Cancel(id)
			}
			expired = add(expired, q.Expire(ms(tt.expireAt)))
			if expired != tt.wantExpired {
				t.Errorf("expired %v, want %v", expired, tt.wantExpired)
			}
			rpc := &gossipsubv1.RPC{}
			q.PopBatch(rpc, 1<<20)
			var got []string
			for range rpc.GetControl().GetGraft() {
				got = append(got, "G")
			}
			for _, m := range rpc.GetPublish() {
				got = append(got, byMsg[m])
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantOrder) {
				t.Errorf("popped %v, want %v", got, tt.wantOrder)
			}
			if !q.Empty() || q.Bytes() != 0 {
				t.Errorf("after PopBatch: %d bytes, want empty", q.Bytes())
			}
		})
	}
}
