package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	gethlog "github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/discover"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/peermesh/peermesh/internal/slogx"
	"github.com/peermesh/peermesh/waku/enr"
)

// seedCount and seedMaxAge are go-ethereum's refresh parameters for the
// database's seed nodes (p2p/discover table.go): at most 30 nodes that
// answered within 5 days.
const (
	seedCount  = 30
	seedMaxAge = 5 * 24 * time.Hour
)

// ProtocolID is the discv5 packet header's protocol id of the Waku
// network (RFC 33): a discv5 network of its own, whose packets Ethereum's
// ("discv5") nodes do not parse, and the other way round.
var ProtocolID = [6]byte{'d', '5', 'w', 'a', 'k', 'u'}

// Discv5Config configures the discv5 listener.
type Discv5Config struct {
	// Key is the node key (secp256k1: the discv5 identity is the libp2p
	// one, so records found name the peer ids to dial).
	Key crypto.PrivKey
	// ListenIP and UDPPort are where discv5 listens (port 0: a free one).
	ListenIP net.IP
	UDPPort  int
	// Record is what the node's record says besides the UDP port: the IP
	// (Record.IP, the one announced), the TCP port, other multiaddrs,
	// waku2 and shards.
	Record enr.Local
	// BootstrapNodes are records (enr:…) to join the network through.
	BootstrapNodes []string
	// ENRAutoUpdate lets the IP in the record follow what peers see
	// (nwaku's --discv5-enr-auto-update); off, Record.IP stays.
	ENRAutoUpdate bool
	Logger        *slog.Logger
}

// Discv5 is a running discv5 listener (go-ethereum's p2p/discover v5 with
// the d5waku protocol id) and the node record it announces. It is the
// actor's Finder.
type Discv5 struct {
	udp  *discover.UDPv5
	ln   *enode.LocalNode
	db   *enode.DB
	conn *net.UDPConn
	self enode.ID
	boot []*enode.Node
}

// ListenDiscv5 binds the UDP socket, builds the node record (the
// multiaddrs that do not fit 300 bytes left out) and starts discv5.
func ListenDiscv5(cfg Discv5Config) (*Discv5, error) {
	if cfg.Key == nil || cfg.Key.Type() != crypto.Secp256k1 {
		return nil, enr.ErrKeyType
	}
	raw, err := cfg.Key.Raw()
	if err != nil {
		return nil, fmt.Errorf("discv5: node key: %w", err)
	}
	priv, err := gethcrypto.ToECDSA(raw)
	if err != nil {
		return nil, fmt.Errorf("discv5: node key: %w", err)
	}
	var boot []*enode.Node
	for _, b := range cfg.BootstrapNodes {
		n, err := enode.Parse(enode.ValidSchemes, b)
		if err != nil {
			return nil, fmt.Errorf("discv5: bootstrap node %.24q…: %w", b, err)
		}
		boot = append(boot, n)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: cfg.ListenIP, Port: cfg.UDPPort})
	if err != nil {
		return nil, fmt.Errorf("discv5: UDP port %d on %s: %w", cfg.UDPPort, cfg.ListenIP, err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	l := cfg.Record
	l.Key, l.UDPPort = cfg.Key, port
	// A LocalNode panics on a record it cannot sign: fit it first.
	_, dropped, err := enr.Build(l)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("discv5: node record: %w", err)
	}
	l.Multiaddrs = l.Multiaddrs[:len(l.Multiaddrs)-dropped]
	db, err := enode.OpenDB("")
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("discv5: node database: %w", err)
	}
	ln := enode.NewLocalNode(db, priv)
	for _, e := range l.Entries() {
		ln.Set(e)
	}
	if l.IP != nil {
		if cfg.ENRAutoUpdate {
			ln.SetFallbackIP(l.IP)
		} else {
			ln.SetStaticIP(l.IP)
		}
	}
	ln.SetFallbackUDP(port)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	udp, err := discover.ListenV5(conn, ln, discover.Config{
		PrivateKey:   priv,
		Bootnodes:    boot,
		V5ProtocolID: &ProtocolID,
		// go-ethereum logs every table event; an operator sees its
		// warnings.
		Log: gethlog.NewLogger(slogx.MinLevel{Handler: log.With("lib", "discv5").Handler(), Min: slog.LevelWarn}),
	})
	if err != nil {
		db.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("discv5: %w", err)
	}
	return &Discv5{udp: udp, ln: ln, db: db, conn: conn, self: ln.ID(), boot: boot}, nil
}

// ENR is the node record discv5 announces, in text form.
func (d *Discv5) ENR() string { return d.ln.Node().String() }

// UDPPort is the port discv5 listens on.
func (d *Discv5) UDPPort() int { return d.conn.LocalAddr().(*net.UDPAddr).Port }

// Find implements Finder with go-ethereum's random-lookup iterator, closed
// when n distinct records were read, maxReads nodes in all, timeout passed
// or ctx ended. It returns at once when the routing table is empty after
// the bootstrap refresh.
func (d *Discv5) Find(ctx context.Context, n, maxReads int, timeout time.Duration) ([][]byte, int, error) {
	// A bootstrap node missing from the table (it failed revalidation, e.g.
	// it was not up yet or did not answer in time on a loaded machine) is
	// put back here, each round, through the table's own loop; an empty
	// table also gets the database's recently answering nodes — what
	// go-ethereum's refresh loads. Without it a node that lost its bootstrap
	// node keeps only the peers that found it and can stay an island
	// (seen: 4 of 12 loopback nodes never learnt of the other 8); and
	// RandomNodes' refresh of an empty table adds them from a goroutine of
	// its own, writing the revalidation schedule the table loop reads
	// unlocked (go-ethereum v1.16.3 to v1.17.10): a data race the race
	// detector reported in 3 of 12 loopback discovery runs
	// (p2p/discover/table_reval.go:221 against :81).
	d.reseed()
	// Still empty (no bootstrap nodes, nothing in the database):
	// RandomNodes refreshes, loading nothing (so it cannot race), and waits
	// for the table's initial refresh, before which go-ethereum's table
	// refuses inbound contacts: a seed's first round ends after it, so
	// peers that contact the seed after that round are kept. When the
	// table is still empty, there is nothing to look up: return rather
	// than spin on empty lookups until the timeout.
	it := d.udp.RandomNodes()
	defer it.Close()
	if len(d.udp.AllNodes()) == 0 {
		return nil, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, it.Close)
	defer stop()
	seen := map[enode.ID]bool{d.self: true}
	var out [][]byte
	var errs []error
	for reads := 0; len(out) < n && reads < maxReads && it.Next(); reads++ {
		node := it.Node()
		if seen[node.ID()] {
			continue
		}
		seen[node.ID()] = true
		b, err := rlp.EncodeToBytes(node.Record())
		if err != nil {
			errs = append(errs, fmt.Errorf("encode record of %s: %w", node.ID(), err))
			continue
		}
		out = append(out, b)
	}
	return out, len(d.udp.AllNodes()), errors.Join(errs...)
}

// reseed adds the bootstrap nodes missing from the table, and the
// database's seed nodes when the table is empty, through the table's loop
// (UDPv5.AddKnownNode).
func (d *Discv5) reseed() {
	in := map[enode.ID]bool{}
	for _, n := range d.udp.AllNodes() {
		in[n.ID()] = true
	}
	seeds := d.boot
	if len(in) == 0 {
		seeds = append(slices.Clone(d.boot), d.db.QuerySeeds(seedCount, seedMaxAge)...)
	}
	for _, s := range seeds {
		if id := s.ID(); id != d.self && !in[id] {
			in[id] = true
			d.udp.AddKnownNode(s)
		}
	}
}

// Close stops discv5 and closes its socket.
func (d *Discv5) Close() {
	d.udp.Close()
	d.db.Close()
}
