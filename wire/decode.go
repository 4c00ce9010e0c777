package wire

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// mergeOpts decodes control messages with proto's own merge semantics (a
// control field that occurs twice is merged, as the spec's decoders do).
var mergeOpts = proto.UnmarshalOptions{Merge: true}

// unmarshalRPC decodes an RPC whose repeated-field counts the scan has
// already checked. It produces exactly what proto.Unmarshal produces (the
// fuzz tests FuzzDecodeRPC and FuzzDecodeMessage compare the two) but
// decodes published messages by hand, because they are the hot path: a
// message, its topic string and its byte fields take three allocations (two
// with a Reader's topic cache) instead of seven, and no copy is shared
// between messages, so keeping one message never pins the rest of its frame.
// Subscriptions and control messages are rare and small; proto decodes them.
//
// With a filter (Reader's WithMessageFilter), each published message is
// first decoded as a view whose byte fields alias b (no copy, no
// allocation beyond an uncached topic) and shown to the filter; only a
// message the filter keeps is copied out of b. A dropped message leaves no
// trace in dst.
func unmarshalRPC(b []byte, dst *gossipsubv1.RPC, s *rpcScan, topics *topicCache, filter *viewFilter) error {
	dst.Reset()
	if s.subs.n > 0 {
		dst.Subscriptions = make([]*gossipsubv1.SubOpts, 0, s.subs.n)
	}
	if s.msgs.n > 0 {
		dst.Publish = make([]*gossipsubv1.Message, 0, s.msgs.n)
	}
	var unknown []byte
	for len(b) > 0 {
		num, typ, n, err := consumeTag(b)
		if err != nil {
			return err
		}
		if typ != protowire.BytesType || num < 1 || num > 3 {
			m := protowire.ConsumeFieldValue(num, typ, b[n:])
			if m < 0 {
				return malformed("decode rpc unknown field", protowire.ParseError(m))
			}
			unknown = appendUnknown(unknown, num, typ, b[n:n+m])
			b = b[n+m:]
			continue
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return malformed("decode rpc field", protowire.ParseError(m))
		}
		b = b[n+m:]
		switch num {
		case 1:
			sub := &gossipsubv1.SubOpts{}
			if err := proto.Unmarshal(v, sub); err != nil {
				return malformed("decode subscription", err)
			}
			dst.Subscriptions = append(dst.Subscriptions, sub)
		case 2:
			// One allocation per message, not one for all of them: a router
			// that keeps one message of a 5000-message frame in its cache
			// must not pin the other 4999.
			if filter != nil {
				keep, err := filter.show(v, topics)
				if err != nil {
					return err
				}
				if !keep {
					continue
				}
			}
			d := new(decodedMessage)
			if err := unmarshalMessage(v, d, topics); err != nil {
				return err
			}
			dst.Publish = append(dst.Publish, &d.msg)
		case 3:
			if dst.Control == nil {
				dst.Control = &gossipsubv1.ControlMessage{}
			}
			if err := mergeOpts.Unmarshal(v, dst.Control); err != nil {
				return malformed("decode control", err)
			}
		}
	}
	if unknown != nil {
		dst.ProtoReflect().SetUnknown(unknown)
	}
	return nil
}

// decodedMessage allocates a message together with the string its Topic
// points to.
type decodedMessage struct {
	msg   gossipsubv1.Message
	topic string
}

// unmarshalMessage decodes a Message into d (zero). Its byte fields alias
// one private copy of b, each capped at its own length so that appending to
// one never overwrites another. A field that occurs twice keeps the last
// value; fields with an unexpected wire type are unknown fields, as in proto.
func unmarshalMessage(b []byte, d *decodedMessage, topics *topicCache) error {
	return parseMessage(append([]byte(nil), b...), d, topics, true)
}

// parseMessage decodes the Message in slab into d (zero), its byte fields
// aliasing slab. keepUnknown false leaves unknown fields out (a view, which
// must not allocate for them).
func parseMessage(slab []byte, d *decodedMessage, topics *topicCache, keepUnknown bool) error {
	msg := &d.msg
	var unknown []byte
	for off := 0; off < len(slab); {
		num, typ, n, err := consumeTag(slab[off:])
		if err != nil {
			return err
		}
		if typ != protowire.BytesType || num < 1 || num > 6 {
			m := protowire.ConsumeFieldValue(num, typ, slab[off+n:])
			if m < 0 {
				return malformed("decode message unknown field", protowire.ParseError(m))
			}
			if keepUnknown {
				unknown = appendUnknown(unknown, num, typ, slab[off+n:off+n+m])
			}
			off += n + m
			continue
		}
		v, m := protowire.ConsumeBytes(slab[off+n:])
		if m < 0 {
			return malformed("decode message field", protowire.ParseError(m))
		}
		start := off + n + m - len(v)
		off += n + m
		// Non-nil even when empty: presence matters for StrictNoSign.
		field := slab[start:off:off]
		switch num {
		case 1:
			msg.From = field
		case 2:
			msg.Data = field
		case 3:
			msg.Seqno = field
		case 4:
			d.topic = topics.intern(field)
			msg.Topic = &d.topic
		case 5:
			msg.Signature = field
		case 6:
			msg.Key = field
		}
	}
	if unknown != nil {
		msg.ProtoReflect().SetUnknown(unknown)
	}
	return nil
}

// MessageFilter decides, while a frame is being decoded, whether a
// published message is kept (copied out of the frame buffer into the
// decoded RPC) or dropped. msg is a view: its byte fields alias the frame
// buffer, which goes back to the pool when ReadRPC returns, and msg itself
// is reused for the next message, so the filter must not keep msg or any of
// its fields (what it computes from them, such as a freshly allocated id,
// it may keep). The view carries no unknown fields. Messages are shown in
// frame order, and only messages of frames that pass the limits scan.
type MessageFilter func(msg *gossipsubv1.Message) (keep bool)

// viewFilter holds a MessageFilter and the view it is shown.
type viewFilter struct {
	fn   MessageFilter
	view decodedMessage
}

// show decodes the message encoded in b as a view into b and asks the
// filter whether to keep it. A malformed message is an error here, before
// the filter sees it, with the error unmarshalMessage would give.
func (f *viewFilter) show(b []byte, topics *topicCache) (bool, error) {
	f.view = decodedMessage{}
	if err := parseMessage(b, &f.view, topics, false); err != nil {
		return false, err
	}
	keep := f.fn(&f.view.msg)
	// Nothing of the frame stays reachable from the Reader.
	f.view = decodedMessage{}
	return keep, nil
}

// appendUnknown keeps an unknown field as proto does: the tag re-encoded in
// its minimal form, then the value bytes as received.
func appendUnknown(dst []byte, num protowire.Number, typ protowire.Type, value []byte) []byte {
	return append(protowire.AppendTag(dst, num, typ), value...)
}

// maxCachedTopics bounds a Reader's topic cache: a peer sending messages on
// ever new topics gets fresh strings, not an ever growing map.
const maxCachedTopics = 64

// topicCache interns topic strings so that the messages of the few topics a
// node is in do not each allocate their topic. The nil cache allocates.
type topicCache struct {
	m map[string]string
}

func (c *topicCache) intern(b []byte) string {
	if c == nil {
		return string(b)
	}
	if s, ok := c.m[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(c.m) < maxCachedTopics {
		if c.m == nil {
			c.m = make(map[string]string)
		}
		c.m[s] = s
	}
	return s
}
