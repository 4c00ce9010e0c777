package discovery

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/seedrand"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	discoveryv1 "github.com/peermesh/peermesh/messages/discovery/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	"github.com/peermesh/peermesh/waku/peerexchange"
)

// RoundTick is the name of the actor's heartbeat registration.
const RoundTick = "discovery.round"

// Props builds the discovery actor; an invalid cfg, or Discv5 without a
// Finder, makes Props fail.
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) (*actor.Props, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Discv5 && deps.Finder == nil {
		return nil, errNoFinder
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		deps.Logger.Warn("discovery metrics not exported", "err", err)
	}
	return actorkit.Props(func() actor.Actor { return &discoveryActor{cfg: cfg, deps: deps, m: m} }, opts...), nil
}

type discoveryActor struct {
	cfg  Config
	deps Deps
	m    *metrics
	core *Discovery
	// serving counts the inbound peer-exchange streams being answered; the
	// stream goroutines touch it.
	serving atomic.Int64
	// pending is the peer-exchange request waiting for its dial.
	pending *RequestPX
	ctx     context.Context
	cancel  context.CancelFunc
}

func (a *discoveryActor) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *actor.Started:
		a.start(c)
	case *actor.Stopping:
		if a.deps.Host != nil && a.cfg.PeerExchange {
			a.deps.Host.RemoveStreamHandler(peerexchange.ProtocolID)
		}
		a.cancel()
	case *heartbeatv1.Tick:
		a.round(c, msg.GetNow().AsTime())
	case *discoveryv1.RecordsFound:
		if msg.GetError() != "" {
			a.m.discv5Errors.WithLabelValues("lookup").Inc()
			a.deps.Logger.Debug("discv5 round failed", "round", msg.GetRound(), "err", msg.GetError())
		}
		a.m.table.Set(float64(msg.GetTableSize()))
		a.deps.Logger.Debug("discv5 round", "round", msg.GetRound(), "records", len(msg.GetRecords()), "table", msg.GetTableSize())
		a.apply(c, a.core.LookupDone(msg.GetRound(), msg.GetRecords(), int(msg.GetTableSize())))
	case *pmv1.NodesConnected:
		a.dialed(c, msg)
	case *discoveryv1.PeerExchangeCompleted:
		if msg.GetError() != "" {
			a.m.pxErrors.WithLabelValues("request").Inc()
			a.deps.Logger.Info("peer exchange request failed", "node", a.cfg.PeerExchangeNode, "err", msg.GetError())
		} else {
			a.deps.Logger.Debug("peer exchange answered", "node", a.cfg.PeerExchangeNode, "records", len(msg.GetRecords()))
		}
		a.apply(c, a.core.PXDone(msg.GetRecords()))
	case *discoveryv1.ServePeerExchange:
		records, status, desc := a.core.ServePX(peer.ID(msg.GetRequester()), msg.GetNumPeers())
		c.Respond(&discoveryv1.PeerExchangeAnswer{Records: records, StatusCode: status, StatusDesc: desc})
	case *pmv1.PeerAdded:
		if msg.GetError() != "" {
			a.deps.Logger.Debug("found peer not added", "peer", peer.ID(msg.GetPeerId()), "err", msg.GetError())
		}
	case *discoveryv1.GetDiscoveryStatus:
		c.Respond(a.status())
	}
}

var errNoFinder = errors.New("discovery: Config.Discv5 needs Deps.Finder")

func (a *discoveryActor) start(c actor.Context) {
	a.ctx, a.cancel = context.WithCancel(context.Background())
	rng := a.deps.Rand
	if rng == nil {
		rng = seedrand.New()
	}
	self := peer.ID("")
	if a.deps.Host != nil {
		self = a.deps.Host.ID()
	}
	a.core = New(a.cfg, self, rng)
	if a.deps.Host != nil && a.cfg.PeerExchange {
		a.deps.Host.SetStreamHandler(peerexchange.ProtocolID, a.serveStream(c.ActorSystem().Root, c.Self()))
	}
	if a.deps.Heartbeat != nil {
		c.Request(a.deps.Heartbeat, &heartbeatv1.Register{Name: RoundTick, Interval: durationpb.New(a.cfg.RoundInterval)})
	}
	// The bootstrap records reach the peer manager before the first round,
	// whose clock is the heartbeat's; Start only needs a time for "seen".
	a.apply(c, a.core.Start(time.Time{}))
	if a.cfg.Discv5 {
		a.deps.Logger.Info("discv5 started", "enr", a.deps.Finder.ENR(), "bootstrap_nodes", len(a.cfg.BootstrapNodes))
	}
}

// round asks the peer manager how hungry it is, then runs the core's round.
func (a *discoveryActor) round(c actor.Context, now time.Time) {
	if a.deps.PeerManager == nil {
		a.apply(c, a.core.Round(now, nil))
		return
	}
	actorkit.Ask(c, a.deps.PeerManager, &pmv1.GetStatus{}, a.cfg.RequestTimeout, func(res any, err error) {
		st, _ := res.(*pmv1.Status)
		if err != nil {
			a.deps.Logger.Debug("peer manager status not answered", "err", err)
		}
		a.apply(c, a.core.Round(now, st))
	})
}

// apply executes a core call's effects in their order.
func (a *discoveryActor) apply(c actor.Context, eff Effects) {
	for _, add := range eff.AddPeers {
		if a.deps.PeerManager != nil {
			c.Request(a.deps.PeerManager, add)
		}
	}
	if eff.Kick && a.deps.PeerManager != nil {
		c.Send(a.deps.PeerManager, &pmv1.ConnectivityKick{})
	}
	a.m.count(eff.Tallies)
	found, servable := a.core.Found()
	a.m.found.Set(float64(found))
	a.m.pxCached.Set(float64(servable))
	if l := eff.Lookup; l != nil {
		a.m.rounds.WithLabelValues("discv5").Inc()
		self, root, ctx, finder := c.Self(), c.ActorSystem().Root, a.ctx, a.deps.Finder
		n, maxReads, timeout := l.N, a.cfg.MaxReadsPerRound, a.cfg.LookupTimeout
		go func() {
			records, table, err := finder.Find(ctx, n, maxReads, timeout)
			out := &discoveryv1.RecordsFound{Records: records, Round: l.Round, TableSize: uint32(table)}
			if err != nil {
				out.Error = err.Error()
			}
			root.Send(self, out)
		}()
	}
	if r := eff.RequestPX; r != nil {
		a.m.rounds.WithLabelValues("px").Inc()
		a.requestPX(c, r)
	}
}

// requestPX connects to the peer-exchange node through the peer manager
// and the dial pool (ConnectToNodes, source service); dialed continues.
// The dial opens no stream of peer exchange to prove support (as
// DialPeerRequest would): go-waku reads such an empty stream as a failed
// request, and it spends the one request per second go-waku allows a peer.
func (a *discoveryActor) requestPX(c actor.Context, r *RequestPX) {
	if _, err := peer.AddrInfoFromString(r.Node); err != nil || a.deps.PeerManager == nil {
		c.Send(c.Self(), &discoveryv1.PeerExchangeCompleted{Error: "peer exchange node not usable: " + r.Node})
		return
	}
	a.pending = r
	c.Request(a.deps.PeerManager, &pmv1.ConnectToNodes{Nodes: []string{r.Node},
		Source: dialerv1.DialSource_DIAL_SOURCE_SERVICE, Timeout: durationpb.New(a.cfg.PXTimeout)})
}

// dialed runs the pending peer-exchange request on a goroutine once the
// pool connected to the node, which reports back as PeerExchangeCompleted.
func (a *discoveryActor) dialed(c actor.Context, msg *pmv1.NodesConnected) {
	r := a.pending
	if r == nil {
		return
	}
	a.pending = nil
	res := msg.GetResults()
	if len(res) != 1 || !res[0].GetConnected() || a.deps.Host == nil {
		why := msg.GetError()
		if len(res) == 1 {
			why = res[0].GetError()
		}
		c.Send(c.Self(), &discoveryv1.PeerExchangeCompleted{Error: "connect " + r.Node + ": not connected " + why})
		return
	}
	id := peer.ID(res[0].GetPeerId())
	self, root, ctx, h, timeout := c.Self(), c.ActorSystem().Root, a.ctx, a.deps.Host, a.cfg.PXTimeout
	go func() {
		resp, err := peerexchange.Request(ctx, h, id, r.N, timeout)
		out := &discoveryv1.PeerExchangeCompleted{PeerId: []byte(id), Records: resp.Records}
		if err != nil {
			out.Error = err.Error()
		}
		root.Send(self, out)
	}()
}

// serveStream answers inbound peer-exchange streams on their goroutines,
// asking the actor for the records; at most MaxServing at once.
func (a *discoveryActor) serveStream(root *actor.RootContext, self *actor.PID) network.StreamHandler {
	return func(s network.Stream) {
		if a.serving.Add(1) > int64(a.cfg.MaxServing) {
			a.serving.Add(-1)
			a.m.served.WithLabelValues("busy").Inc()
			_ = s.Reset()
			return
		}
		a.m.serving.Inc()
		defer func() { a.serving.Add(-1); a.m.serving.Dec() }()
		requester := s.Conn().RemotePeer()
		result := "ok"
		sent, err := peerexchange.Serve(s, func(n uint64) ([][]byte, uint32, string) {
			res, err := actorkit.Request(root, self, &discoveryv1.ServePeerExchange{Requester: []byte(requester), NumPeers: n},
				a.cfg.RequestTimeout).Result()
			ans, ok := res.(*discoveryv1.PeerExchangeAnswer)
			if err != nil || !ok {
				return nil, peerexchange.StatusServiceUnavailable, "discovery did not answer"
			}
			if ans.GetStatusCode() == peerexchange.StatusTooManyRequests {
				result = "rate_limited"
			}
			return ans.GetRecords(), ans.GetStatusCode(), ans.GetStatusDesc()
		}, a.cfg.ServeTimeout)
		switch {
		case err != nil && sent == 0 && result == "ok":
			result = "bad_request"
			a.m.pxErrors.WithLabelValues("serve").Inc()
			a.deps.Logger.Debug("peer exchange request not answered", "peer", requester, "err", err)
		case err != nil:
			result = "failed"
			a.m.pxErrors.WithLabelValues("serve").Inc()
		}
		a.m.served.WithLabelValues(result).Inc()
		a.m.pxSent.Add(float64(sent))
	}
}

func (a *discoveryActor) status() *discoveryv1.DiscoveryStatus {
	found, servable := a.core.Found()
	rounds, px, table, lookup, pxIn := a.core.Status()
	st := &discoveryv1.DiscoveryStatus{Discv5: a.cfg.Discv5, Found: uint32(found), MaxFound: uint32(a.cfg.MaxFound),
		Servable: uint32(servable), TableSize: uint32(table), Rounds: rounds, PxRequests: px, LookupInFlight: lookup, PxInFlight: pxIn}
	if a.deps.Finder != nil {
		st.Enr = a.deps.Finder.ENR()
	}
	return st
}
