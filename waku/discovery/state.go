package discovery

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	"github.com/peermesh/peermesh/waku/enr"
	"github.com/peermesh/peermesh/waku/peerexchange"
)

// Discovery is the pure core of the discovery actor: which records to
// keep and hand to the peer manager, when to run a discv5 round or ask the
// peer-exchange node, what to serve. No goroutines, clock or I/O: now
// comes from the heartbeat's ticks, randomness from the injected source.
type Discovery struct {
	cfg  Config
	self peer.ID
	rng  *rand.Rand

	// found holds the kept records; ids is their order of arrival (for a
	// reproducible sample), both bounded by MaxFound.
	found map[peer.ID]*found
	ids   []peer.ID
	// bootstrap are the bootstrap records' peers, spared the shard check.
	bootstrap map[peer.ID]bool

	now            time.Time
	round          uint64
	lookupInFlight bool
	lastLookup     uint64 // the round of the last lookup started (0: none)
	tableSize      int
	pxInFlight     bool
	lastPX         time.Time
	pxRequests     uint64
	budget         int
	// hungry is what the last round's peer-manager status said.
	hungry bool
}

type found struct {
	rec enr.Record
	raw []byte
	// discv5 says the record came from discv5 (or a bootstrap record): only
	// those are served to peer-exchange requesters, as nwaku does.
	discv5 bool
	seen   time.Time
}

// New builds the core. self is the node's own peer id.
func New(cfg Config, self peer.ID, rng *rand.Rand) *Discovery {
	return &Discovery{cfg: cfg, self: self, rng: rng, found: map[peer.ID]*found{}, bootstrap: map[peer.ID]bool{},
		budget: cfg.ServePerRound}
}

// Start hands the bootstrap records that pass the checks (the shard check
// spared) to the peer manager, as nwaku's setupDiscoveryV5 does.
func (d *Discovery) Start(now time.Time) Effects {
	d.now = now
	var eff Effects
	for _, text := range d.cfg.BootstrapNodes {
		r, err := enr.Parse(text)
		if err != nil {
			eff.tally(SourceBootstrap, ResultInvalid)
			continue
		}
		d.bootstrap[r.PeerID] = true
		d.keep(&eff, SourceBootstrap, r, nil)
	}
	return eff
}

// Round is one heartbeat tick: it refills the server's budget, and starts
// a discv5 round when none is running and the node is hungry (fewer
// dialable candidates than missing outbound relay peers) or the last one
// is RefreshRounds old, and a peer-exchange request when hungry and the
// last one is PXInterval old. st is the peer manager's status, nil when it
// did not answer (then only the refresh runs).
func (d *Discovery) Round(now time.Time, st *pmv1.Status) Effects {
	d.now = now
	d.round++
	d.budget = d.cfg.ServePerRound
	var eff Effects
	hungry, missing := Hungry(st)
	d.hungry = hungry
	if d.cfg.Discv5 && !d.lookupInFlight && (hungry || d.lastLookup == 0 || d.round-d.lastLookup >= uint64(d.cfg.RefreshRounds)) {
		d.lookupInFlight, d.lastLookup = true, d.round
		eff.Lookup = &Lookup{Round: d.round, N: d.cfg.CandidatesPerRound}
	}
	if d.cfg.PeerExchangeNode != "" && hungry && !d.pxInFlight && (d.lastPX.IsZero() || now.Sub(d.lastPX) >= d.cfg.PXInterval) {
		d.pxInFlight, d.lastPX = true, now
		d.pxRequests++
		// Twice what is missing, so failing candidates leave enough; at
		// least nwaku's 5, at most what one response carries.
		n := min(max(2*missing, 5), peerexchange.MaxResponseRecords)
		eff.RequestPX = &RequestPX{Node: d.cfg.PeerExchangeNode, N: uint64(n)}
	}
	return eff
}

// Hungry says whether the peer manager has fewer dialable candidates (not
// connected, outside backoff) than it misses outbound relay peers, and how
// many it misses.
func Hungry(st *pmv1.Status) (hungry bool, missing int) {
	if st == nil || st.GetOutRelayPeers() >= st.GetOutRelayTarget() {
		return false, 0
	}
	missing = int(st.GetOutRelayTarget() - st.GetOutRelayPeers())
	return int(st.GetOutsideBackoff()) < missing, missing
}

// LookupDone takes the records a discv5 round read. A round other than
// the one running (a late answer after a restart) is ignored.
func (d *Discovery) LookupDone(round uint64, records [][]byte, tableSize int) Effects {
	var eff Effects
	if round != d.lastLookup {
		return eff
	}
	d.lookupInFlight = false
	d.tableSize = tableSize
	d.records(&eff, SourceDiscv5, records)
	return eff
}

// PXDone takes the records the peer-exchange node answered (none after an
// error).
func (d *Discovery) PXDone(records [][]byte) Effects {
	var eff Effects
	d.pxInFlight = false
	d.records(&eff, SourcePX, records)
	return eff
}

// records keeps the candidates among records; when the peer manager
// misses outbound peers and one of them is new, it is kicked.
func (d *Discovery) records(eff *Effects, source string, records [][]byte) {
	for _, raw := range records {
		r, err := enr.DecodeRLP(raw)
		if err != nil {
			eff.tally(source, ResultInvalid)
			continue
		}
		d.keep(eff, source, r, raw)
	}
	eff.Kick = d.hungry && slices.ContainsFunc(eff.Tallies, func(t Tally) bool { return t.Result == ResultAdded })
}

// Check says why a record is not a candidate ("" when it is): our own,
// not a Waku node (RFC 31 asks discv5 users to drop records without
// waku2), another cluster, none of our shards (spared for bootstrap
// records), or nothing to dial.
func (d *Discovery) Check(r enr.Record) string {
	switch {
	case r.PeerID == d.self:
		return ResultSelf
	case r.Waku2 == 0:
		return ResultNotWaku
	case r.HasShards && r.Cluster != d.cfg.Cluster:
		return ResultOtherCluster
	case len(d.cfg.Shards) > 0 && !d.bootstrap[r.PeerID] && !r.HasShards:
		return ResultNoShards
	case len(d.cfg.Shards) > 0 && !d.bootstrap[r.PeerID] && !slices.ContainsFunc(r.Shards, func(s uint16) bool { return slices.Contains(d.cfg.Shards, s) }):
		return ResultOtherShards
	case len(r.Addrs) == 0:
		return ResultNoAddress
	}
	return ""
}

// keep checks a record, keeps it (a newer sequence number replaces the
// kept one) and hands it to the peer manager. A known record is handed
// again: the peer manager ignores unchanged information, and may have
// forgotten the peer since.
func (d *Discovery) keep(eff *Effects, source string, r enr.Record, raw []byte) {
	if why := d.Check(r); why != "" {
		eff.tally(source, why)
		return
	}
	if raw == nil {
		raw = r.Raw
	}
	viaDiscv5 := source != SourcePX
	f := d.found[r.PeerID]
	switch {
	case f == nil:
		if len(d.ids) >= d.cfg.MaxFound {
			d.forgetOldest()
		}
		f = &found{rec: r, raw: raw}
		d.found[r.PeerID] = f
		d.ids = append(d.ids, r.PeerID)
		eff.tally(source, ResultAdded)
	case r.Seq > f.rec.Seq:
		f.rec, f.raw = r, raw
		eff.tally(source, ResultKnown)
	default:
		eff.tally(source, ResultKnown)
	}
	f.discv5 = f.discv5 || viaDiscv5
	f.seen = d.now
	origin := peerv1.Origin_ORIGIN_DISCV5
	if !viaDiscv5 {
		origin = peerv1.Origin_ORIGIN_PX
	}
	info := &pmv1.PeerInfo{PeerId: []byte(r.PeerID)}
	for _, a := range f.rec.Addrs {
		info.Addresses = append(info.Addresses, a.Bytes())
	}
	if r.HasShards {
		for _, s := range f.rec.Shards {
			info.Shards = append(info.Shards, uint32(s))
		}
	}
	eff.AddPeers = append(eff.AddPeers, &pmv1.AddPeer{Peer: info, Origin: origin})
}

// forgetOldest drops the least recently seen record (the first of them in
// arrival order).
func (d *Discovery) forgetOldest() {
	oldest := 0
	for i, id := range d.ids {
		if d.found[id].seen.Before(d.found[d.ids[oldest]].seen) {
			oldest = i
		}
	}
	delete(d.found, d.ids[oldest])
	d.ids = slices.Delete(d.ids, oldest, oldest+1)
}

// ServePX answers a peer-exchange request of requester for n records: a
// random sample of the records found through discv5 (never the
// requester's own), at most MaxResponseRecords; 429 when this round's
// budget is spent.
func (d *Discovery) ServePX(requester peer.ID, n uint64) (records [][]byte, status uint32, desc string) {
	if !d.cfg.PeerExchange {
		return nil, peerexchange.StatusServiceUnavailable, "peer exchange is off"
	}
	if d.budget <= 0 {
		return nil, peerexchange.StatusTooManyRequests, "rate limited: try again later"
	}
	d.budget--
	var pool [][]byte
	for _, id := range d.ids {
		if f := d.found[id]; f.discv5 && id != requester {
			pool = append(pool, f.raw)
		}
	}
	k := min(int(min(n, uint64(peerexchange.MaxResponseRecords))), len(pool))
	// A partial Fisher–Yates shuffle: the first k are a uniform sample.
	for i := range k {
		j := i + d.rng.IntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	return pool[:k], peerexchange.StatusSuccess, ""
}

// Found is the number of kept records; Servable those served to
// peer-exchange requesters.
func (d *Discovery) Found() (found, servable int) {
	for _, f := range d.found {
		if f.discv5 {
			servable++
		}
	}
	return len(d.found), servable
}

// Status is the core's part of DiscoveryStatus.
func (d *Discovery) Status() (rounds, pxRequests uint64, tableSize int, lookupInFlight, pxInFlight bool) {
	return d.round, d.pxRequests, d.tableSize, d.lookupInFlight, d.pxInFlight
}
