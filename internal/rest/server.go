package rest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/message"
	"github.com/peermesh/peermesh/waku/sharding"
)

// Node is what the handlers need from the node's embedding facade.
type Node interface {
	Info(ctx context.Context) (*apiv1.Info, error)
	Peers(ctx context.Context) ([]*apiv1.Peer, error)
	// AddPeer stores and dials a peer given as a multiaddr with /p2p/<id>.
	AddPeer(ctx context.Context, multiaddr string) (peerID string, err error)
	Mesh(ctx context.Context) ([]*apiv1.TopicMesh, error)
	Scores(ctx context.Context) ([]*apiv1.PeerScore, error)
	Publish(ctx context.Context, topic string, data []byte) (messageID []byte, err error)
}

// Relay is the REST side of topic subscriptions: subscribing makes the relay
// cache a subscriber of the topic so GET /relay/v1/messages can drain it.
type Relay interface {
	Subscribe(ctx context.Context, topic string) error
	Unsubscribe(ctx context.Context, topic string) error
	// Drain returns and clears the topic's backlog; ok is false when the
	// topic is not subscribed through the cache.
	Drain(ctx context.Context, topic string) (msgs []*apiv1.MessageReceived, ok bool, err error)
	// SubscribeContent, UnsubscribeContent and DrainContent do the same
	// for a content topic on its shard (autosharding routes).
	SubscribeContent(ctx context.Context, contentTopic, pubsubTopic string) error
	UnsubscribeContent(ctx context.Context, contentTopic string) error
	DrainContent(ctx context.Context, contentTopic string) (msgs []*apiv1.MessageReceived, ok bool, err error)
}

// Server holds the handlers. Build it with New and serve Handler().
type Server struct {
	cfg     Config
	node    Node
	relay   Relay
	version string
	log     *slog.Logger
	mux     *http.ServeMux
	origins []*regexp.Regexp
}

// New builds the REST server. version is what /debug/v1/version answers.
func New(cfg Config, node Node, relay Relay, version string, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, node: node, relay: relay, version: version, log: log, mux: http.NewServeMux()}
	for _, p := range cfg.AllowOrigins {
		re, err := originPattern(p)
		if err != nil {
			return nil, fmt.Errorf("rest: allowed origin %q: %w", p, err)
		}
		s.origins = append(s.origins, re)
	}
	type route struct {
		pattern string
		h       func(http.ResponseWriter, *http.Request) error
	}
	routes := []route{
		{"GET /health", s.health},
		{"GET /debug/v1/info", s.info},
		{"GET /info", s.info},
		{"GET /debug/v1/version", s.versionText},
		{"GET /version", s.versionText},
		{"POST /relay/v1/subscriptions", s.subscribe},
		{"DELETE /relay/v1/subscriptions", s.unsubscribe},
		{"POST /relay/v1/messages/{topic...}", s.publish},
		{"GET /relay/v1/messages/{topic...}", s.messages},
		{"POST /relay/v1/auto/subscriptions", s.autoSubscribe},
		{"DELETE /relay/v1/auto/subscriptions", s.autoUnsubscribe},
		{"POST /relay/v1/auto/messages", s.autoPublish},
		{"GET /relay/v1/auto/messages/{contentTopic...}", s.autoMessages},
	}
	// The admin routes exist only with --rest-admin, as in nwaku.
	if cfg.Admin {
		routes = append(routes, []route{
			{"GET /admin/v1/peers", s.peers},
			{"POST /admin/v1/peers", s.addPeers},
			{"GET /admin/v1/peers/connected", s.connectedPeers},
			{"GET /admin/v1/peers/connected/on/{shardId}", s.connectedPeers},
			{"GET /admin/v1/peers/relay", s.relayPeers},
			{"GET /admin/v1/peers/relay/on/{shardId}", s.relayPeers},
			{"GET /admin/v1/peers/mesh", s.mesh},
			{"GET /admin/v1/peers/mesh/on/{shardId}", s.mesh},
			{"GET /admin/v1/peers/service", s.servicePeers},
			{"GET /admin/v1/peers/stats", s.peerStats},
			{"GET /admin/v1/peer/{peerId}", s.onePeer},
			{"GET /admin/v1/scores", s.scores},
			{"POST /admin/v1/log-level/{logLevel}", s.setLogLevel},
		}...)
	}
	for _, r := range routes {
		s.mux.Handle(r.pattern, s.wrap(r.h))
	}
	return s, nil
}

// Handler serves every route, with the CORS headers of AllowOrigins. Errors
// are plain text, as nwaku's (the mux's own 404 and 405 are too).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && len(s.cfg.AllowOrigins) > 0 {
			allowed := s.originAllowed(origin)
			if allowed {
				h := w.Header()
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type")
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				if allowed {
					w.WriteHeader(http.StatusNoContent)
				} else {
					writeText(w, http.StatusForbidden, "origin "+origin+" is not allowed (--rest-allow-origin)")
				}
				return
			}
		}
		s.mux.ServeHTTP(w, r)
	})
}

// originAllowed matches origin against AllowOrigins, whose patterns take *
// (any run of characters) and ? (one character), as nwaku's do.
func (s *Server) originAllowed(origin string) bool {
	for _, re := range s.origins {
		if re.MatchString(origin) {
			return true
		}
	}
	return false
}

// originPattern compiles an AllowOrigins pattern.
func originPattern(p string) (*regexp.Regexp, error) {
	q := regexp.QuoteMeta(p)
	q = strings.ReplaceAll(q, `\*`, ".*")
	q = strings.ReplaceAll(q, `\?`, ".")
	return regexp.Compile("^" + q + "$")
}

// statusError is an error with the HTTP status it should be answered with.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

func httpError(code int, format string, args ...any) error {
	return &statusError{code: code, msg: fmt.Sprintf(format, args...)}
}

// wrap bounds the body and the request time, and turns a returned error into
// a plain-text error response (nwaku's: text/plain, 4xx or 5xx).
func (s *Server) wrap(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		err := h(w, r.WithContext(ctx))
		if err == nil {
			return
		}
		code := http.StatusInternalServerError
		var se *statusError
		if errors.As(err, &se) {
			code = se.code
		} else if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		if code >= 500 {
			s.log.Warn("rest request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
		}
		writeText(w, code, err.Error())
	})
}

// writeText answers code with a plain-text body.
func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads one JSON value from the size-limited body.
func decode(r *http.Request, v any) error {
	err := json.NewDecoder(r.Body).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return httpError(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return httpError(http.StatusBadRequest, "empty request body")
	case err != nil:
		return httpError(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

// decodeList reads a JSON array of strings of at most MaxItemsPerRequest.
func (s *Server) decodeList(r *http.Request, what string) ([]string, error) {
	var list []string
	if err := decode(r, &list); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, httpError(http.StatusBadRequest, "the body must be a non-empty JSON array of %s", what)
	}
	if len(list) > s.cfg.MaxItemsPerRequest {
		return nil, httpError(http.StatusBadRequest, "%d %s given, at most %d per request", len(list), what, s.cfg.MaxItemsPerRequest)
	}
	return list, nil
}

// health is nwaku's /health: the node is "Ready" once it serves; Relay is
// "Ready" while one of its topics has a connected subscribed peer (nwaku's
// getConnectedPubSubPeers, not the mesh, which empties and refills on quiet
// topics), "Not Ready" with desc "No connected peers" otherwise, and "Not
// Mounted" without relay.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	relay := map[string]string{"Relay": "Not Mounted"}
	info, err := s.node.Info(r.Context())
	if err != nil {
		return err
	}
	if info.GetRelayReady() {
		relay = map[string]string{"Relay": "Not Ready", "desc": "No connected peers"}
		mesh, err := s.node.Mesh(r.Context())
		if err != nil {
			return err
		}
		for _, t := range mesh {
			if len(t.GetTopicPeerIds()) > 0 {
				relay = map[string]string{"Relay": "Ready"}
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodeHealth": "Ready", "protocolsHealth": []map[string]string{relay}})
	return nil
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	info, err := s.node.Info(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"listenAddresses": nonNil(info.GetListenAddresses()),
		"enrUri":          info.GetEnrUri(),
		"peerId":          info.GetPeerId(),
		"pubsubTopics":    nonNil(info.GetTopics()),
		"profile":         info.GetProfile(),
	})
	return nil
}

// versionText answers as nwaku does: the version as plain text.
func (s *Server) versionText(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, s.version)
	return err
}

// wakuPeer is nwaku's WakuPeer JSON.
type wakuPeer struct {
	Multiaddr string   `json:"multiaddr"`
	PeerID    string   `json:"peerId"`
	Protocols []string `json:"protocols"`
	Shards    []uint32 `json:"shards"`
	Connected string   `json:"connected"`
	Direction string   `json:"direction,omitempty"`
	Agent     string   `json:"agent"`
	Origin    string   `json:"origin"`
	Score     float64  `json:"score"`
	// Beyond nwaku's fields: dials that failed in a row, the last one's
	// time, and when the node will dial the peer next (RFC 3339; "never"
	// once it gave up — POST /admin/v1/peers with the peer resets that;
	// absent: at the next round).
	FailedAttempts uint32 `json:"failedAttempts"`
	LastFailure    string `json:"lastFailure,omitempty"`
	NextDial       string `json:"nextDial,omitempty"`
}

func toWakuPeer(p *apiv1.Peer) wakuPeer {
	addr := ""
	if as := p.GetAddresses(); len(as) > 0 {
		addr = as[0] + "/p2p/" + p.GetPeerId()
	}
	w := wakuPeer{
		Multiaddr: addr, PeerID: p.GetPeerId(), Protocols: nonNil(p.GetProtocols()), Shards: nonNil(p.GetShards()),
		Connected: connectedName(p.GetConnectedness()), Direction: p.GetDirection(), Agent: p.GetAgent(),
		Origin: p.GetOrigin(), Score: p.GetScore(), FailedAttempts: p.GetFailedAttempts(),
	}
	if t := p.GetLastFailure(); t != nil {
		w.LastFailure = t.AsTime().UTC().Format(time.RFC3339)
	}
	switch {
	case p.GetDialExcluded():
		w.NextDial = "never"
	case p.GetNextDial() != nil:
		w.NextDial = p.GetNextDial().AsTime().UTC().Format(time.RFC3339)
	}
	return w
}

// connectedName maps our connectedness to nwaku's Connectedness names.
func connectedName(c string) string {
	switch c {
	case "connected":
		return "Connected"
	case "can_connect":
		return "CanConnect"
	case "cannot_connect":
		return "CannotConnect"
	}
	return "NotConnected"
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.node.Peers(r.Context())
	if err != nil {
		return err
	}
	out := make([]wakuPeer, 0, len(ps))
	for _, p := range ps {
		out = append(out, toWakuPeer(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addPeers is nwaku's POST /admin/v1/peers: a JSON array of multiaddrs, each
// stored and dialled, answered "OK"; the first failure answers 400.
func (s *Server) addPeers(w http.ResponseWriter, r *http.Request) error {
	addrs, err := s.decodeList(r, "multiaddrs")
	if err != nil {
		return err
	}
	for _, a := range addrs {
		ma, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return httpError(http.StatusBadRequest, "bad multiaddr %q: %v", a, err)
		}
		if _, err := ma.ValueForProtocol(multiaddr.P_P2P); err != nil {
			return httpError(http.StatusBadRequest, "multiaddr %q has no /p2p/<peer id>", a)
		}
	}
	for _, a := range addrs {
		if _, err := s.node.AddPeer(r.Context(), a); err != nil {
			return httpError(http.StatusBadRequest, "failed to connect to %s: %v", a, err)
		}
	}
	writeOK(w)
	return nil
}

// mesh is nwaku's /admin/v1/peers/mesh: the mesh peers of each joined
// topic; /on/{shardId} answers one object for that shard of our cluster.
func (s *Server) mesh(w http.ResponseWriter, r *http.Request) error {
	return s.peersOfShards(w, r, func(t *apiv1.TopicMesh) []string { return t.GetPeerIds() })
}

// relayPeers is nwaku's /admin/v1/peers/relay: every connected peer
// subscribed to each joined topic.
func (s *Server) relayPeers(w http.ResponseWriter, r *http.Request) error {
	return s.peersOfShards(w, r, func(t *apiv1.TopicMesh) []string { return t.GetTopicPeerIds() })
}

// shardPeers is nwaku's PeersOfShard, with the pubsub topic (a named topic
// has no shard).
type shardPeers struct {
	PubsubTopic string     `json:"pubsubTopic"`
	Shard       *uint64    `json:"shard,omitempty"`
	Peers       []wakuPeer `json:"peers"`
}

func (s *Server) peersOfShards(w http.ResponseWriter, r *http.Request, idsOf func(*apiv1.TopicMesh) []string) error {
	mesh, err := s.node.Mesh(r.Context())
	if err != nil {
		return err
	}
	ps, err := s.node.Peers(r.Context())
	if err != nil {
		return err
	}
	byID := make(map[string]*apiv1.Peer, len(ps))
	for _, p := range ps {
		byID[p.GetPeerId()] = p
	}
	of := func(t *apiv1.TopicMesh) shardPeers {
		sp := shardPeers{PubsubTopic: t.GetTopic(), Shard: shardOf(t.GetTopic()), Peers: []wakuPeer{}}
		for _, id := range idsOf(t) {
			p, ok := byID[id]
			if !ok {
				p = &apiv1.Peer{PeerId: id, Connectedness: "connected"}
			}
			sp.Peers = append(sp.Peers, toWakuPeer(p))
		}
		return sp
	}
	if r.PathValue("shardId") != "" {
		shard, err := shardParam(r)
		if err != nil {
			return err
		}
		topic := sharding.Shard{Cluster: s.cfg.ClusterID, Index: shard}.Topic()
		for _, t := range mesh {
			if t.GetTopic() == topic {
				writeJSON(w, http.StatusOK, of(t))
				return nil
			}
		}
		n := uint64(shard)
		writeJSON(w, http.StatusOK, shardPeers{PubsubTopic: topic, Shard: &n, Peers: []wakuPeer{}})
		return nil
	}
	out := make([]shardPeers, 0, len(mesh))
	for _, t := range mesh {
		out = append(out, of(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// shardOf extracts the shard of a static-sharding topic /waku/2/rs/<c>/<s>.
func shardOf(topic string) *uint64 {
	parts := strings.Split(topic, "/")
	if len(parts) != 6 || parts[1] != "waku" || parts[3] != "rs" {
		return nil
	}
	n, err := strconv.ParseUint(parts[5], 10, 16)
	if err != nil {
		return nil
	}
	return &n
}

func (s *Server) scores(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.node.Scores(r.Context())
	if err != nil {
		return err
	}
	// Every weighted term is listed: score = topicScore + appSpecific +
	// ipColocationFactor + behaviourPenalty, and topicScore is the sum of
	// the topics' totals after the topic cap.
	type topicScore struct {
		Topic                    string  `json:"topic"`
		TimeInMesh               float64 `json:"timeInMesh"`
		FirstMessageDeliveries   float64 `json:"firstMessageDeliveries"`
		MeshMessageDeliveries    float64 `json:"meshMessageDeliveries"`
		MeshFailurePenalty       float64 `json:"meshFailurePenalty"`
		InvalidMessageDeliveries float64 `json:"invalidMessageDeliveries"`
		Total                    float64 `json:"total"`
	}
	type peerScore struct {
		PeerID             string       `json:"peerId"`
		Score              float64      `json:"score"`
		TopicScore         float64      `json:"topicScore"`
		AppSpecific        float64      `json:"appSpecific"`
		IPColocationFactor float64      `json:"ipColocationFactor"`
		BehaviourPenalty   float64      `json:"behaviourPenalty"`
		Topics             []topicScore `json:"topics"`
	}
	out := make([]peerScore, 0, len(sc))
	for _, p := range sc {
		ps := peerScore{PeerID: p.GetPeerId(), Score: pos0(p.GetScore()), TopicScore: pos0(p.GetTopicScore()),
			AppSpecific: pos0(p.GetAppSpecific()), IPColocationFactor: pos0(p.GetIpColocationFactor()),
			BehaviourPenalty: pos0(p.GetBehaviourPenalty()), Topics: []topicScore{}}
		for _, t := range p.GetTopics() {
			ps.Topics = append(ps.Topics, topicScore{t.GetTopic(), pos0(t.GetTimeInMesh()), pos0(t.GetFirstMessageDeliveries()),
				pos0(t.GetMeshMessageDeliveries()), pos0(t.GetMeshFailurePenalty()), pos0(t.GetInvalidMessageDeliveries()),
				pos0(t.GetTotal())})
		}
		out = append(out, ps)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// pos0 turns -0 (a negative weight times a zero counter) into 0, so an
// operator reading the scores sees "0", not "-0".
func pos0(f float64) float64 { return f + 0 }

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) error {
	return s.eachTopic(w, r, s.relay.Subscribe)
}

func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	return s.eachTopic(w, r, s.relay.Unsubscribe)
}

func (s *Server) eachTopic(w http.ResponseWriter, r *http.Request, op func(context.Context, string) error) error {
	topics, err := s.decodeList(r, "pubsub topics")
	if err != nil {
		return err
	}
	for _, t := range topics {
		if err := checkTopic(t); err != nil {
			return err
		}
	}
	for _, t := range topics {
		if err := op(r.Context(), t); err != nil {
			return httpError(http.StatusBadRequest, "topic %s: %v", t, err)
		}
	}
	writeOK(w)
	return nil
}

func checkTopic(t string) error {
	if t == "" || len(t) > 255 || strings.ContainsAny(t, " \t\r\n") {
		return httpError(http.StatusBadRequest, "invalid pubsub topic %q", t)
	}
	return nil
}

// relayMessage is nwaku's RelayWakuMessage JSON.
type relayMessage struct {
	Payload      *string `json:"payload"`
	ContentTopic string  `json:"contentTopic"`
	Version      *uint32 `json:"version,omitempty"`
	Timestamp    *int64  `json:"timestamp,omitempty"`
	Meta         *string `json:"meta,omitempty"`
	Ephemeral    *bool   `json:"ephemeral,omitempty"`
}

// MessageHashHeader carries the RFC 14 deterministic hash of a message the
// REST API published, beside nwaku's plain "OK" body (which clients of
// nwaku's API parse as is).
const MessageHashHeader = "Waku-Message-Hash"

func (s *Server) publish(w http.ResponseWriter, r *http.Request) error {
	topic := r.PathValue("topic")
	if err := checkTopic(topic); err != nil {
		return err
	}
	return s.publishOn(w, r, func(*wakuv1.WakuMessage) (string, error) { return topic, nil })
}

// publishOn decodes a RelayWakuMessage body, checks it against the node's
// message rules (the relay's; 400 naming the broken rule), finds its pubsub
// topic with topicOf, publishes it on a topic the node has joined and
// answers nwaku's "OK" with the message's hash in MessageHashHeader.
func (s *Server) publishOn(w http.ResponseWriter, r *http.Request, topicOf func(*wakuv1.WakuMessage) (string, error)) error {
	var m relayMessage
	if err := decode(r, &m); err != nil {
		return err
	}
	if m.Payload == nil {
		return httpError(http.StatusBadRequest, "payload is required (base64)")
	}
	payload, err := base64.StdEncoding.DecodeString(*m.Payload)
	if err != nil {
		return httpError(http.StatusBadRequest, "payload is not valid base64: %v", err)
	}
	var data []byte
	wm := &wakuv1.WakuMessage{Payload: payload, ContentTopic: m.ContentTopic, Version: m.Version, Timestamp: m.Timestamp, Ephemeral: m.Ephemeral}
	if s.cfg.WakuMessages {
		if m.ContentTopic == "" {
			return httpError(http.StatusBadRequest, "contentTopic is required")
		}
		if m.Meta != nil {
			if wm.Meta, err = base64.StdEncoding.DecodeString(*m.Meta); err != nil {
				return httpError(http.StatusBadRequest, "meta is not valid base64: %v", err)
			}
		}
		if wm.GetTimestamp() == 0 {
			// nwaku stamps messages that come without a timestamp; the REST
			// edge may read the clock.
			now := time.Now().UnixNano()
			wm.Timestamp = &now
		}
		if err := s.cfg.MessageRules.Validate(wm, time.Now()); err != nil {
			return httpError(http.StatusBadRequest, "%v", err)
		}
		if data, err = proto.Marshal(wm); err != nil {
			return fmt.Errorf("encode WakuMessage: %w", err)
		}
	} else {
		data = payload
	}
	topic, err := topicOf(wm)
	if err != nil {
		return httpError(http.StatusBadRequest, "%v", err)
	}
	info, err := s.node.Info(r.Context())
	if err != nil {
		return err
	}
	if !contains(info.GetTopics(), topic) {
		return httpError(http.StatusBadRequest, "not subscribed to pubsub topic %s", topic)
	}
	if _, err := s.node.Publish(r.Context(), topic, data); err != nil {
		return httpError(http.StatusBadRequest, "publish on %s: %v", topic, err)
	}
	if s.cfg.WakuMessages {
		// The node logs the publication with the same hash.
		w.Header().Set(MessageHashHeader, message.HashOf(topic, wm).String())
	}
	writeOK(w)
	return nil
}

// writeOK is nwaku's success answer: 200, text/plain, "OK".
func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "OK")
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) error {
	topic := r.PathValue("topic")
	if err := checkTopic(topic); err != nil {
		return err
	}
	msgs, ok, err := s.relay.Drain(r.Context(), topic)
	if err != nil {
		return err
	}
	if !ok {
		return httpError(http.StatusNotFound, "not subscribed to pubsub topic %s", topic)
	}
	return s.writeMessages(w, msgs)
}

// shardOfContent is autosharding: the pubsub topic of contentTopic in the
// node's cluster (400 when the content topic is malformed or the cluster
// has no autosharding).
func (s *Server) shardOfContent(contentTopic string) (string, error) {
	if s.cfg.NumShardsInNetwork == 0 {
		return "", httpError(http.StatusBadRequest, "autosharding is off (--num-shards-in-network=0): use /relay/v1/ with a pubsub topic")
	}
	sh, err := sharding.AutoShard(s.cfg.ClusterID, s.cfg.NumShardsInNetwork, contentTopic)
	if err != nil {
		return "", httpError(http.StatusBadRequest, "%v", err)
	}
	return sh.Topic(), nil
}

// autoSubscribe is nwaku's POST /relay/v1/auto/subscriptions: a JSON array
// of content topics, each kept on its shard; answered "OK".
func (s *Server) autoSubscribe(w http.ResponseWriter, r *http.Request) error {
	cts, err := s.decodeList(r, "content topics")
	if err != nil {
		return err
	}
	shards := make([]string, len(cts))
	for i, ct := range cts {
		if shards[i], err = s.shardOfContent(ct); err != nil {
			return err
		}
	}
	for i, ct := range cts {
		if err := s.relay.SubscribeContent(r.Context(), ct, shards[i]); err != nil {
			return httpError(http.StatusBadRequest, "content topic %s (%s): %v", ct, shards[i], err)
		}
	}
	writeOK(w)
	return nil
}

func (s *Server) autoUnsubscribe(w http.ResponseWriter, r *http.Request) error {
	cts, err := s.decodeList(r, "content topics")
	if err != nil {
		return err
	}
	for _, ct := range cts {
		if err := s.relay.UnsubscribeContent(r.Context(), ct); err != nil {
			return httpError(http.StatusBadRequest, "content topic %s: %v", ct, err)
		}
	}
	writeOK(w)
	return nil
}

// autoPublish is nwaku's POST /relay/v1/auto/messages: the message goes to
// the shard of its content topic.
func (s *Server) autoPublish(w http.ResponseWriter, r *http.Request) error {
	return s.publishOn(w, r, func(wm *wakuv1.WakuMessage) (string, error) { return s.shardOfContent(wm.GetContentTopic()) })
}

func (s *Server) autoMessages(w http.ResponseWriter, r *http.Request) error {
	ct := r.PathValue("contentTopic")
	msgs, ok, err := s.relay.DrainContent(r.Context(), ct)
	if err != nil {
		return err
	}
	if !ok {
		return httpError(http.StatusNotFound, "not subscribed to content topic %s", ct)
	}
	return s.writeMessages(w, msgs)
}

func (s *Server) writeMessages(w http.ResponseWriter, msgs []*apiv1.MessageReceived) error {
	out := make([]relayMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, s.toRelayMessage(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) toRelayMessage(m *apiv1.MessageReceived) relayMessage {
	enc := func(b []byte) *string { v := base64.StdEncoding.EncodeToString(b); return &v }
	var wm wakuv1.WakuMessage
	if !s.cfg.WakuMessages || proto.Unmarshal(m.GetData(), &wm) != nil {
		// Data that is not a WakuMessage is still returned, as the payload.
		return relayMessage{Payload: enc(m.GetData())}
	}
	rm := relayMessage{Payload: enc(wm.GetPayload()), ContentTopic: wm.GetContentTopic(), Version: wm.Version,
		Timestamp: wm.Timestamp, Ephemeral: wm.Ephemeral}
	if wm.Meta != nil {
		rm.Meta = enc(wm.Meta)
	}
	return rm
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
