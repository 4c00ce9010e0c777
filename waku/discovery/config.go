package discovery

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/waku/enr"
	"github.com/peermesh/peermesh/waku/peerexchange"
)

// Config configures the discovery actor.
type Config struct {
	// Cluster and Shards are the node's: a found record must be on the
	// cluster and, when Shards is not empty, share one of them (nwaku's
	// shardingPredicate; RFC 64's guideline).
	Cluster uint16
	Shards  []uint16

	// Discv5 runs discv5 rounds (Deps.Finder does the lookups).
	Discv5 bool
	// BootstrapNodes are the discv5 bootstrap records (enr:…). Those with
	// a TCP address on our cluster are handed to the peer manager at start
	// (origin discv5), as nwaku does; the shard check spares them.
	BootstrapNodes []string
	// RoundInterval is the heartbeat tick of the actor: each tick may start
	// a discv5 round and a peer-exchange request, and refills the server's
	// budget.
	RoundInterval time.Duration
	// RefreshRounds: a discv5 round runs at least every RefreshRounds ticks
	// even when the peer manager has candidates enough, so the records
	// served to peer-exchange requesters stay fresh.
	RefreshRounds int
	// CandidatesPerRound bounds the distinct records one discv5 round
	// reads; MaxReadsPerRound the nodes it reads in all (lookups repeat
	// nodes; in a small network there are fewer than CandidatesPerRound);
	// LookupTimeout its time.
	CandidatesPerRound int
	MaxReadsPerRound   int
	LookupTimeout      time.Duration
	// MaxFound bounds the records kept (go-waku's ENR cache holds 1000);
	// beyond, the least recently seen is forgotten (the peer manager keeps
	// its own books).
	MaxFound int

	// PeerExchange serves peer exchange: the records found through discv5
	// (nwaku's --peer-exchange), at most ServePerRound requests per
	// RoundInterval (go-waku allows 1/s); more are answered 429, and
	// MaxServing streams at once (more are reset).
	PeerExchange  bool
	ServePerRound int
	MaxServing    int
	// PeerExchangeNode (a multiaddr with /p2p/<id>) is asked for records
	// when the peer manager has fewer dialable candidates than it misses
	// outbound relay peers (nwaku's --peer-exchange-node), at most once
	// every PXInterval; PXTimeout bounds one exchange.
	PeerExchangeNode string
	PXInterval       time.Duration
	PXTimeout        time.Duration
	// ServeTimeout bounds one inbound exchange.
	ServeTimeout time.Duration
	// RequestTimeout bounds the actor's requests to the peer manager.
	RequestTimeout time.Duration
}

// DefaultConfig: rounds every 5 s (nwaku's search loop pause), a refresh
// each minute, 16 records per round, 1,000 kept, 5 served requests per
// round, a peer-exchange request at most every 30 s.
func DefaultConfig() Config {
	return Config{
		RoundInterval:      5 * time.Second,
		RefreshRounds:      12,
		CandidatesPerRound: 16,
		MaxReadsPerRound:   64,
		LookupTimeout:      10 * time.Second,
		MaxFound:           1000,
		PeerExchange:       true,
		ServePerRound:      5,
		MaxServing:         8,
		PXInterval:         30 * time.Second,
		PXTimeout:          10 * time.Second,
		ServeTimeout:       5 * time.Second,
		RequestTimeout:     5 * time.Second,
	}
}

// Validate names every invalid field (the errors joined).
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("discovery: Config.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RoundInterval", c.RoundInterval}, {"LookupTimeout", c.LookupTimeout}, {"PXInterval", c.PXInterval},
		{"PXTimeout", c.PXTimeout}, {"ServeTimeout", c.ServeTimeout}, {"RequestTimeout", c.RequestTimeout}} {
		if d.v <= 0 {
			bad(d.name, "%s must be positive", d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"RefreshRounds", c.RefreshRounds}, {"CandidatesPerRound", c.CandidatesPerRound}, {"MaxFound", c.MaxFound},
		{"ServePerRound", c.ServePerRound}, {"MaxServing", c.MaxServing}} {
		if n.v < 1 {
			bad(n.name, "%d must be positive", n.v)
		}
	}
	if c.MaxReadsPerRound < c.CandidatesPerRound {
		bad("MaxReadsPerRound", "%d must be at least CandidatesPerRound (%d)", c.MaxReadsPerRound, c.CandidatesPerRound)
	}
	if c.CandidatesPerRound > peerexchange.MaxResponseRecords*4 {
		bad("CandidatesPerRound", "%d is more than %d", c.CandidatesPerRound, peerexchange.MaxResponseRecords*4)
	}
	for _, b := range c.BootstrapNodes {
		if _, err := enr.Parse(b); err != nil {
			bad("BootstrapNodes", "%.24q…: %v", b, err)
		}
	}
	if c.PeerExchangeNode != "" {
		if _, err := peer.AddrInfoFromString(c.PeerExchangeNode); err != nil {
			bad("PeerExchangeNode", "%q is not a multiaddr with /p2p/<id>: %v", c.PeerExchangeNode, err)
		}
	}
	return errors.Join(errs...)
}
