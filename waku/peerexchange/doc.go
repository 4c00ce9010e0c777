// Package peerexchange is the Waku peer-exchange protocol (RFC
// 34/WAKU2-PEER-EXCHANGE, /vac/waku/peer-exchange/2.0.0-alpha1): a node
// that cannot run discv5 (a browser, a node behind a firewall, a new node
// without bootstrap records) asks a peer for node records, and the peer
// answers with the ENRs of peers it found through discv5.
//
// One stream carries one exchange: the requester writes a PeerExchangeRPC
// with a query (num_peers), the responder writes one with a response (the
// records as RLP bytes and nwaku's status code), each uvarint-length
// prefixed, then both close. The package is the codec and the two sides
// of a stream, with their bounds (message sizes, record sizes, records per
// response, a deadline per exchange); which records to serve and what to
// do with the answer is decided by the discovery actor (waku/discovery).
package peerexchange
