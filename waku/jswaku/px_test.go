package jswaku

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/waku/sharding"
)

// pxNode is a peermesh node of cluster 16, shard 0, with discv5 (boot: its
// bootstrap records) and the peer-exchange server.
func pxNode(t *testing.T, name string, boot []string) *peermesh.Node {
	t.Helper()
	cfg := peermesh.DefaultConfig()
	cfg.Name, cfg.ClusterID = name, 16
	cfg.PubsubTopics = sharding.Topics(16, []uint16{0})
	cfg.Discv5Discovery, cfg.Discv5BootstrapNodes = true, boot
	cfg.IPColocationLimit = 0
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := peermesh.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	if _, err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestJSWakuPeerExchangeClient: js-waku's peer-exchange client
// (@waku/discovery 0.0.4: wakuPeerExchangeDiscovery as its libp2p peer
// discovery, and one WakuPeerExchange query) gets from peermesh the records
// of the peers peermesh found through discv5, and decodes them — peer ids,
// addresses, cluster and shard, relay capability.
func TestJSWakuPeerExchangeClient(t *testing.T) {
	dir := jsDir(t)
	ensureInstalled(t, dir)
	server := pxNode(t, "server", []string{})
	// go-ethereum's table takes inbound contacts once its first refresh
	// ended, which the first discovery round waits for.
	eventually(t, 20*time.Second, "the server's first discv5 round", func() bool {
		st, err := server.DiscoveryStatus(context.Background())
		return err == nil && st.GetRounds() > 0 && !st.GetLookupInFlight()
	})
	var found []*peermesh.Node
	for _, name := range []string{"a", "b"} {
		found = append(found, pxNode(t, name, []string{server.ENR()}))
	}
	eventually(t, 60*time.Second, "the server finds both peers through discv5", func() bool {
		ps, err := server.Peers(context.Background())
		if err != nil {
			return false
		}
		n := 0
		for _, p := range ps {
			for _, f := range found {
				if p.GetPeerId() == f.ID().String() && p.GetOrigin() == "discv5" {
					n++
				}
			}
		}
		return n == len(found)
	})

	js := startScript(t, dir, "px.mjs", map[string]any{"clusterId": 16, "shards": []int{0}}, "NODE_ENV=test")
	js.request("dial", map[string]any{"addr": server.Addrs()[0]})
	// js-waku's discovery asks peers that identify as peer-exchange servers.
	for _, f := range found {
		id := f.ID().String()
		js.waitFor(30*time.Second, "discovery of "+id, func(e event) bool { return e.str("event") == "discovered" && e.str("peer") == id })
	}
	answer := js.request("query", map[string]any{"peer": server.ID().String(), "numPeers": 10})
	records, _ := answer["records"].([]any)
	if len(records) != len(found) {
		t.Fatalf("js-waku decoded %d records: %v", len(records), answer)
	}
	for _, r := range records {
		rec := r.(map[string]any)
		if rec["clusterId"] != float64(16) || !slices.Equal(strs(rec["shards"]), []string{"0"}) || rec["relay"] != true || len(strs(rec["multiaddrs"])) == 0 {
			t.Errorf("record %v", rec)
		}
		if !slices.ContainsFunc(found, func(n *peermesh.Node) bool { return n.ID().String() == rec["peerId"] }) {
			t.Errorf("record of %v, not a peer the server found", rec["peerId"])
		}
	}
}
