package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// EnvPrefix starts the environment variable of every setting.
const EnvPrefix = "PEERMESH_"

// ErrHelp is returned by Load when --help or -h was given.
var ErrHelp = flag.ErrHelp

// ErrVersion is returned by Load when --version was given.
var ErrVersion = errors.New("version requested")

// Name is the program's name in usage and version output.
const Name = "peermesh"

// setting describes one configurable value. field returns a pointer into a
// Settings (*string, *int, *bool, *[]string or *Profile), so defaults, help
// and parsing all come from this one table.
type setting struct {
	name  string
	help  string
	field func(*Settings) any
}

var table = []setting{
	{"config-file", "TOML file of settings (keys are the flag names)", func(s *Settings) any { return &s.ConfigFile }},
	{"nodekey", "P2P node private key as 64 hex digits (secp256k1); empty: the key kept in --data-dir, created on first start", func(s *Settings) any { return &s.NodeKey }},
	{"data-dir", "directory for the node key and the peer store", func(s *Settings) any { return &s.DataDir }},
	{"profile", "gossipsub profile: waku (/vac/waku/relay/2.0.0, WakuMessage data) or libp2p (/meshsub/1.x, signed)", func(s *Settings) any { return &s.Profile }},
	{"listen-address", "IP address to listen on for libp2p TCP", func(s *Settings) any { return &s.ListenAddress }},
	{"tcp-port", "TCP port for libp2p (0 picks a free port)", func(s *Settings) any { return &s.TCPPort }},
	{"websocket-support", "also listen for libp2p over WebSocket (what js-waku dials)", func(s *Settings) any { return &s.WebSocketSupport }},
	{"websocket-port", "WebSocket port for libp2p (0 picks a free port)", func(s *Settings) any { return &s.WebSocketPort }},
	{"websocket-secure-support", "serve the WebSocket listener as secure WebSocket (wss, what js-waku's default node dials); implies --websocket-support", func(s *Settings) any { return &s.WebSocketSecureSupport }},
	{"websocket-secure-cert-path", "PEM certificate (chain) for --websocket-secure-support", func(s *Settings) any { return &s.WebSocketSecureCertPath }},
	{"websocket-secure-key-path", "PEM private key for --websocket-secure-support", func(s *Settings) any { return &s.WebSocketSecureKeyPath }},
	{"staticnode", "peer to keep connected to: multiaddr with /p2p/<id>, or a node record enr:… (repeatable)", func(s *Settings) any { return &s.StaticNodes }},
	{"relay", "run Waku relay (gossipsub); false joins no topic", func(s *Settings) any { return &s.Relay }},
	{"cluster-id", "Waku cluster id; peers of other clusters are disconnected (1 is The Waku Network: 8 shards)", func(s *Settings) any { return &s.ClusterID }},
	{"shard", "shard of the cluster to relay, /waku/2/rs/<cluster-id>/<shard> (repeatable); default: every shard of the network, unless --pubsub-topic is given", func(s *Settings) any { return &s.Shards }},
	{"num-shards-in-network", "shards autosharding maps content topics onto (0: static sharding only); -1 means 1, or 8 on cluster 1", func(s *Settings) any { return &s.NumShardsInNetwork }},
	{"pubsub-topic", "named pubsub topic to relay besides the shards (repeatable); given without --shard, only these", func(s *Settings) any { return &s.PubsubTopics }},
	{"max-msg-size", "largest WakuMessage relayed or published, e.g. 150KiB, 1MiB or bytes", func(s *Settings) any { return &s.MaxMsgSize }},
	{"discv5-discovery", "find peers with discv5 (Waku's discv5 network, protocol id d5waku)", func(s *Settings) any { return &s.Discv5Discovery }},
	{"discv5-udp-port", "UDP port of discv5 (0 picks a free port)", func(s *Settings) any { return &s.Discv5UDPPort }},
	{"discv5-bootstrap-node", "node record (enr:…) to join discv5 through (repeatable)", func(s *Settings) any { return &s.Discv5BootstrapNodes }},
	{"discv5-enr-auto-update", "let the IP in the node record follow what discv5 peers see (behind NAT)", func(s *Settings) any { return &s.Discv5ENRAutoUpdate }},
	{"peer-exchange", "serve Waku peer exchange: records of peers found through discv5, rate-limited", func(s *Settings) any { return &s.PeerExchange }},
	{"peer-exchange-node", "peer to ask for peers (Waku peer exchange) when the node has too few: multiaddr with /p2p/<id> or enr:…", func(s *Settings) any { return &s.PeerExchangeNode }},
	{"max-connections", "maximum number of libp2p connections", func(s *Settings) any { return &s.MaxConnections }},
	{"peer-store-capacity", "maximum number of peers in the peer store; 0 means 5 × max-connections", func(s *Settings) any { return &s.PeerStoreCapacity }},
	{"peer-persistence", "keep peers in the data directory and reconnect to them after a restart", func(s *Settings) any { return &s.PeerPersistence }},
	{"peer-store-move-corrupt", "if the peer store file is corrupt, rename it to peers.db.corrupt-<time> and start with an empty store (static nodes are still dialed); false refuses to start", func(s *Settings) any { return &s.PeerStoreMoveCorrupt }},
	{"ip-colocation-limit", "maximum peers from one IP address; 0 disables the limit", func(s *Settings) any { return &s.IPColocationLimit }},
	{"relay-peer-exchange", "send and accept gossipsub peer exchange on PRUNE", func(s *Settings) any { return &s.RelayPeerExchange }},
	{"strict-scoring", "waku profile: score mesh message deliveries (P3, P3b) so silent mesh peers are pruned; off scores like nwaku", func(s *Settings) any { return &s.StrictScoring }},
	{"rest", "enable the REST API server", func(s *Settings) any { return &s.REST }},
	{"rest-address", "listening address of the REST server", func(s *Settings) any { return &s.RESTAddress }},
	{"rest-port", "listening port of the REST server", func(s *Settings) any { return &s.RESTPort }},
	{"rest-admin", "serve the admin routes /admin/v1/* (peers, scores, log level)", func(s *Settings) any { return &s.RESTAdmin }},
	{"rest-allow-origin", "origin browsers may call the REST API from, * and ? as wildcards, e.g. http://localhost:* (repeatable)", func(s *Settings) any { return &s.RESTAllowOrigins }},
	{"rest-relay-cache-capacity", "messages kept per topic for GET /relay/v1/messages (oldest dropped when full)", func(s *Settings) any { return &s.RESTRelayCacheCapacity }},
	{"metrics-server", "enable the Prometheus /metrics server", func(s *Settings) any { return &s.MetricsServer }},
	{"metrics-server-address", "listening address of the metrics server", func(s *Settings) any { return &s.MetricsServerAddress }},
	{"metrics-server-port", "listening port of the metrics server", func(s *Settings) any { return &s.MetricsServerPort }},
	{"log-level", "log level: debug, info, warn, error", func(s *Settings) any { return &s.LogLevel }},
	{"log-format", "log format: text or json", func(s *Settings) any { return &s.LogFormat }},
	{"status-interval", "how often to log the status line (relay peers against targets, mesh per shard, messages/s, drops); 0 turns it off", func(s *Settings) any { return &s.StatusInterval }},
	{"ports-shift", "add this to every port that is not 0 (tcp, websocket, discv5, rest, metrics)", func(s *Settings) any { return &s.PortsShift }},
}

// EnvName is the environment variable of the setting called name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// rawFlag collects the raw strings given for one flag; parsing happens later
// so that every source goes through the same conversion and error text.
type rawFlag struct {
	values []string
	isBool bool
}

func (f *rawFlag) String() string     { return strings.Join(f.values, ",") }
func (f *rawFlag) Set(v string) error { f.values = append(f.values, v); return nil }
func (f *rawFlag) IsBoolFlag() bool   { return f.isBool }

// Load builds Settings from args (without the program name), the
// environment (through lookupEnv, usually os.LookupEnv) and the TOML file
// named by --config-file or PEERMESH_CONFIG_FILE, then validates them.
func Load(args []string, lookupEnv func(string) (string, bool)) (Settings, error) {
	fs := flag.NewFlagSet("peermesh", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	base := Default()
	raws := make(map[string]*rawFlag, len(table))
	for _, st := range table {
		_, isBool := st.field(&base).(*bool)
		r := &rawFlag{isBool: isBool}
		raws[st.name] = r
		fs.Var(r, st.name, st.help)
	}
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Settings{}, ErrHelp
		}
		return Settings{}, fmt.Errorf("invalid command line: %w", err)
	}
	if *version {
		return Settings{}, ErrVersion
	}
	if fs.NArg() > 0 {
		return Settings{}, fmt.Errorf("invalid command line: unexpected argument %q (settings are given as --name=value)", fs.Arg(0))
	}

	s := Default()
	// The file name itself follows flag > env.
	file := ""
	if v, ok := lookupEnv(EnvName("config-file")); ok {
		file = v
	}
	if r := raws["config-file"]; len(r.values) > 0 {
		file = r.values[len(r.values)-1]
	}
	if file != "" {
		if err := applyFile(&s, file); err != nil {
			return Settings{}, err
		}
	}
	for _, st := range table {
		v, ok := lookupEnv(EnvName(st.name))
		if !ok {
			continue
		}
		var vals []string
		switch st.field(&s).(type) {
		case *[]string, *[]int:
			vals = splitList(v)
		default:
			vals = []string{v}
		}
		if err := assign(&s, st, vals, "environment variable "+EnvName(st.name)); err != nil {
			return Settings{}, err
		}
	}
	for _, st := range table {
		if r := raws[st.name]; len(r.values) > 0 {
			if err := assign(&s, st, r.values, "flag"); err != nil {
				return Settings{}, err
			}
		}
	}
	s.ConfigFile = file
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// applyFile reads a TOML file whose keys are setting names. Unknown keys are
// errors: a misspelt key silently ignored is a misconfigured node.
func applyFile(s *Settings, path string) error {
	var doc map[string]any
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		return &Error{Setting: "config-file", Reason: fmt.Sprintf("read %s: %v", path, err)}
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		st, ok := lookup(k)
		if !ok || k == "config-file" {
			return &Error{Setting: "config-file", Reason: fmt.Sprintf("%s: unknown key %q", path, k)}
		}
		vals, err := tomlStrings(doc[k])
		if err != nil {
			return &Error{Setting: k, Reason: fmt.Sprintf("in %s: %v", path, err)}
		}
		if err := assign(s, st, vals, "key in "+path); err != nil {
			return err
		}
	}
	return nil
}

func tomlStrings(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case int64:
		return []string{strconv.FormatInt(x, 10)}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			switch v := e.(type) {
			case string:
				out = append(out, v)
			case int64:
				out = append(out, strconv.FormatInt(v, 10))
			default:
				return nil, fmt.Errorf("array element %v is not a string or an integer", e)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value %v (%T)", v, v)
}

func lookup(name string) (setting, bool) {
	for _, st := range table {
		if st.name == name {
			return st, true
		}
	}
	return setting{}, false
}

// assign converts vals and stores them in the field of st. A list takes all
// values (replacing what a lower-precedence source gave); a scalar takes the
// last one, like repeated flags do.
func assign(s *Settings, st setting, vals []string, source string) error {
	bad := func(v, want string) error {
		return &Error{Setting: st.name, Reason: fmt.Sprintf("%q from %s is not %s", v, source, want)}
	}
	if len(vals) == 0 {
		return nil
	}
	last := strings.TrimSpace(vals[len(vals)-1])
	switch p := st.field(s).(type) {
	case *string:
		*p = last
	case *Profile:
		*p = Profile(strings.ToLower(last))
	case *int:
		n, err := strconv.Atoi(last)
		if err != nil {
			return bad(last, "an integer")
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(last)
		if err != nil {
			return bad(last, "true or false")
		}
		*p = b
	case *[]string:
		*p = append([]string(nil), vals...)
	case *[]int:
		out := make([]int, 0, len(vals))
		for _, v := range vals {
			for _, part := range splitList(v) {
				n, err := strconv.Atoi(part)
				if err != nil {
					return bad(part, "an integer")
				}
				out = append(out, n)
			}
		}
		*p = out
	default:
		panic(fmt.Sprintf("config: setting %s has unsupported type %T", st.name, p))
	}
	return nil
}

// Usage writes every setting with its default and environment variable.
func Usage(w io.Writer) {
	def := Default()
	fmt.Fprintf(w, "Usage: %s [--setting=value ...]\n       %s --version | --help\n\n", Name, Name)
	fmt.Fprintf(w, "Each setting is also read from the environment variable shown and from the TOML\n")
	fmt.Fprintf(w, "file of --config-file (key = flag name). Precedence: flag > environment > file > default.\n\n")
	for _, st := range table {
		fmt.Fprintf(w, "  --%s\n", st.name)
		fmt.Fprintf(w, "        %s\n", st.help)
		fmt.Fprintf(w, "        default: %s; env %s\n", defaultText(st.field(&def)), EnvName(st.name))
	}
}

func defaultText(p any) string {
	switch x := p.(type) {
	case *string:
		if *x == "" {
			return `""`
		}
		return *x
	case *Profile:
		return string(*x)
	case *int:
		return strconv.Itoa(*x)
	case *bool:
		return strconv.FormatBool(*x)
	case *[]string:
		if len(*x) == 0 {
			return "none"
		}
		return strings.Join(*x, ",")
	case *[]int:
		if len(*x) == 0 {
			return "none"
		}
		return fmt.Sprint(*x)
	}
	return fmt.Sprint(p)
}

// UnknownEnv lists the PEERMESH_* variables of environ (os.Environ's
// "NAME=value" form) that name no setting: most likely misspelt, and
// otherwise silently ignored.
func UnknownEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		known := false
		for _, st := range table {
			if EnvName(st.name) == name {
				known = true
				break
			}
		}
		if !known {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// LookupEnv is os.LookupEnv, named here so callers read Load(args, config.LookupEnv).
var LookupEnv = os.LookupEnv
