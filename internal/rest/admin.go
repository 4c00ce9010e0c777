package rest

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Protocol ids nwaku counts in /admin/v1/peers/stats and lists in
// /admin/v1/peers/service (its service codecs, relay and peer exchange
// included).
var serviceCodecs = []string{
	"/vac/waku/relay/2.0.0",
	"/vac/waku/filter-subscribe/2.0.0-beta1",
	"/vac/waku/filter-push/2.0.0-beta1",
	"/vac/waku/store-query/3.0.0",
	"/vac/waku/store/2.0.0-beta4",
	"/vac/waku/lightpush/3.0.0",
	"/vac/waku/lightpush/2.0.0-beta1",
	"/vac/waku/peer-exchange/2.0.0-alpha1",
	"/vac/waku/reconciliation/1.0.0",
	"/vac/waku/transfer/1.0.0",
}

// shardParam reads the {shardId} of a route (400 when it is not a shard).
func shardParam(r *http.Request) (uint16, error) {
	n, err := strconv.ParseUint(r.PathValue("shardId"), 10, 16)
	if err != nil || n >= 1024 {
		return 0, httpError(http.StatusBadRequest, "invalid shardId %q: a shard is 0-1023", r.PathValue("shardId"))
	}
	return uint16(n), nil
}

// connectedPeers is nwaku's /admin/v1/peers/connected (and /on/{shardId}:
// those serving the shard).
func (s *Server) connectedPeers(w http.ResponseWriter, r *http.Request) error {
	onShard := r.PathValue("shardId") != ""
	var shard uint16
	if onShard {
		var err error
		if shard, err = shardParam(r); err != nil {
			return err
		}
	}
	ps, err := s.node.Peers(r.Context())
	if err != nil {
		return err
	}
	out := []wakuPeer{}
	for _, p := range ps {
		if p.GetConnectedness() == "connected" && (!onShard || slices.Contains(p.GetShards(), uint32(shard))) {
			out = append(out, toWakuPeer(p))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// servicePeers is nwaku's /admin/v1/peers/service: the peers known to
// serve one of its service protocols, with those protocols.
func (s *Server) servicePeers(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.node.Peers(r.Context())
	if err != nil {
		return err
	}
	out := []wakuPeer{}
	for _, p := range ps {
		var served []string
		for _, c := range p.GetProtocols() {
			if slices.Contains(serviceCodecs, c) {
				served = append(served, c)
			}
		}
		if len(served) > 0 {
			wp := toWakuPeer(p)
			wp.Protocols = served
			out = append(out, wp)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// onePeer is nwaku's /admin/v1/peer/{peerId}: 400 for an invalid id, 404
// for a peer not in the store.
func (s *Server) onePeer(w http.ResponseWriter, r *http.Request) error {
	id, err := peer.Decode(r.PathValue("peerId"))
	if err != nil {
		return httpError(http.StatusBadRequest, "Invalid argument: %v", err)
	}
	ps, err := s.node.Peers(r.Context())
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.GetPeerId() == id.String() {
			writeJSON(w, http.StatusOK, toWakuPeer(p))
			return nil
		}
	}
	return httpError(http.StatusNotFound, "Peer with ID %s not found", id)
}

// peerStats is nwaku's /admin/v1/peers/stats: counts by connectedness,
// relay and mesh peers by shard, and peers by protocol. Unlike nwaku's,
// "Total relay peers" and "Total mesh peers" count peers (nwaku counts the
// shards).
func (s *Server) peerStats(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.node.Peers(r.Context())
	if err != nil {
		return err
	}
	mesh, err := s.node.Mesh(r.Context())
	if err != nil {
		return err
	}
	byConn := map[string]int{"Connected": 0, "NotConnected": 0, "CannotConnect": 0, "CanConnect": 0}
	byProto := map[string]int{}
	for _, c := range serviceCodecs {
		byProto[c] = 0
	}
	for _, p := range ps {
		byConn[connectedName(p.GetConnectedness())]++
		for _, c := range p.GetProtocols() {
			if _, ok := byProto[c]; ok {
				byProto[c]++
			}
		}
	}
	relay, meshPeers := map[string]int{}, map[string]int{}
	totalRelay, totalMesh := 0, 0
	for _, t := range mesh {
		key := t.GetTopic()
		if sh := shardOf(key); sh != nil {
			key = strconv.FormatUint(*sh, 10)
		}
		relay[key], meshPeers[key] = len(t.GetTopicPeerIds()), len(t.GetPeerIds())
		totalRelay += len(t.GetTopicPeerIds())
		totalMesh += len(t.GetPeerIds())
	}
	relay["Total relay peers"], meshPeers["Total mesh peers"] = totalRelay, totalMesh
	writeJSON(w, http.StatusOK, map[string]map[string]int{
		"Sum":              {"Total peers": len(ps)},
		"By Connectedness": byConn,
		"Relay peers":      relay,
		"Mesh peers":       meshPeers,
		"By Protocols":     byProto,
	})
	return nil
}

// setLogLevel is nwaku's POST /admin/v1/log-level/{logLevel}: the node's
// log level from now on. nwaku's names are taken too (TRACE is debug,
// NOTICE info, FATAL error); 503 when the server has no level to set.
func (s *Server) setLogLevel(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.LogLevel == nil {
		return httpError(http.StatusServiceUnavailable, "dynamic log level is not enabled in this server")
	}
	name := strings.ToLower(strings.TrimSpace(r.PathValue("logLevel")))
	level, ok := map[string]slog.Level{"trace": slog.LevelDebug, "debug": slog.LevelDebug, "info": slog.LevelInfo,
		"notice": slog.LevelInfo, "warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
		"fatal": slog.LevelError}[name]
	if !ok {
		return httpError(http.StatusBadRequest, "Invalid log-level: %s. Please specify one of TRACE, DEBUG, INFO, NOTICE, WARN, ERROR or FATAL", r.PathValue("logLevel"))
	}
	s.cfg.LogLevel.Set(level)
	s.log.Info("log level set through REST", "level", level.String())
	writeOK(w)
	return nil
}
