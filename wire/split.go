package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// SplitRPC splits rpc into RPCs whose encodings are each at most maxFrame
// bytes (maxFrame <= 0 means MaxFrameDefault), so that a batch of gossip
// built for many topics never exceeds what the receiving peer accepts. An rpc
// that already fits is returned unchanged as the only part.
//
// Parts keep the order of subscriptions, messages and control entries (by
// kind: IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT). IHAVE, IWANT and IDONTWANT
// entries too large for one frame are split into several entries of the same
// topic; a subscription, message, GRAFT or PRUNE too large for a frame on its
// own is an error matching ErrFrameTooLarge (nothing is dropped silently).
// Parts share sub-messages and id slices with rpc; unknown fields of the RPC
// and ControlMessage are not carried over.
func SplitRPC(rpc *gossipsubv1.RPC, maxFrame int) ([]*gossipsubv1.RPC, error) {
	if maxFrame <= 0 {
		maxFrame = MaxFrameDefault
	}
	if proto.Size(rpc) <= maxFrame {
		return []*gossipsubv1.RPC{rpc}, nil
	}
	s := splitter{max: maxFrame}
	for _, sub := range rpc.Subscriptions {
		if err := s.addTop(sub, func(r *gossipsubv1.RPC) { r.Subscriptions = append(r.Subscriptions, sub) }); err != nil {
			return nil, fmt.Errorf("split rpc: subscription %q: %w", sub.GetTopicid(), err)
		}
	}
	for _, m := range rpc.Publish {
		if err := s.addTop(m, func(r *gossipsubv1.RPC) { r.Publish = append(r.Publish, m) }); err != nil {
			return nil, fmt.Errorf("split rpc: message on %q: %w", m.GetTopic(), err)
		}
	}
	c := rpc.GetControl()
	var entries []proto.Message
	for _, e := range c.GetIhave() {
		entries = append(entries, e)
	}
	for _, e := range c.GetIwant() {
		entries = append(entries, e)
	}
	for _, e := range c.GetGraft() {
		entries = append(entries, e)
	}
	for _, e := range c.GetPrune() {
		entries = append(entries, e)
	}
	for _, e := range c.GetIdontwant() {
		entries = append(entries, e)
	}
	for _, e := range entries {
		if err := s.addControl(e); err != nil {
			return nil, fmt.Errorf("split rpc: control %T: %w", e, err)
		}
	}
	s.flush()
	return s.parts, nil
}

// splitter packs entries greedily into parts, tracking encoded sizes instead
// of re-measuring whole parts.
type splitter struct {
	max   int
	parts []*gossipsubv1.RPC
	cur   *gossipsubv1.RPC
	outer int // bytes of subscriptions and messages in cur
	ctl   int // bytes inside cur.Control
}

// fieldCost is the encoded size of a length-delimited field with a one-byte
// tag (every field number here is below 16).
func fieldCost(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func (s *splitter) total(outer, ctl int) int {
	if ctl == 0 {
		return outer
	}
	return outer + fieldCost(ctl)
}

func (s *splitter) flush() {
	if s.cur != nil {
		s.parts = append(s.parts, s.cur)
	}
	s.cur, s.outer, s.ctl = nil, 0, 0
}

func (s *splitter) ensure() {
	if s.cur == nil {
		s.cur = &gossipsubv1.RPC{}
	}
}

func (s *splitter) addTop(m proto.Message, add func(*gossipsubv1.RPC)) error {
	cost := fieldCost(proto.Size(m))
	if s.cur != nil && s.total(s.outer+cost, s.ctl) > s.max {
		s.flush()
	}
	if cost > s.max {
		return fmt.Errorf("%w: %d bytes alone, limit %d", ErrFrameTooLarge, cost, s.max)
	}
	s.ensure()
	add(s.cur)
	s.outer += cost
	return nil
}

func (s *splitter) addControl(e proto.Message) error {
	cost := fieldCost(proto.Size(e))
	if s.cur != nil && s.total(s.outer, s.ctl+cost) > s.max {
		s.flush()
	}
	if s.total(0, cost) > s.max {
		a, b, ok := halveIDs(e)
		if !ok {
			return fmt.Errorf("%w: %d bytes alone, limit %d", ErrFrameTooLarge, s.total(0, cost), s.max)
		}
		if err := s.addControl(a); err != nil {
			return err
		}
		return s.addControl(b)
	}
	s.ensure()
	if s.cur.Control == nil {
		s.cur.Control = &gossipsubv1.ControlMessage{}
	}
	c := s.cur.Control
	switch v := e.(type) {
	case *gossipsubv1.ControlIHave:
		c.Ihave = append(c.Ihave, v)
	case *gossipsubv1.ControlIWant:
		c.Iwant = append(c.Iwant, v)
	case *gossipsubv1.ControlGraft:
		c.Graft = append(c.Graft, v)
	case *gossipsubv1.ControlPrune:
		c.Prune = append(c.Prune, v)
	case *gossipsubv1.ControlIDontWant:
		c.Idontwant = append(c.Idontwant, v)
	}
	s.ctl += cost
	return nil
}

// halveIDs splits an id-carrying control entry into two entries with half
// the ids each; entries with fewer than two ids cannot be split.
func halveIDs(e proto.Message) (a, b proto.Message, ok bool) {
	half := func(ids [][]byte) ([][]byte, [][]byte, bool) {
		if len(ids) < 2 {
			return nil, nil, false
		}
		h := len(ids) / 2
		return ids[:h:h], ids[h:], true
	}
	switch v := e.(type) {
	case *gossipsubv1.ControlIHave:
		x, y, ok := half(v.MessageIDs)
		return &gossipsubv1.ControlIHave{TopicID: v.TopicID, MessageIDs: x},
			&gossipsubv1.ControlIHave{TopicID: v.TopicID, MessageIDs: y}, ok
	case *gossipsubv1.ControlIWant:
		x, y, ok := half(v.MessageIDs)
		return &gossipsubv1.ControlIWant{MessageIDs: x}, &gossipsubv1.ControlIWant{MessageIDs: y}, ok
	case *gossipsubv1.ControlIDontWant:
		x, y, ok := half(v.MessageIDs)
		return &gossipsubv1.ControlIDontWant{MessageIDs: x}, &gossipsubv1.ControlIDontWant{MessageIDs: y}, ok
	}
	return nil, nil, false
}
