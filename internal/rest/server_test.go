package rest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/message"
)

const (
	topic   = "/waku/2/rs/0/0"
	peerID  = "16Uiu2HAmPLe7Mzm8TsYUubgCAW1aJoeFScxrLj8ppHFivPo97bUZ"
	peerMA  = "/ip4/127.0.0.1/tcp/60001/p2p/" + peerID
	version = "v0.1.0-test"
)

type fakeNode struct {
	mu        sync.Mutex
	published map[string][][]byte
	added     []string
	addErr    error
	peers     []*apiv1.Peer // nil: one connected static peer
	// noRelay runs the node without relay; quiet gives its topic no
	// subscribed peer (and no mesh).
	noRelay, quiet bool
}

func (f *fakeNode) Info(context.Context) (*apiv1.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &apiv1.Info{PeerId: "self", ListenAddresses: []string{"/ip4/127.0.0.1/tcp/1/p2p/self"}, Topics: []string{topic}, Profile: "waku",
		EnrUri: "enr:-test", RelayReady: !f.noRelay}, nil
}

func (f *fakeNode) Peers(context.Context) ([]*apiv1.Peer, error) {
	if f.peers != nil {
		return f.peers, nil
	}
	return []*apiv1.Peer{{PeerId: peerID, Addresses: []string{"/ip4/127.0.0.1/tcp/60001"}, Connectedness: "connected",
		Protocols: []string{"/vac/waku/relay/2.0.0"}, Origin: "static", Shards: []uint32{0}}}, nil
}

func (f *fakeNode) AddPeer(_ context.Context, a string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return "", f.addErr
	}
	f.added = append(f.added, a)
	return peerID, nil
}

func (f *fakeNode) Mesh(context.Context) ([]*apiv1.TopicMesh, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.quiet {
		return []*apiv1.TopicMesh{{Topic: topic}}, nil
	}
	return []*apiv1.TopicMesh{{Topic: topic, PeerIds: []string{peerID}, TopicPeerIds: []string{peerID}}}, nil
}

func (f *fakeNode) Scores(context.Context) ([]*apiv1.PeerScore, error) {
	negZero := math.Copysign(0, -1) // a negative weight times a zero counter
	return []*apiv1.PeerScore{{PeerId: peerID, Score: 1.5, BehaviourPenalty: -0.5, TopicScore: 2, IpColocationFactor: negZero,
		Topics: []*apiv1.TopicScore{{Topic: topic, TimeInMesh: 2.97, MeshFailurePenalty: -0.97, InvalidMessageDeliveries: negZero, Total: 2}}}}, nil
}

func (f *fakeNode) Publish(_ context.Context, t string, data []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.published == nil {
		f.published = map[string][][]byte{}
	}
	f.published[t] = append(f.published[t], data)
	return []byte{0xab, 0xcd}, nil
}

type fakeRelay struct {
	mu      sync.Mutex
	subs    map[string]bool
	backlog map[string][]*apiv1.MessageReceived
}

func (f *fakeRelay) Subscribe(_ context.Context, t string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t == "/refused" {
		return errors.New("refused")
	}
	f.subs[t] = true
	return nil
}

func (f *fakeRelay) Unsubscribe(_ context.Context, t string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, t)
	return nil
}

func (f *fakeRelay) Drain(_ context.Context, t string) ([]*apiv1.MessageReceived, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.subs[t] {
		return nil, false, nil
	}
	m := f.backlog[t]
	delete(f.backlog, t)
	return m, true, nil
}

func (f *fakeRelay) SubscribeContent(_ context.Context, ct, pubsubTopic string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs["ct:"+ct] = true
	f.subs[pubsubTopic] = true
	return nil
}

func (f *fakeRelay) UnsubscribeContent(_ context.Context, ct string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, "ct:"+ct)
	return nil
}

func (f *fakeRelay) DrainContent(ctx context.Context, ct string) ([]*apiv1.MessageReceived, bool, error) {
	return f.Drain(ctx, "ct:"+ct)
}

func newTestServer(t *testing.T, cfg Config) (*httptest.Server, *fakeNode, *fakeRelay) {
	t.Helper()
	n := &fakeNode{}
	r := &fakeRelay{subs: map[string]bool{topic: true}, backlog: map[string][]*apiv1.MessageReceived{}}
	s, err := New(cfg, n, r, version, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, n, r
}

func do(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	code, _, b := doHeader(t, method, u, body, nil)
	return code, b
}

// doHeader is do with request headers, returning the response's.
func doHeader(t *testing.T, method, u, body string, h http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// adminConfig is DefaultConfig with the admin routes on (--rest-admin).
func adminConfig() Config {
	c := DefaultConfig()
	c.Admin = true
	return c
}

func msgURL(base, t string) string { return base + "/relay/v1/messages/" + url.PathEscape(t) }

func TestRoutesAnswerLikeNwaku(t *testing.T) {
	ts, _, _ := newTestServer(t, adminConfig())
	cases := []struct {
		method, path, body string
		want               []string
	}{
		{"GET", "/health", "", []string{`"nodeHealth":"Ready"`, `"Relay":"Ready"`}},
		{"GET", "/debug/v1/info", "", []string{`"listenAddresses":["/ip4/127.0.0.1/tcp/1/p2p/self"]`, `"enrUri":"enr:-test"`}},
		{"GET", "/debug/v1/version", "", []string{version}},
		{"GET", "/admin/v1/peers", "", []string{`"multiaddr":"` + peerMA + `"`, `"connected":"Connected"`, `"origin":"static"`}},
		{"POST", "/admin/v1/peers", `["` + peerMA + `"]`, []string{"OK"}},
		{"GET", "/admin/v1/peers/mesh", "", []string{`"pubsubTopic":"/waku/2/rs/0/0"`, `"shard":0`, peerID}},
		{"GET", "/admin/v1/peers/mesh/on/0", "", []string{`{"pubsubTopic":"/waku/2/rs/0/0","shard":0,"peers":[{`, peerID}},
		{"GET", "/admin/v1/peers/relay", "", []string{`[{"pubsubTopic":"/waku/2/rs/0/0","shard":0,"peers":[{`, peerID}},
		{"GET", "/admin/v1/peers/relay/on/0", "", []string{`{"pubsubTopic":"/waku/2/rs/0/0","shard":0,"peers":[{`, peerID}},
		{"GET", "/admin/v1/peers/relay/on/5", "", []string{`{"pubsubTopic":"/waku/2/rs/0/5","shard":5,"peers":[]}`}},
		{"GET", "/admin/v1/peers/connected", "", []string{`"peerId":"` + peerID + `"`}},
		{"GET", "/admin/v1/peers/connected/on/0", "", []string{`"peerId":"` + peerID + `"`}},
		{"GET", "/admin/v1/peers/connected/on/3", "", []string{`[]`}},
		{"GET", "/admin/v1/peers/service", "", []string{`"protocols":["/vac/waku/relay/2.0.0"]`}},
		{"GET", "/admin/v1/peers/stats", "", []string{`"Sum":{"Total peers":1}`, `"Connected":1`, `"Relay peers":{"0":1,"Total relay peers":1}`,
			`"Mesh peers":{"0":1,"Total mesh peers":1}`, `"/vac/waku/relay/2.0.0":1`}},
		{"GET", "/admin/v1/peer/" + peerID, "", []string{`{"multiaddr":"` + peerMA + `"`}},
		{"GET", "/info", "", []string{`"enrUri":"enr:-test"`}},
		{"GET", "/version", "", []string{version}},
		{"GET", "/admin/v1/scores", "", []string{`"score":1.5`, `"behaviourPenalty":-0.5`, `"timeInMesh":2.97`,
			`"meshFailurePenalty":-0.97`, `"total":2`, `"topicScore":2`, `"ipColocationFactor":0,`, `"invalidMessageDeliveries":0,`}},
		{"POST", "/relay/v1/subscriptions", `["/waku/2/rs/0/1"]`, []string{"OK"}},
		{"DELETE", "/relay/v1/subscriptions", `["/waku/2/rs/0/1"]`, []string{"OK"}},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			code, body := do(t, c.method, ts.URL+c.path, c.body)
			if code != http.StatusOK {
				t.Fatalf("status %d, body %s", code, body)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %s lacks %s", body, w)
				}
			}
		})
	}
}

func TestPublishEncodesWakuMessage(t *testing.T) {
	ts, n, _ := newTestServer(t, DefaultConfig())
	body := `{"payload":"` + base64.StdEncoding.EncodeToString([]byte("hello")) + `","contentTopic":"/app/1/chat/proto","version":1,"timestamp":42,"meta":"AQI=","ephemeral":true}`
	code, resp := do(t, "POST", msgURL(ts.URL, topic), body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, resp)
	}
	if len(n.published[topic]) != 1 {
		t.Fatalf("published %v", n.published)
	}
	var wm wakuv1.WakuMessage
	if err := proto.Unmarshal(n.published[topic][0], &wm); err != nil {
		t.Fatal(err)
	}
	want := &wakuv1.WakuMessage{Payload: []byte("hello"), ContentTopic: "/app/1/chat/proto", Version: proto.Uint32(1),
		Timestamp: proto.Int64(42), Meta: []byte{1, 2}, Ephemeral: proto.Bool(true)}
	if !proto.Equal(&wm, want) {
		t.Fatalf("got %v, want %v", &wm, want)
	}
}

// The publish answer is nwaku's: 200 text/plain "OK"; the RFC 14 hash of the
// published message travels in the Waku-Message-Hash header.
func TestPublishAnswersOKWithTheMessageHash(t *testing.T) {
	ts, n, _ := newTestServer(t, DefaultConfig())
	body := `{"payload":"aGk=","contentTopic":"/a/1/b/c","timestamp":1700000000000000000,"meta":"AQI="}`
	req, _ := http.NewRequest("POST", msgURL(ts.URL, topic), strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(got) != "OK" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("answer %d %q %q, want 200 text/plain OK", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
	var wm wakuv1.WakuMessage
	if err := proto.Unmarshal(n.published[topic][0], &wm); err != nil {
		t.Fatal(err)
	}
	want := message.HashOf(topic, &wm).String()
	if h := resp.Header.Get(MessageHashHeader); h != want || len(h) != 66 {
		t.Fatalf("%s = %q, want %s", MessageHashHeader, h, want)
	}
}

func TestPublishWithoutTimestampIsStamped(t *testing.T) {
	ts, n, _ := newTestServer(t, DefaultConfig())
	code, resp := do(t, "POST", msgURL(ts.URL, topic), `{"payload":"aGk=","contentTopic":"/a/1/b/c"}`)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, resp)
	}
	var wm wakuv1.WakuMessage
	if err := proto.Unmarshal(n.published[topic][0], &wm); err != nil || wm.GetTimestamp() == 0 {
		t.Fatalf("timestamp not set: %v %v", &wm, err)
	}
}

func TestGetMessagesDrainsTheCache(t *testing.T) {
	ts, _, r := newTestServer(t, DefaultConfig())
	data, _ := proto.Marshal(&wakuv1.WakuMessage{Payload: []byte("x"), ContentTopic: "/a/1/b/c", Timestamp: proto.Int64(7)})
	r.backlog[topic] = []*apiv1.MessageReceived{{Topic: topic, Data: data}}
	code, body := do(t, "GET", msgURL(ts.URL, topic), "")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var got []relayMessage
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || *got[0].Payload != "eA==" || got[0].ContentTopic != "/a/1/b/c" || *got[0].Timestamp != 7 {
		t.Fatalf("got %s", body)
	}
	if code, body = do(t, "GET", msgURL(ts.URL, topic), ""); code != http.StatusOK || body != "[]\n" {
		t.Fatalf("second read: %d %q, want an empty list", code, body)
	}
}

// Errors answer as nwaku's do: a 4xx status and a plain-text message.
func TestErrorPathsAnswerPlainText4xx(t *testing.T) {
	cfg := adminConfig()
	cfg.MaxBodyBytes = 256
	cfg.MaxItemsPerRequest = 3
	ts, _, _ := newTestServer(t, cfg)
	big := `{"payload":"` + strings.Repeat("A", 400) + `","contentTopic":"/a/1/b/c"}`
	cases := []struct {
		name, method, url, body string
		code                    int
		want                    string
	}{
		{"publish on unknown topic", "POST", msgURL(ts.URL, "/waku/2/rs/9/9"), `{"payload":"aGk=","contentTopic":"/a/1/b/c"}`, 400, "not subscribed"},
		{"read unknown topic", "GET", msgURL(ts.URL, "/waku/2/rs/9/9"), "", 404, "not subscribed"},
		{"bad base64 payload", "POST", msgURL(ts.URL, topic), `{"payload":"@@@","contentTopic":"/a/1/b/c"}`, 400, "base64"},
		{"bad base64 meta", "POST", msgURL(ts.URL, topic), `{"payload":"aGk=","contentTopic":"/a/1/b/c","meta":"%%"}`, 400, "meta"},
		{"missing payload", "POST", msgURL(ts.URL, topic), `{"contentTopic":"/a/1/b/c"}`, 400, "payload is required"},
		{"missing content topic", "POST", msgURL(ts.URL, topic), `{"payload":"aGk="}`, 400, "contentTopic"},
		// The relay's rules (waku/message), applied before publishing.
		{"empty payload", "POST", msgURL(ts.URL, topic), `{"payload":"","contentTopic":"/a/1/b/c"}`, 400, "payload is empty"},
		{"malformed content topic", "POST", msgURL(ts.URL, topic), `{"payload":"aGk=","contentTopic":"chat"}`, 400, "content topic"},
		{"meta over 64 bytes", "POST", msgURL(ts.URL, topic), `{"payload":"aGk=","contentTopic":"/a/1/b/c","meta":"` +
			base64.StdEncoding.EncodeToString(make([]byte, 65)) + `"}`, 400, "meta is 65 bytes"},
		{"oversize body", "POST", msgURL(ts.URL, topic), big, 413, "exceeds 256 bytes"},
		{"invalid json", "POST", msgURL(ts.URL, topic), `{"payload":`, 400, "invalid JSON"},
		{"empty body", "POST", ts.URL + "/relay/v1/subscriptions", ``, 400, "empty request body"},
		{"bad multiaddr", "POST", ts.URL + "/admin/v1/peers", `["not-a-multiaddr"]`, 400, "bad multiaddr"},
		{"multiaddr without peer id", "POST", ts.URL + "/admin/v1/peers", `["/ip4/127.0.0.1/tcp/1"]`, 400, "/p2p/"},
		{"empty peer list", "POST", ts.URL + "/admin/v1/peers", `[]`, 400, "non-empty"},
		{"too many topics", "POST", ts.URL + "/relay/v1/subscriptions", `["/a","/b","/c","/d"]`, 400, "at most 3"},
		{"refused subscription", "POST", ts.URL + "/relay/v1/subscriptions", `["/refused"]`, 400, "refused"},
		{"bad topic", "POST", ts.URL + "/relay/v1/subscriptions", `["a b"]`, 400, "invalid pubsub topic"},
		{"unknown route", "GET", ts.URL + "/nope", "", 404, "not found"},
		{"wrong method", "PUT", ts.URL + "/health", "", 405, "Method Not Allowed"},
		{"unknown peer", "GET", ts.URL + "/admin/v1/peer/16Uiu2HAm5wRTTYgbASR8YHn9ZHcosocvuVG4paVr4tNitags4CjY", "", 404, "not found"},
		{"invalid peer id", "GET", ts.URL + "/admin/v1/peer/xyz", "", 400, "Invalid argument"},
		{"invalid shard", "GET", ts.URL + "/admin/v1/peers/relay/on/1024", "", 400, "invalid shardId"},
		{"log level without a level to set", "POST", ts.URL + "/admin/v1/log-level/debug", "", 503, "not enabled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, h, body := doHeader(t, c.method, c.url, c.body, nil)
			if code != c.code {
				t.Fatalf("status %d, want %d; body %s", code, c.code, body)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(body, c.want) {
				t.Fatalf("%s body %q is not a plain-text error mentioning %q", ct, body, c.want)
			}
		})
	}
}

// TestPeersShowFailuresAndNextDial (issue 10, item 10): /admin/v1/peers
// shows each peer's failed dials, the last failure and when it will be
// dialed next ("never" once the node gave up on it).
func TestPeersShowFailuresAndNextDial(t *testing.T) {
	ts, n, _ := newTestServer(t, adminConfig())
	failedAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n.peers = []*apiv1.Peer{
		{PeerId: "a", Connectedness: "cannot_connect", FailedAttempts: 2, LastFailure: timestamppb.New(failedAt),
			NextDial: timestamppb.New(failedAt.Add(8 * time.Minute))},
		{PeerId: "b", Connectedness: "cannot_connect", FailedAttempts: 5, LastFailure: timestamppb.New(failedAt), DialExcluded: true},
		{PeerId: "c", Connectedness: "connected"},
	}
	code, body := do(t, "GET", ts.URL+"/admin/v1/peers", "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 3 {
		t.Fatalf("%v %s", err, body)
	}
	want := []struct {
		failures          float64
		lastFailure, next any
	}{
		{2, "2026-03-01T12:00:00Z", "2026-03-01T12:08:00Z"},
		{5, "2026-03-01T12:00:00Z", "never"},
		{0, nil, nil},
	}
	for i, w := range want {
		if got[i]["failedAttempts"] != w.failures || got[i]["lastFailure"] != w.lastFailure || got[i]["nextDial"] != w.next {
			t.Errorf("peer %d: %v, want failedAttempts %v lastFailure %v nextDial %v", i, got[i], w.failures, w.lastFailure, w.next)
		}
	}
}

func TestAddPeerFailureIs400(t *testing.T) {
	ts, n, _ := newTestServer(t, adminConfig())
	n.addErr = errors.New("dial refused")
	code, body := do(t, "POST", ts.URL+"/admin/v1/peers", `["`+peerMA+`"]`)
	if code != 400 || !strings.Contains(body, "dial refused") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CacheCapacity = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "CacheCapacity") {
		t.Fatalf("got %v", err)
	}
}

// In the libp2p profile pubsub data is the payload itself, both ways.
func TestLibp2pProfilePublishesAndReadsRawPayloads(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WakuMessages = false
	ts, n, r := newTestServer(t, cfg)
	if code, body := do(t, "POST", msgURL(ts.URL, topic), `{"payload":"cmF3"}`); code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	if got := string(n.published[topic][0]); got != "raw" {
		t.Fatalf("published %q, want the payload itself", got)
	}
	r.backlog[topic] = []*apiv1.MessageReceived{{Topic: topic, Data: []byte("raw")}}
	code, body := do(t, "GET", msgURL(ts.URL, topic), "")
	if code != http.StatusOK || !strings.Contains(body, `"payload":"cmF3"`) {
		t.Fatalf("read %d %s", code, body)
	}
}

// The autosharding routes map a content topic to its shard (cluster 1, 8
// shards: /toychat/2/huilong/proto is on shard 3), answer nwaku's "OK", and
// publish on the shard with the message's hash in the header.
func TestAutoshardingRoutes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ClusterID, cfg.NumShardsInNetwork = 1, 8
	ts, _, r := newTestServer(t, cfg)
	code, body := do(t, "POST", ts.URL+"/relay/v1/auto/subscriptions", `["/toychat/2/huilong/proto"]`)
	if code != 200 || body != "OK" || !r.subs["/waku/2/rs/1/3"] || !r.subs["ct:/toychat/2/huilong/proto"] {
		t.Fatalf("subscribe: %d %q, relay %v", code, body, r.subs)
	}
	if code, body = do(t, "POST", ts.URL+"/relay/v1/auto/subscriptions", `["not-a-content-topic"]`); code != 400 || !strings.Contains(body, "content topic") {
		t.Fatalf("bad content topic: %d %s", code, body)
	}
	data, _ := proto.Marshal(&wakuv1.WakuMessage{Payload: []byte("x"), ContentTopic: "/toychat/2/huilong/proto"})
	r.backlog["ct:/toychat/2/huilong/proto"] = []*apiv1.MessageReceived{{Topic: "/waku/2/rs/1/3", Data: data}}
	code, body = do(t, "GET", ts.URL+"/relay/v1/auto/messages/"+url.PathEscape("/toychat/2/huilong/proto"), "")
	if code != 200 || !strings.Contains(body, `"contentTopic":"/toychat/2/huilong/proto"`) {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, _ = do(t, "GET", ts.URL+"/relay/v1/auto/messages/"+url.PathEscape("/other/1/x/proto"), ""); code != 404 {
		t.Fatalf("get of an unsubscribed content topic: %d", code)
	}
	if code, body = do(t, "DELETE", ts.URL+"/relay/v1/auto/subscriptions", `["/toychat/2/huilong/proto"]`); code != 200 || r.subs["ct:/toychat/2/huilong/proto"] {
		t.Fatalf("unsubscribe: %d %s %v", code, body, r.subs)
	}

	// Publishing goes to the content topic's shard: cluster 0 with one
	// shard puts everything on /waku/2/rs/0/0.
	ts, n, _ := newTestServer(t, DefaultConfig())
	code, body = do(t, "POST", ts.URL+"/relay/v1/auto/messages", `{"payload":"aGk=","contentTopic":"/toychat/2/huilong/proto"}`)
	if code != 200 || body != "OK" || len(n.published[topic]) != 1 {
		t.Fatalf("auto publish: %d %q, published %v", code, body, n.published)
	}
	off := DefaultConfig()
	off.NumShardsInNetwork = 0
	ts, _, _ = newTestServer(t, off)
	if code, body = do(t, "POST", ts.URL+"/relay/v1/auto/messages", `{"payload":"aGk=","contentTopic":"/a/1/b/c"}`); code != 400 || !strings.Contains(body, "autosharding is off") {
		t.Fatalf("auto publish without autosharding: %d %s", code, body)
	}
}

// The admin routes exist only with Admin (nwaku's --rest-admin, off by
// default): without it they are unknown routes.
func TestAdminRoutesNeedRestAdmin(t *testing.T) {
	ts, _, _ := newTestServer(t, DefaultConfig())
	for _, p := range []string{"/admin/v1/peers", "/admin/v1/peers/stats", "/admin/v1/peer/" + peerID, "/admin/v1/scores"} {
		if code, body := do(t, "GET", ts.URL+p, ""); code != http.StatusNotFound {
			t.Errorf("GET %s without --rest-admin: %d %s", p, code, body)
		}
	}
	if code, _ := do(t, "GET", ts.URL+"/debug/v1/info", ""); code != http.StatusOK {
		t.Fatalf("info: %d", code)
	}
}

// POST /admin/v1/log-level/{level} changes the level of the node's logger,
// nwaku's names included.
func TestSetLogLevel(t *testing.T) {
	cfg := adminConfig()
	cfg.LogLevel = new(slog.LevelVar)
	ts, _, _ := newTestServer(t, cfg)
	for _, c := range []struct {
		name string
		want slog.Level
	}{{"DEBUG", slog.LevelDebug}, {"warn", slog.LevelWarn}, {"NOTICE", slog.LevelInfo}, {"FATAL", slog.LevelError}} {
		if code, body := do(t, "POST", ts.URL+"/admin/v1/log-level/"+c.name, ""); code != http.StatusOK || body != "OK" {
			t.Fatalf("%s: %d %s", c.name, code, body)
		}
		if got := cfg.LogLevel.Level(); got != c.want {
			t.Fatalf("%s set %s", c.name, got)
		}
	}
	if code, body := do(t, "POST", ts.URL+"/admin/v1/log-level/loud", ""); code != http.StatusBadRequest || !strings.Contains(body, "TRACE, DEBUG") {
		t.Fatalf("bad level: %d %s", code, body)
	}
}

// AllowOrigins (nwaku's --rest-allow-origin, with * and ? wildcards)
// answers browsers' preflights and marks responses for allowed origins only.
func TestAllowOrigin(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AllowOrigins = []string{"http://localhost:*", "https://app?.example.org"}
	ts, _, _ := newTestServer(t, cfg)
	for _, c := range []struct {
		origin string
		ok     bool
	}{{"http://localhost:3000", true}, {"https://app1.example.org", true}, {"https://app12.example.org", false}, {"https://evil.org", false}} {
		pre := http.Header{"Origin": {c.origin}, "Access-Control-Request-Method": {"POST"}}
		code, h, _ := doHeader(t, "OPTIONS", ts.URL+"/relay/v1/auto/messages", "", pre)
		allowed := h.Get("Access-Control-Allow-Origin") == c.origin
		if allowed != c.ok || (c.ok && code != http.StatusNoContent) || (!c.ok && code != http.StatusForbidden) {
			t.Errorf("preflight from %s: %d, allow-origin %q", c.origin, code, h.Get("Access-Control-Allow-Origin"))
		}
		code, h, _ = doHeader(t, "GET", ts.URL+"/debug/v1/version", "", http.Header{"Origin": {c.origin}})
		if code != http.StatusOK || (h.Get("Access-Control-Allow-Origin") == c.origin) != c.ok {
			t.Errorf("GET from %s: %d, allow-origin %q", c.origin, code, h.Get("Access-Control-Allow-Origin"))
		}
	}
	// Without AllowOrigins no CORS header is sent.
	ts2, _, _ := newTestServer(t, DefaultConfig())
	if _, h, _ := doHeader(t, "GET", ts2.URL+"/debug/v1/version", "", http.Header{"Origin": {"http://localhost:3000"}}); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header without AllowOrigins")
	}
}

// /health has nwaku's semantics: Relay is Ready while a topic has a
// connected subscribed peer — whether or not it is in the mesh — Not Ready
// (with nwaku's desc) without one, Not Mounted without relay.
func TestHealthLikeNwaku(t *testing.T) {
	ts, n, _ := newTestServer(t, DefaultConfig())
	for _, c := range []struct {
		noRelay, quiet bool
		want           string
	}{
		{want: `{"nodeHealth":"Ready","protocolsHealth":[{"Relay":"Ready"}]}`},
		{quiet: true, want: `{"nodeHealth":"Ready","protocolsHealth":[{"Relay":"Not Ready","desc":"No connected peers"}]}`},
		{noRelay: true, want: `{"nodeHealth":"Ready","protocolsHealth":[{"Relay":"Not Mounted"}]}`},
	} {
		n.mu.Lock()
		n.noRelay, n.quiet = c.noRelay, c.quiet
		n.mu.Unlock()
		if code, body := do(t, "GET", ts.URL+"/health", ""); code != http.StatusOK || strings.TrimSpace(body) != c.want {
			t.Errorf("relay %v quiet %v: %d %s, want %s", !c.noRelay, c.quiet, code, body, c.want)
		}
	}
}
