package jswaku

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/internal/rest"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/mplex"
	"github.com/peermesh/peermesh/waku/sharding"
)

const (
	contentTopic = "/toychat/2/huilong/proto"
	shardTopic   = "/waku/2/rs/1/3" // autosharding of contentTopic in cluster 1, 8 shards
)

// quiet is how long the meshes must hold without traffic.
func quiet() time.Duration {
	if testing.Short() {
		return 15 * time.Second
	}
	return 90 * time.Second
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		<-tick.C
	}
}

// startPeermesh is a node on cluster 1 relaying its 8 shards, WebSocket on,
// with the REST API served in-process (as cmd/node assembles it).
func startPeermesh(t *testing.T, configure ...func(*peermesh.Config)) (*peermesh.Node, string) {
	t.Helper()
	cfg := peermesh.DefaultConfig()
	cfg.Name, cfg.ClusterID, cfg.NumShardsInNetwork = "peermesh", 1, 8
	cfg.PubsubTopics = sharding.Topics(1, sharding.AllShards(8))
	cfg.WebSocketSupport = true
	for _, c := range configure {
		c(&cfg)
	}
	level := slog.LevelWarn
	if os.Getenv("PEERMESH_JSWAKU_DEBUG") != "" {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	n, err := peermesh.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	if _, err := n.Start(); err != nil {
		t.Fatal(err)
	}
	rc := rest.DefaultConfig()
	rc.MessageRules, rc.ClusterID, rc.NumShardsInNetwork = n.MessageRules(), 1, 8
	props, _ := rest.CacheProps(rc, nil)
	cache := n.System().Root.Spawn(props)
	h, err := rest.New(rc, n, &rest.ActorRelay{Root: n.System().Root, Cache: cache, Node: n}, peermesh.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return n, srv.URL
}

// wsAddr is n's WebSocket address with /p2p: what js-waku dials.
func wsAddr(t *testing.T, n *peermesh.Node) string {
	t.Helper()
	for _, a := range n.Host().Addrs() {
		if _, err := a.ValueForProtocol(ma.P_WS); err == nil {
			return a.String() + "/p2p/" + n.ID().String()
		}
	}
	t.Fatalf("no WebSocket address in %v", n.Host().Addrs())
	return ""
}

func meshOf(t *testing.T, n *peermesh.Node, topic string) []string {
	t.Helper()
	mesh, err := n.Mesh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mesh {
		if m.GetTopic() == topic {
			return m.GetPeerIds()
		}
	}
	return nil
}

func peerRecord(t *testing.T, n *peermesh.Node, id string) *apiv1.Peer {
	t.Helper()
	ps, err := n.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.GetPeerId() == id {
			return p
		}
	}
	return nil
}

func TestJSWakuInterop(t *testing.T) {
	dir := jsDir(t)
	ensureInstalled(t, dir)
	n, restURL := startPeermesh(t)
	js := startJS(t, dir, map[string]any{"clusterId": 1, "contentTopics": []string{contentTopic}})
	if got := js.request("subscribe", map[string]any{"contentTopic": contentTopic}).str("topic"); got != shardTopic {
		t.Fatalf("js-waku puts %s on %s, peermesh on %s", contentTopic, got, shardTopic)
	}
	js.request("dial", map[string]any{"addr": wsAddr(t, n)})

	// Metadata, both ways: js-waku asks us; we asked js-waku.
	md := js.request("metadata", map[string]any{"peer": n.ID().String()})
	if md["clusterId"].(float64) != 1 || !slices.Contains(strs(md["shards"]), "3") {
		t.Fatalf("js-waku's metadata of peermesh: %v", md)
	}
	eventually(t, 10*time.Second, "peermesh records js-waku's shards", func() bool {
		p := peerRecord(t, n, js.ID)
		return p != nil && p.GetConnectedness() == "connected" && slices.Contains(p.GetShards(), 3)
	})

	// Each side has the other in its relay mesh.
	eventually(t, 20*time.Second, "each side in the other's mesh", func() bool {
		return slices.Contains(meshOf(t, n, shardTopic), js.ID) &&
			slices.Contains(strs(js.request("mesh", map[string]any{"topic": shardTopic})["peers"]), n.ID().String())
	})

	// Messages both ways. peermesh → js-waku through REST autosharding; js-waku's
	// decoder reads it and @waku/message-hash names it as our answer does.
	body := `{"payload":"` + base64.StdEncoding.EncodeToString([]byte("hello js-waku")) + `","contentTopic":"` + contentTopic + `"}`
	resp, err := http.Post(restURL+"/relay/v1/auto/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	restHash := resp.Header.Get(rest.MessageHashHeader)
	if resp.StatusCode != 200 || string(answer) != "OK" || restHash == "" {
		t.Fatalf("REST publish: %d %q hash %q", resp.StatusCode, answer, restHash)
	}
	got := js.waitFor(20*time.Second, "our message at js-waku", func(e event) bool { return e.str("event") == "message" })
	if p, _ := base64.StdEncoding.DecodeString(got.str("payload")); string(p) != "hello js-waku" ||
		got.str("contentTopic") != contentTopic || got.str("pubsubTopic") != shardTopic {
		t.Fatalf("js-waku decoded %v", got)
	}
	if got.str("hash") != restHash {
		t.Fatalf("@waku/message-hash says %s, our REST answer %s", got.str("hash"), restHash)
	}

	// js-waku → peermesh: delivered, decoded as a WakuMessage, named by the
	// same hash js-waku computes.
	inbox := make(chan *apiv1.MessageReceived, 16)
	sub := n.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*apiv1.MessageReceived); ok {
			inbox <- m
		}
	}))
	if err := n.Subscribe(context.Background(), shardTopic, sub); err != nil {
		t.Fatal(err)
	}
	sent := js.request("send", map[string]any{"contentTopic": contentTopic,
		"payload": base64.StdEncoding.EncodeToString([]byte("hello peermesh")), "timestampMs": time.Now().UnixMilli()})
	if !slices.Contains(strs(sent["recipients"]), n.ID().String()) {
		t.Fatalf("js-waku sent to %v, not to peermesh %s", sent["recipients"], n.ID())
	}
	select {
	case m := <-inbox:
		var wm wakuv1.WakuMessage
		if err := proto.Unmarshal(m.GetData(), &wm); err != nil || string(wm.GetPayload()) != "hello peermesh" || wm.GetContentTopic() != contentTopic {
			t.Fatalf("peermesh got %v (%v)", &wm, err)
		}
		if m.GetMessageHash() != sent.str("hash") || m.GetReceivedFrom() != js.ID {
			t.Fatalf("peermesh names it %s from %s; js-waku %s from %s", m.GetMessageHash(), m.GetReceivedFrom(), sent.str("hash"), js.ID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("js-waku's message did not reach peermesh")
	}

	// Quiet topic: both meshes hold, checked every 5 s, and our score of
	// js-waku stays non-negative.
	deadline := time.Now().Add(quiet())
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		<-tick.C
		if !slices.Contains(meshOf(t, n, shardTopic), js.ID) {
			t.Fatalf("js-waku left peermesh's mesh after %s of quiet", time.Until(deadline))
		}
		if !slices.Contains(strs(js.request("mesh", map[string]any{"topic": shardTopic})["peers"]), n.ID().String()) {
			t.Fatalf("peermesh left js-waku's mesh")
		}
		scores, err := n.Scores(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range scores {
			if s.GetPeerId() == js.ID && s.GetScore() < 0 {
				t.Fatalf("peermesh scores js-waku %v on a quiet topic: %v", s.GetScore(), s)
			}
		}
	}
	t.Logf("meshes held through %s without traffic", quiet())
}

// A js-waku node on cluster 2 that dials us is disconnected by peermesh.
func TestJSWakuOtherClusterIsDisconnected(t *testing.T) {
	dir := jsDir(t)
	ensureInstalled(t, dir)
	n, _ := startPeermesh(t)
	js := startJS(t, dir, map[string]any{"clusterId": 2, "shards": []int{3}})
	if _, err := js.tryRequest("dial", map[string]any{"addr": wsAddr(t, n)}); err != nil {
		t.Logf("dial: %v (peermesh may close before js-waku completes it)", err)
	}
	id, err := peer.Decode(js.ID)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "peermesh disconnects the cluster-2 node", func() bool {
		p := peerRecord(t, n, js.ID)
		return p != nil && p.GetConnectedness() != "connected" && n.Host().Network().Connectedness(id) != network.Connected
	})
	js.waitFor(10*time.Second, "disconnect event at js-waku", func(e event) bool {
		return e.str("event") == "disconnect" && e.str("peer") == n.ID().String()
	})
}

// js-waku's default node — WebSocket and mplex only, no yamux — reaches
// peermesh: metadata, mesh and a message each way.
func TestJSWakuDefaultNodeOverMplex(t *testing.T) {
	dir := jsDir(t)
	ensureInstalled(t, dir)
	n, _ := startPeermesh(t)
	js := startJS(t, dir, map[string]any{"clusterId": 1, "contentTopics": []string{contentTopic}, "defaults": true})
	js.request("subscribe", map[string]any{"contentTopic": contentTopic})
	js.request("dial", map[string]any{"addr": wsAddr(t, n)})
	id, err := peer.Decode(js.ID)
	if err != nil {
		t.Fatal(err)
	}
	conns := n.Host().Network().ConnsToPeer(id)
	if len(conns) == 0 || conns[0].ConnState().StreamMultiplexer != mplex.ID {
		t.Fatalf("connection to js-waku: %v", conns)
	}
	if md := js.request("metadata", map[string]any{"peer": n.ID().String()}); md["clusterId"].(float64) != 1 {
		t.Fatalf("js-waku's metadata of peermesh: %v", md)
	}
	eventually(t, 20*time.Second, "each side in the other's mesh", func() bool {
		return slices.Contains(meshOf(t, n, shardTopic), js.ID) &&
			slices.Contains(strs(js.request("mesh", map[string]any{"topic": shardTopic})["peers"]), n.ID().String())
	})
	inbox := make(chan *apiv1.MessageReceived, 4)
	sub := n.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*apiv1.MessageReceived); ok {
			inbox <- m
		}
	}))
	if err := n.Subscribe(context.Background(), shardTopic, sub); err != nil {
		t.Fatal(err)
	}
	sent := js.request("send", map[string]any{"contentTopic": contentTopic,
		"payload": base64.StdEncoding.EncodeToString([]byte("over mplex")), "timestampMs": time.Now().UnixMilli()})
	select {
	case m := <-inbox:
		if m.GetMessageHash() != sent.str("hash") {
			t.Fatalf("peermesh names it %s, js-waku %s", m.GetMessageHash(), sent.str("hash"))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("js-waku's message did not reach peermesh over mplex")
	}
	if _, hash, err := n.PublishMessage(context.Background(), "", &wakuv1.WakuMessage{Payload: []byte("back over mplex"), ContentTopic: contentTopic}); err != nil {
		t.Fatal(err)
	} else if got := js.waitFor(20*time.Second, "our message at js-waku", func(e event) bool { return e.str("event") == "message" }); got.str("hash") != hash {
		t.Fatalf("js-waku names it %s, peermesh %s", got.str("hash"), hash)
	}
}
