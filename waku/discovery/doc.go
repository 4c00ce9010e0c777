// Package discovery is the discovery actor: it finds Waku relay peers
// through discv5 (RFC 33) and Waku peer exchange (RFC 34) and hands them
// to the peer manager, which dials them through the dial pool like every
// other candidate (nwaku's WakuDiscoveryV5 search loop and
// WakuPeerExchange, as one actor).
//
// # What it owns
//
// The records found (discv5 and peer exchange), at most Config.MaxFound,
// the least recently seen forgotten beyond; the discv5 round and the
// peer-exchange request in flight (one of each at most); the peer-exchange
// server's budget of the current round.
//
// # Messages
//
// Accepts heartbeatv1.Tick (RoundTick: one round), discoveryv1.RecordsFound
// and discoveryv1.PeerExchangeCompleted (from its own goroutines),
// pmv1.NodesConnected and pmv1.PeerAdded (answers of the peer manager),
// discoveryv1.ServePeerExchange (from its stream handler goroutines,
// answered with PeerExchangeAnswer) and discoveryv1.GetDiscoveryStatus.
// Sends the peer manager pmv1.GetStatus each round, pmv1.AddPeer (origin
// DISCV5 or PX) per record kept, pmv1.ConnectivityKick when it misses
// outbound peers and new ones arrived, and pmv1.ConnectToNodes for the
// peer-exchange node.
//
// # A round
//
// Each tick (RoundInterval, 5 s) the actor asks the peer manager for its
// status. It is hungry when it has fewer dialable candidates than it
// misses outbound relay peers. A hungry node, or one whose last discv5
// round is RefreshRounds old, starts a discv5 round: a goroutine reads at
// most CandidatesPerRound distinct records (MaxReadsPerRound nodes,
// LookupTimeout) from go-ethereum's random lookups and reports them. A
// hungry node with a peer-exchange node asks it (at most every PXInterval)
// for twice what it misses (5 to 60 records), after the dial pool
// connected to it.
//
// Every record is checked (Check): a Waku node (waku2 non-zero), on our
// cluster, sharing one of our shards (bootstrap records spared that), with
// an address. Records of another cluster are counted and dropped: such a
// node is found but never dialed.
//
// # Peer exchange server
//
// Serves a uniform sample of the records found through discv5 (never the
// requester's own, at most 60), as nwaku does; ServePerRound requests per
// round (answered 429 beyond), MaxServing streams at once (reset beyond).
//
// # Threading
//
// The core (Discovery) is pure: now from the tick, randomness injected.
// The discv5 lookups, the peer-exchange request and the inbound streams run
// on goroutines that report back with the messages above; discv5 itself
// (Discv5, go-ethereum's p2p/discover with the d5waku protocol id) runs
// go-ethereum's own goroutines, owned by the node, which opens it before
// the actors so the node record carries its UDP port.
package discovery
