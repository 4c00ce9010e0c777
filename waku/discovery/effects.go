package discovery

import (
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

// Sources of records, the label of the records metric.
const (
	SourceDiscv5    = "discv5"
	SourceBootstrap = "bootstrap"
	SourcePX        = "px"
)

// Results of a record, the other label of the records metric.
const (
	ResultAdded        = "added"         // handed to the peer manager (new to us)
	ResultKnown        = "known"         // handed again (already kept)
	ResultInvalid      = "invalid"       // undecodable or badly signed
	ResultSelf         = "self"          // our own record
	ResultNotWaku      = "not_waku"      // no or zero waku2 (RFC 31: dropped)
	ResultOtherCluster = "other_cluster" // rs names another cluster: never dialed
	ResultNoShards     = "no_shards"     // no rs/rsv while we relay shards
	ResultOtherShards  = "other_shards"  // none of our shards
	ResultNoAddress    = "no_address"    // nothing to dial
)

// Effects are what a core call asks the adapter to do, in this order: hand
// peers to the peer manager (and kick its connectivity round), start a
// discv5 round, start a peer-exchange request; Tallies are counted in the
// metrics.
type Effects struct {
	AddPeers []*pmv1.AddPeer
	// Lookup, when set, starts discv5 round Round reading at most N
	// records.
	Lookup *Lookup
	// RequestPX, when set, dials Node through the pool and asks it for N
	// records.
	RequestPX *RequestPX
	// Kick asks the peer manager for a connectivity round now: it misses
	// outbound relay peers and new candidates just arrived (otherwise they
	// wait for its next tick).
	Kick    bool
	Tallies []Tally
}

// Lookup is one discv5 round to run.
type Lookup struct {
	Round uint64
	N     int
}

// RequestPX is one peer-exchange request to make.
type RequestPX struct {
	Node string
	N    uint64
}

// Tally counts N records of Source with Result.
type Tally struct {
	Source, Result string
	N              int
}

func (e *Effects) tally(source, result string) {
	for i := range e.Tallies {
		if e.Tallies[i].Source == source && e.Tallies[i].Result == result {
			e.Tallies[i].N++
			return
		}
	}
	e.Tallies = append(e.Tallies, Tally{Source: source, Result: result, N: 1})
}
