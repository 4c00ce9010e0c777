package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const validPeer = "/ip4/127.0.0.1/tcp/60001/p2p/16Uiu2HAmPLe7Mzm8TsYUubgCAW1aJoeFScxrLj8ppHFivPo97bUZ"

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValidAndFollowNwaku(t *testing.T) {
	s, err := Load(nil, env(nil))
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if s.TCPPort != 60000 || s.MaxConnections != 50 || s.IPColocationLimit != 5 ||
		s.RESTPort != 8645 || s.RESTAddress != "127.0.0.1" || s.MetricsServerPort != 8008 ||
		s.ListenAddress != "0.0.0.0" || s.DataDir != "./peermesh-data" || s.Profile != ProfileWaku ||
		!slices.Equal(s.Topics(), []string{DefaultPubsubTopic}) || s.RelayPeerExchange || !s.Relay || s.ClusterID != 0 ||
		s.NumShards() != 1 || s.MaxMessageSize() != 150<<10 || s.WebSocketSupport || s.WebSocketPort != 8000 ||
		s.Discv5Discovery || s.Discv5UDPPort != 9000 || s.Discv5ENRAutoUpdate || !s.PeerExchange || s.PeerExchangeNode != "" {
		t.Fatalf("unexpected defaults: %+v", s)
	}
	if s.PeerStoreCapacity != 0 {
		t.Fatalf("peer store capacity = %d, want 0 (5 × max-connections, resolved by peermesh.Config)", s.PeerStoreCapacity)
	}
}

func TestPrecedence_FlagBeatsEnvBeatsFile(t *testing.T) {
	file := writeFile(t, `
tcp-port = 1111
rest-port = 2222
metrics-server-port = 3333
staticnode = ["`+validPeer+`"]
log-format = "json"
peer-persistence = false
`)
	e := env(map[string]string{
		"PEERMESH_CONFIG_FILE":  file,
		"PEERMESH_TCP_PORT":     "4444",
		"PEERMESH_REST_PORT":    "5555",
		"PEERMESH_PUBSUB_TOPIC": "/a, /b",
	})
	s, err := Load([]string{"--tcp-port=6666", "--pubsub-topic", "/c"}, e)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag beats env and file", s.TCPPort, 6666},
		{"env beats file", s.RESTPort, 5555},
		{"file beats default", s.MetricsServerPort, 3333},
		{"file list", len(s.StaticNodes), 1},
		{"file string", s.LogFormat, "json"},
		{"file bool", s.PeerPersistence, false},
		{"flag list replaces env list", strings.Join(s.PubsubTopics, " "), "/c"},
		{"config file from env", s.ConfigFile, file},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestRepeatableFlagsAccumulate(t *testing.T) {
	s, err := Load([]string{"--pubsub-topic=/x", "--pubsub-topic=/y", "--staticnode", validPeer, "--rest=false"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.PubsubTopics, []string{"/x", "/y"}) || len(s.StaticNodes) != 1 || s.REST {
		t.Fatalf("got %+v", s)
	}
}

func TestEnvListIsCommaSeparated(t *testing.T) {
	s, err := Load(nil, env(map[string]string{"PEERMESH_PUBSUB_TOPIC": "/a,/b", "PEERMESH_REST": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.PubsubTopics, []string{"/a", "/b"}) || s.REST {
		t.Fatalf("got %+v", s)
	}
}

// Every class of invalid setting must fail with an error naming the setting.
func TestInvalidSettingsNameTheSetting(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.toml")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{name: "not an integer", args: []string{"--tcp-port=abc"}, want: "--tcp-port"},
		{name: "port out of range", args: []string{"--tcp-port=70000"}, want: "--tcp-port"},
		{name: "negative connections", args: []string{"--max-connections=0"}, want: "--max-connections"},
		{name: "store smaller than connections", args: []string{"--peer-store-capacity=3"}, want: "--peer-store-capacity"},
		{name: "negative colocation", args: []string{"--ip-colocation-limit=-1"}, want: "--ip-colocation-limit"},
		{name: "bad bool", args: []string{"--peer-persistence=maybe"}, want: "--peer-persistence"},
		{name: "bad ip", args: []string{"--listen-address=localhost:1"}, want: "--listen-address"},
		{name: "bad rest ip", args: []string{"--rest-address=nowhere"}, want: "--rest-address"},
		{name: "bad metrics port", args: []string{"--metrics-server-port=-5"}, want: "--metrics-server-port"},
		{name: "bad staticnode", args: []string{"--staticnode=/ip4/1.2.3.4/tcp/1"}, want: "--staticnode"},
		{name: "unparsable staticnode", args: []string{"--staticnode=hello"}, want: "--staticnode"},
		{name: "empty topic", args: []string{"--pubsub-topic="}, want: "--pubsub-topic"},
		{name: "cluster out of range", args: []string{"--cluster-id=65536"}, want: "--cluster-id"},
		{name: "shard not a number", args: []string{"--shard=x"}, want: "--shard"},
		{name: "shard beyond the network", args: []string{"--cluster-id=1", "--shard=8"}, want: "--shard"},
		{name: "shard beyond 1023", args: []string{"--num-shards-in-network=0", "--shard=1024"}, want: "--shard"},
		{name: "no topic at all", args: []string{"--num-shards-in-network=0"}, want: "no topic to relay"},
		{name: "bad max-msg-size", args: []string{"--max-msg-size=lots"}, want: "--max-msg-size"},
		{name: "bad websocket port", args: []string{"--websocket-support", "--websocket-port=70000"}, want: "--websocket-port"},
		{name: "wss without a certificate", args: []string{"--websocket-secure-support"}, want: "--websocket-secure-cert-path"},
		{name: "wss certificate missing", args: []string{"--websocket-secure-support", "--websocket-secure-cert-path=/nonexistent/cert.pem", "--websocket-secure-key-path=/nonexistent/key.pem"}, want: "--websocket-secure-cert-path"},
		{name: "wss paths but wss off", args: []string{"--websocket-secure-cert-path=/tmp/x.pem"}, want: "--websocket-secure-support"},
		{name: "bad node record", args: []string{"--staticnode=enr:-xyz"}, want: "--staticnode"},
		{name: "bad nodekey", args: []string{"--nodekey=abcd"}, want: "--nodekey"},
		{name: "all-zero nodekey", args: []string{"--nodekey=" + strings.Repeat("0", 64)}, want: "--nodekey"},
		{name: "nodekey at the curve order", args: []string{"--nodekey=fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"}, want: "--nodekey"},
		{name: "ports shifted beyond 65535", args: []string{"--ports-shift=6000"}, want: "--ports-shift"},
		{name: "negative ports shift", args: []string{"--ports-shift=-1"}, want: "--ports-shift"},
		{name: "status interval not a duration", args: []string{"--status-interval=often"}, want: "--status-interval"},
		{name: "status interval below a second", args: []string{"--status-interval=10ms"}, want: "--status-interval"},
		{name: "bad discv5 port", args: []string{"--discv5-udp-port=70000"}, want: "--discv5-udp-port"},
		{name: "multiaddr as bootstrap node", args: []string{"--discv5-bootstrap-node=/ip4/1.2.3.4/udp/9000"}, want: "--discv5-bootstrap-node"},
		{name: "bad bootstrap record", args: []string{"--discv5-bootstrap-node=enr:-xyz"}, want: "--discv5-bootstrap-node"},
		{name: "discv5 in the libp2p profile", args: []string{"--profile=libp2p", "--discv5-discovery"}, want: "--discv5-discovery"},
		{name: "bad peer-exchange node", args: []string{"--peer-exchange-node=/ip4/1.2.3.4/tcp/1"}, want: "--peer-exchange-node"},
		{name: "bad profile", args: []string{"--profile=eth"}, want: "--profile"},
		{name: "bad log level", args: []string{"--log-level=loud"}, want: "--log-level"},
		{name: "bad log format", args: []string{"--log-format=xml"}, want: "--log-format"},
		{name: "bad cache capacity", args: []string{"--rest-relay-cache-capacity=0"}, want: "--rest-relay-cache-capacity"},
		{name: "empty data dir", args: []string{"--data-dir="}, want: "--data-dir"},
		{name: "bad env value", env: map[string]string{"PEERMESH_MAX_CONNECTIONS": "lots"}, want: "PEERMESH_MAX_CONNECTIONS"},
		{name: "unknown flag", args: []string{"--no-such-flag"}, want: "no-such-flag"},
		{name: "stray argument", args: []string{"extra"}, want: "unexpected argument"},
		{name: "unknown file key", file: "tcp-prot = 1\n", want: `unknown key "tcp-prot"`},
		{name: "wrong file type", file: "staticnode = 5\n", want: "--staticnode"},
		{name: "malformed file", file: "tcp-port = = 1\n", want: "--config-file"},
		{name: "missing file", args: []string{"--config-file=" + missing}, want: "--config-file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append(args, "--config-file="+writeFile(t, c.file))
			}
			_, err := Load(args, env(c.env))
			if err == nil {
				t.Fatalf("Load(%v) succeeded, want an error mentioning %q", args, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	if _, err := Load([]string{"--help"}, env(nil)); !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: got %v, want ErrHelp", err)
	}
	var b bytes.Buffer
	Usage(&b)
	out := b.String()
	for _, st := range table {
		if !strings.Contains(out, "--"+st.name+"\n") || !strings.Contains(out, EnvName(st.name)) {
			t.Errorf("usage lacks --%s or its environment variable", st.name)
		}
	}
	for _, want := range []string{"default: 60000", "default: 50", "default: 150KiB", "default: 127.0.0.1", "--cluster-id", "--shard"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

// The topics a node relays follow nwaku's flags: every shard of the
// network by default (a fresh node on /waku/2/rs/0/0, as a fresh nwaku),
// --shard to choose, cluster 1 meaning The Waku Network's 8 shards, named
// --pubsub-topic alone or besides shards, and none with --relay=false.
func TestTopicsFromClusterAndShards(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{nil, []string{"/waku/2/rs/0/0"}},
		{[]string{"--cluster-id=1"}, []string{"/waku/2/rs/1/0", "/waku/2/rs/1/1", "/waku/2/rs/1/2", "/waku/2/rs/1/3",
			"/waku/2/rs/1/4", "/waku/2/rs/1/5", "/waku/2/rs/1/6", "/waku/2/rs/1/7"}},
		{[]string{"--cluster-id=1", "--shard=3", "--shard=0"}, []string{"/waku/2/rs/1/3", "/waku/2/rs/1/0"}},
		{[]string{"--cluster-id=16", "--num-shards-in-network=3"}, []string{"/waku/2/rs/16/0", "/waku/2/rs/16/1", "/waku/2/rs/16/2"}},
		{[]string{"--cluster-id=16", "--num-shards-in-network=0", "--shard=700"}, []string{"/waku/2/rs/16/700"}},
		{[]string{"--pubsub-topic=/waku/2/default-waku/proto"}, []string{"/waku/2/default-waku/proto"}},
		{[]string{"--shard=0", "--pubsub-topic=/x"}, []string{"/waku/2/rs/0/0", "/x"}},
		{[]string{"--relay=false"}, nil},
	}
	for _, c := range cases {
		s, err := Load(c.args, env(nil))
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := s.Topics(); !slices.Equal(got, c.want) {
			t.Errorf("%v: topics %v, want %v", c.args, got, c.want)
		}
	}
	s, err := Load(nil, env(map[string]string{"PEERMESH_SHARD": "1,2", "PEERMESH_CLUSTER_ID": "1"}))
	if err != nil || !slices.Equal(s.Topics(), []string{"/waku/2/rs/1/1", "/waku/2/rs/1/2"}) {
		t.Fatalf("shards from the environment: %v %v", s.Topics(), err)
	}
	f := writeFile(t, "shard = [4, 5]\ncluster-id = 2\nnum-shards-in-network = 8\n")
	if s, err = Load([]string{"--config-file=" + f}, env(nil)); err != nil || !slices.Equal(s.Topics(), []string{"/waku/2/rs/2/4", "/waku/2/rs/2/5"}) {
		t.Fatalf("shards from a file: %v %v", s.Topics(), err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"150KiB": 153600, "150KB": 150000, "1MiB": 1 << 20, "153600": 153600, "64 kib": 65536, "10B": 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "KiB", "-1", "1GiB", "0", "12 parsecs"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

// --ports-shift moves every port that is not 0, as nwaku's does.
func TestPortsShift(t *testing.T) {
	s, err := Load([]string{"--ports-shift=3", "--websocket-port=0"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := s.Shifted()
	if got.TCPPort != 60003 || got.WebSocketPort != 0 || got.Discv5UDPPort != 9003 || got.RESTPort != 8648 ||
		got.MetricsServerPort != 8011 || got.PortsShift != 0 {
		t.Fatalf("shifted %+v", got)
	}
}

func TestVersionAndUnknownEnv(t *testing.T) {
	if _, err := Load([]string{"--version"}, env(nil)); !errors.Is(err, ErrVersion) {
		t.Fatalf("--version: %v", err)
	}
	got := UnknownEnv([]string{"PEERMESH_TCP_PORT=1", "PEERMESH_TCP_PROT=1", "HOME=/", "PEERMESH_CLUSTERID=2"})
	if !slices.Equal(got, []string{"PEERMESH_CLUSTERID", "PEERMESH_TCP_PROT"}) {
		t.Fatalf("UnknownEnv = %v", got)
	}
}
