package mesh

import gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"

// mcache is the message cache of the seed (mcache.nim): messages by id,
// with the ids grouped in heartbeat windows. The newest HistoryGossip
// windows are advertised in IHAVE; after HistoryLength shifts a message is
// gone. Bounded by max messages: when full a new message is not cached.
type mcache struct {
	msgs    map[MessageID]cached
	windows [][]MessageID // windows[0] is the newest
	gossip  int
	max     int
	// shifts counts shift calls: the round a message was cached in, and
	// the round an IHAVE was sent in, are both measured in shifts.
	shifts uint64
}

type cached struct {
	msg   *gossipsubv1.Message
	round uint64
}

func (c *mcache) init(history, gossip, max int) {
	c.msgs = make(map[MessageID]cached)
	c.windows = make([][]MessageID, history)
	c.gossip = gossip
	c.max = max
}

func (c *mcache) len() int { return len(c.msgs) }

// put caches a message; it returns false if the cache is full or the id is already cached.
func (c *mcache) put(id MessageID, m *gossipsubv1.Message) bool {
	if _, ok := c.msgs[id]; ok || len(c.msgs) >= c.max {
		return false
	}
	c.msgs[id] = cached{msg: m, round: c.shifts}
	c.windows[0] = append(c.windows[0], id)
	return true
}

func (c *mcache) get(id MessageID) (*gossipsubv1.Message, bool) {
	m, ok := c.msgs[id]
	return m.msg, ok
}

// window appends the ids of the gossip windows to dst.
func (c *mcache) window(dst []MessageID) []MessageID {
	for _, w := range c.windows[:c.gossip] {
		dst = append(dst, w...)
	}
	return dst
}

// shift drops the oldest window and opens a new one (seed: mcache.shift).
func (c *mcache) shift() {
	last := len(c.windows) - 1
	old := c.windows[last]
	for _, id := range old {
		delete(c.msgs, id)
	}
	copy(c.windows[1:], c.windows[:last])
	clear(old)
	c.windows[0] = old[:0]
	c.shifts++
}
