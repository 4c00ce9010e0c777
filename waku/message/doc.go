// Package message holds the WakuMessage rules (RFC 14/WAKU2-MESSAGE) that
// peermesh applies the same way on the relay and on the REST API, and the
// RFC 14 deterministic message hash by which a message is named to users.
//
// Validation returns a *RuleError naming the rule and its relay outcome:
// Reject for what every Waku implementation rejects (undecodable, empty
// content topic, meta over 64 bytes, over the network's size limit) — the
// sender is charged an invalid message (P4) — and Ignore where
// implementations disagree (an empty payload: go-waku and js-waku reject
// it, nwaku forwards it; a content topic that is not
// /{application}/{version}/{name}/{encoding}; a timestamp outside the
// configured skew) — dropped and not forwarded, without a penalty, so an
// honest nwaku peer that forwards such a message is not scored down. The
// REST API refuses both kinds with 400.
//
// Hash is sha256(pubsubTopic ‖ payload ‖ contentTopic ‖ meta ‖ timestamp)
// with the timestamp as 8 big-endian bytes, always present (0 when unset),
// as nwaku and go-waku compute it. js-waku's @waku/message-hash leaves the
// timestamp out when it is 0 or unset, so for such messages its hash
// differs; peermesh stamps every message it publishes.
package message
