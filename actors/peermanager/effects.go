package peermanager

import (
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// Effects is what one call of the core asks the shell to do, as data (like
// raft's Ready). The actor executes them in this order: storage first (so a
// record is queued for disk before anything observable happens), metrics
// (so whoever reads them after an answer sees them), then disconnects,
// dials, replies, logs and the kick.
type Effects struct {
	// Puts and Deletes go to the storage actor.
	Puts    []*peerv1.PeerRecord
	Deletes []peer.ID
	// Disconnects close every connection to a peer (I/O, done by the shell).
	Disconnects []Disconnect
	// Dials go to the dial pool as DialPeer requests.
	Dials []Dial
	// Replies answer requests; Token is the one the shell passed in.
	Replies []Reply
	// Metrics are counter increments and gauge sets.
	Metrics []MetricOp
	// Logs are structured log lines.
	Logs []Log
	// Kick asks for a connectivity round soon (a relay peer left).
	Kick bool
}

// Disconnect asks the shell to close the connections to Peer.
type Disconnect struct {
	Peer   peer.ID
	Reason string
}

// Dial asks the pool to connect to Peer (and negotiate Protocol when set).
type Dial struct {
	Peer     peer.ID
	Addrs    [][]byte
	Source   dialerv1.DialSource
	Protocol string
	Timeout  time.Duration
}

// Reply is the answer to the request the shell registered under Token.
type Reply struct {
	Token uint64
	Msg   proto.Message
}

// MetricName names a metric of metrics.go.
type MetricName uint8

// The metrics the core updates; names follow the seed.
const (
	// MetricErrors is waku_peers_errors{type}.
	MetricErrors MetricName = iota + 1
	// MetricConnsInitiated is peermesh_peermanager_conns_initiated_total{source}
	// (the dial pool exports the node-wide waku_node_conns_initiated).
	MetricConnsInitiated
	// MetricServicePeers is waku_service_peers{protocol,peerId} (gauge set).
	MetricServicePeers
	// MetricPruned is peermesh_peermanager_pruned_total{reason}: peers
	// disconnected or deleted by a limit.
	MetricPruned
	// MetricDialsDeferred is peermesh_peermanager_dials_deferred_total{reason}.
	MetricDialsDeferred
	// MetricConnectedPeers is waku_connected_peers{direction,protocol}.
	MetricConnectedPeers
	// MetricStoreSize is waku_peer_store_size.
	MetricStoreSize
)

// MetricOp adds Value to a counter, sets a gauge when Set, removes one
// series when Delete, or clears every series of the metric when Reset.
type MetricOp struct {
	Name   MetricName
	Labels []string
	Value  float64
	Set    bool
	Delete bool
	Reset  bool
}

// Log is one structured log line.
type Log struct {
	Level slog.Level
	Msg   string
	Args  []any
}

func (e *Effects) put(r *peerv1.PeerRecord) { e.Puts = append(e.Puts, r) }

func (e *Effects) reply(token uint64, m proto.Message) {
	if token != 0 {
		e.Replies = append(e.Replies, Reply{Token: token, Msg: m})
	}
}

func (e *Effects) count(name MetricName, label string) {
	e.Metrics = append(e.Metrics, MetricOp{Name: name, Labels: []string{label}, Value: 1})
}

// errorf counts waku_peers_errors{type} and logs at warn level.
func (e *Effects) errorf(typ, msg string, args ...any) {
	e.count(MetricErrors, typ)
	e.log(slog.LevelWarn, msg, append(args, "type", typ)...)
}

func (e *Effects) log(level slog.Level, msg string, args ...any) {
	e.Logs = append(e.Logs, Log{Level: level, Msg: msg, Args: args})
}

// Empty reports whether there is nothing to do.
func (e *Effects) Empty() bool {
	return len(e.Puts) == 0 && len(e.Deletes) == 0 && len(e.Disconnects) == 0 && len(e.Dials) == 0 &&
		len(e.Replies) == 0 && len(e.Metrics) == 0 && len(e.Logs) == 0 && !e.Kick
}
