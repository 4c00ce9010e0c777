package peermesh

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/score"
)

// The peer store capacity 0 resolves to nwaku's 5 × max-connections, here
// only: cmd/node passes the setting through unresolved.
func TestPeerStoreCapacityDefaultsToFiveTimesMaxConnections(t *testing.T) {
	c := DefaultConfig()
	c.MaxConnections = 50
	if got := c.peerStoreCapacity(); got != 250 {
		t.Fatalf("peer store capacity = %d, want 5 × 50", got)
	}
	c.PeerStoreCapacity = 70
	if got := c.peerStoreCapacity(); got != 70 {
		t.Fatalf("peer store capacity = %d, want the configured 70", got)
	}
}

// The waku profile scores like nwaku (P3, P3b off) unless StrictScoring
// asks for the stricter parameters (ADR 0013); the libp2p profile is not
// affected by the option.
func TestStrictScoringSelectsTheWakuTopicParameters(t *testing.T) {
	for _, c := range []struct {
		profile string
		strict  bool
		want    score.TopicParams
	}{
		{ProfileWaku, false, score.DefaultWakuTopicParams()},
		{ProfileWaku, true, score.StrictWakuTopicParams()},
		{ProfileLibp2p, true, score.DefaultLibp2pTopicParams()},
	} {
		cfg := DefaultConfig()
		cfg.Profile, cfg.StrictScoring = c.profile, c.strict
		m, err := newNodeMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		n := &Node{cfg: cfg, log: slog.New(slog.DiscardHandler), metrics: m}
		if got := n.routerConfig().Mesh.Score; got != c.want {
			t.Errorf("profile %s strict %v: topic params %+v, want %+v", c.profile, c.strict, got, c.want)
		}
	}
}

// A secure WebSocket needs both PEM files and the WebSocket listener; each
// refusal names the field.
func TestValidateSecureWebSocket(t *testing.T) {
	for _, c := range []struct {
		name       string
		ws         bool
		cert, key  string
		wantErrFor string
	}{
		{"off", false, "", "", ""},
		{"on", true, "c.pem", "k.pem", ""},
		{"cert without key", true, "c.pem", "", "WebSocketSecureCertPath"},
		{"key without cert", true, "", "k.pem", "WebSocketSecureCertPath"},
		{"wss without websocket", false, "c.pem", "k.pem", "WebSocketSecureCertPath"},
	} {
		cfg := DefaultConfig()
		cfg.WebSocketSupport, cfg.WebSocketSecureCertPath, cfg.WebSocketSecureKeyPath = c.ws, c.cert, c.key
		err := cfg.Validate()
		switch {
		case c.wantErrFor == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErrFor != "" && (err == nil || !strings.Contains(err.Error(), c.wantErrFor)):
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.wantErrFor)
		}
	}
}
