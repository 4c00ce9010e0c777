package attacker

import (
	"maps"
	"slices"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// Prune is a PRUNE the target sent.
type Prune struct {
	Topic string
	// Backoff is the backoff the target asked for, seconds (0: none given).
	Backoff uint64
	// PX is the number of peer-exchange entries.
	PX int
}

// Record is what one target sent the attacker and did to its streams. Records
// returned by Attacker.Record and WaitFor are copies.
type Record struct {
	// RPCs is the number of RPC frames read from the target.
	RPCs int
	// Subscribed is the target's current subscriptions.
	Subscribed map[string]bool
	// Grafts counts the target's GRAFTs per topic.
	Grafts map[string]int
	// Prunes are the target's PRUNEs, oldest first (at most MaxRecorded).
	Prunes []Prune
	// PruneCount counts every PRUNE, recorded or not.
	PruneCount int
	// Messages are the messages the target sent, oldest first (at most
	// MaxRecorded); MessageCount counts all of them.
	Messages     []*gossipsubv1.Message
	MessageCount int
	// IHaves and IHaveIDs count IHAVE entries and the ids they carried;
	// Advertised keeps the first MaxRecorded of those ids, so an attack can
	// ask for ids the target really advertised.
	IHaves, IHaveIDs int
	Advertised       [][]byte
	// IWantIDs counts ids the target asked for; IDontWantIDs ids it declined.
	IWantIDs, IDontWantIDs int
	// InboundStreams counts streams the target opened to the attacker.
	InboundStreams int
	// InboundEnded is set when the target's latest stream to us ended;
	// InboundErr is how ("" for a clean close).
	InboundEnded bool
	InboundErr   string
	// OutboundOpen is true while the attacker's stream to the target is up;
	// OutboundClosed is set when the target reset or closed it, with the
	// error observed in OutboundErr.
	OutboundOpen   bool
	OutboundClosed bool
	OutboundErr    string
	// Protocol is the protocol negotiated on the attacker's stream.
	Protocol string
}

func newRecord() *Record {
	return &Record{Subscribed: map[string]bool{}, Grafts: map[string]int{}}
}

func (r *Record) clone() Record {
	c := *r
	c.Subscribed = maps.Clone(r.Subscribed)
	c.Grafts = maps.Clone(r.Grafts)
	c.Prunes = slices.Clone(r.Prunes)
	c.Messages = slices.Clone(r.Messages) // the messages themselves are never mutated
	c.Advertised = slices.Clone(r.Advertised)
	return c
}

// add records one RPC of the target, keeping at most max messages and prunes.
func (r *Record) add(rpc *gossipsubv1.RPC, max int) {
	r.RPCs++
	for _, s := range rpc.GetSubscriptions() {
		if s.GetSubscribe() {
			r.Subscribed[s.GetTopicid()] = true
		} else {
			delete(r.Subscribed, s.GetTopicid())
		}
	}
	for _, m := range rpc.GetPublish() {
		r.MessageCount++
		if len(r.Messages) < max {
			r.Messages = append(r.Messages, m)
		}
	}
	ctrl := rpc.GetControl()
	for _, g := range ctrl.GetGraft() {
		r.Grafts[g.GetTopicID()]++
	}
	for _, p := range ctrl.GetPrune() {
		r.PruneCount++
		if len(r.Prunes) < max {
			r.Prunes = append(r.Prunes, Prune{Topic: p.GetTopicID(), Backoff: p.GetBackoff(), PX: len(p.GetPeers())})
		}
	}
	for _, ih := range ctrl.GetIhave() {
		r.IHaves++
		r.IHaveIDs += len(ih.GetMessageIDs())
		for _, id := range ih.GetMessageIDs() {
			if len(r.Advertised) < max {
				r.Advertised = append(r.Advertised, id)
			}
		}
	}
	for _, iw := range ctrl.GetIwant() {
		r.IWantIDs += len(iw.GetMessageIDs())
	}
	for _, d := range ctrl.GetIdontwant() {
		r.IDontWantIDs += len(d.GetMessageIDs())
	}
}

// PrunesOf returns the recorded PRUNEs for topic.
func (r Record) PrunesOf(topic string) []Prune {
	var out []Prune
	for _, p := range r.Prunes {
		if p.Topic == topic {
			out = append(out, p)
		}
	}
	return out
}
