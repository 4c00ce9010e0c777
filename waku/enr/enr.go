package enr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"

	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/p2p/enr"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Capability bits of the waku2 key.
const (
	CapRelay     uint8 = 1 << 0
	CapStore     uint8 = 1 << 1
	CapFilter    uint8 = 1 << 2
	CapLightpush uint8 = 1 << 3
	CapSync      uint8 = 1 << 4
)

// Keys of the Waku entries.
const (
	KeyWaku2      = "waku2"
	KeyMultiaddrs = "multiaddrs"
	KeyShards     = "rs"
	KeyShardsBits = "rsv"
)

// Prefix starts the text form of a record.
const Prefix = "enr:"

// MaxShards is the most shards the `rs` form can list.
const MaxShards = 255

// ErrKeyType: only secp256k1 keys sign Waku records.
var ErrKeyType = errors.New("enr: the node key is not secp256k1; Waku records need one")

// Local is what a node puts in its record.
type Local struct {
	// Key is the node's libp2p key; it must be secp256k1.
	Key crypto.PrivKey
	// Seq is the record's sequence number (higher replaces lower).
	Seq uint64
	// IP and TCPPort give the plain TCP address (ip/ip6 and tcp/tcp6);
	// nil IP leaves them out.
	IP      net.IP
	TCPPort int
	// UDPPort, when positive, is the discv5 port (udp/udp6); a record
	// without one is not a discv5 record.
	UDPPort int
	// Multiaddrs are further addresses (WebSocket, DNS), without /p2p.
	Multiaddrs []ma.Multiaddr
	// Waku2 is the capability bits (CapRelay for a relay node).
	Waku2 uint8
	// Cluster and Shards fill `rs`; no shards leaves it out.
	Cluster uint16
	Shards  []uint16
}

// Build signs a record of l and returns its text form ("enr:…"). When the
// record would exceed 300 bytes, multiaddrs are dropped from the end until
// it fits; dropped reports how many.
func Build(l Local) (text string, dropped int, err error) {
	if l.Key == nil || l.Key.Type() != crypto.Secp256k1 {
		return "", 0, ErrKeyType
	}
	raw, err := l.Key.Raw()
	if err != nil {
		return "", 0, fmt.Errorf("enr: node key: %w", err)
	}
	priv, err := gethcrypto.ToECDSA(raw)
	if err != nil {
		return "", 0, fmt.Errorf("enr: node key: %w", err)
	}
	if len(l.Shards) > MaxShards {
		return "", 0, fmt.Errorf("enr: %d shards, the rs entry holds at most %d", len(l.Shards), MaxShards)
	}
	for keep := len(l.Multiaddrs); keep >= 0; keep-- {
		var r enr.Record
		r.SetSeq(l.Seq)
		if ip4 := l.IP.To4(); ip4 != nil {
			r.Set(enr.IPv4(ip4))
		} else if l.IP != nil {
			r.Set(enr.IPv6(l.IP))
		}
		if l.UDPPort > 0 {
			if l.IP.To4() == nil && l.IP != nil {
				r.Set(enr.UDP6(l.UDPPort))
			} else {
				r.Set(enr.UDP(l.UDPPort))
			}
		}
		kept := l
		kept.Multiaddrs = l.Multiaddrs[:keep]
		for _, e := range kept.Entries() {
			r.Set(e)
		}
		err := enode.SignV4(&r, priv)
		if err == nil {
			n, err := enode.New(enode.ValidSchemes, &r)
			if err != nil {
				return "", 0, fmt.Errorf("enr: %w", err)
			}
			return n.String(), len(l.Multiaddrs) - keep, nil
		}
		if keep == 0 {
			return "", 0, fmt.Errorf("enr: sign: %w", err)
		}
	}
	panic("unreachable")
}

// Entries are the record's entries besides its identity, ip/ip6 and
// udp/udp6: the TCP port, multiaddrs, waku2 and rs. They are what a record
// kept by go-ethereum's enode.LocalNode (discv5) is given; the LocalNode
// sets the IP and UDP entries itself. Fit l first (Build reports what did
// not fit): a LocalNode cannot sign a record beyond 300 bytes.
func (l Local) Entries() []enr.Entry {
	var out []enr.Entry
	if l.IP != nil {
		if l.IP.To4() != nil {
			out = append(out, enr.TCP(l.TCPPort))
		} else {
			out = append(out, enr.TCP6(l.TCPPort))
		}
	}
	if len(l.Multiaddrs) > 0 {
		out = append(out, enr.WithEntry(KeyMultiaddrs, EncodeMultiaddrs(l.Multiaddrs)))
	}
	out = append(out, enr.WithEntry(KeyWaku2, l.Waku2))
	if len(l.Shards) > 0 {
		out = append(out, enr.WithEntry(KeyShards, EncodeShards(l.Cluster, l.Shards)))
	}
	return out
}

// EncodeMultiaddrs is the `multiaddrs` value: each address as a 16-bit
// big-endian length and its binary form.
func EncodeMultiaddrs(addrs []ma.Multiaddr) []byte {
	var out []byte
	for _, a := range addrs {
		b := a.Bytes()
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

// DecodeMultiaddrs reads a `multiaddrs` value.
func DecodeMultiaddrs(b []byte) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("enr: multiaddrs: truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > len(b) {
			return nil, fmt.Errorf("enr: multiaddrs: %d bytes announced, %d left", n, len(b))
		}
		a, err := ma.NewMultiaddrBytes(b[:n])
		if err != nil {
			return nil, fmt.Errorf("enr: multiaddrs: %w", err)
		}
		out = append(out, a)
		b = b[n:]
	}
	return out, nil
}

// EncodeShards is the `rs` value: cluster, count, shards, all big-endian.
func EncodeShards(cluster uint16, shards []uint16) []byte {
	out := binary.BigEndian.AppendUint16(nil, cluster)
	out = append(out, byte(len(shards)))
	for _, s := range shards {
		out = binary.BigEndian.AppendUint16(out, s)
	}
	return out
}

// DecodeShards reads an `rs` value.
func DecodeShards(b []byte) (cluster uint16, shards []uint16, err error) {
	if len(b) < 3 {
		return 0, nil, fmt.Errorf("enr: rs: %d bytes, want at least 3", len(b))
	}
	cluster, n := binary.BigEndian.Uint16(b), int(b[2])
	if len(b) != 3+2*n {
		return 0, nil, fmt.Errorf("enr: rs: %d shards announced in %d bytes", n, len(b))
	}
	for i := range n {
		shards = append(shards, binary.BigEndian.Uint16(b[3+2*i:]))
	}
	return cluster, shards, nil
}

// DecodeShardsBits reads an `rsv` value: cluster and a 1024-bit vector,
// shard s at byte 2+s/8, bit s%8 from the least significant (nwaku's and
// go-waku's order).
func DecodeShardsBits(b []byte) (cluster uint16, shards []uint16, err error) {
	if len(b) != 2+128 {
		return 0, nil, fmt.Errorf("enr: rsv: %d bytes, want 130", len(b))
	}
	for s := range 1024 {
		if b[2+s/8]&(1<<(s%8)) != 0 {
			shards = append(shards, uint16(s))
		}
	}
	return binary.BigEndian.Uint16(b), shards, nil
}

// Record is what a Waku record says, verified.
type Record struct {
	PeerID peer.ID
	Seq    uint64
	// Addrs are the record's addresses (ip/tcp, ip6/tcp6, multiaddrs),
	// without /p2p.
	Addrs []ma.Multiaddr
	// Waku2 is the capability bits (0 when absent).
	Waku2 uint8
	// HasShards says whether rs or rsv was present.
	HasShards bool
	Cluster   uint16
	Shards    []uint16
	// Raw is the record's RLP form (what peer exchange carries).
	Raw []byte
}

// AddrInfo is the record's peer and addresses, to dial.
func (r Record) AddrInfo() peer.AddrInfo { return peer.AddrInfo{ID: r.PeerID, Addrs: r.Addrs} }

// Parse reads and verifies a record in text form ("enr:…").
func Parse(text string) (Record, error) {
	n, err := enode.Parse(enode.ValidSchemes, text)
	if err != nil {
		return Record{}, fmt.Errorf("enr: %w", err)
	}
	return FromNode(n)
}

// MaxRecordSize is EIP-778's limit on an encoded record, bytes.
const MaxRecordSize = 300

// DecodeRLP reads and verifies a record in its binary (RLP) form, as peer
// exchange carries it.
func DecodeRLP(b []byte) (Record, error) {
	if len(b) > MaxRecordSize {
		return Record{}, fmt.Errorf("enr: %d bytes, more than %d", len(b), MaxRecordSize)
	}
	var r enr.Record
	if err := rlp.DecodeBytes(b, &r); err != nil {
		return Record{}, fmt.Errorf("enr: %w", err)
	}
	n, err := enode.New(enode.ValidSchemes, &r)
	if err != nil {
		return Record{}, fmt.Errorf("enr: %w", err)
	}
	return FromNode(n)
}

// FromNode reads the Waku entries of a verified record (as discv5 hands
// them over).
func FromNode(n *enode.Node) (Record, error) {
	pub := n.Pubkey()
	if pub == nil {
		return Record{}, errors.New("enr: no secp256k1 key")
	}
	lpub, err := crypto.UnmarshalSecp256k1PublicKey(gethcrypto.CompressPubkey(pub))
	if err != nil {
		return Record{}, fmt.Errorf("enr: public key: %w", err)
	}
	id, err := peer.IDFromPublicKey(lpub)
	if err != nil {
		return Record{}, fmt.Errorf("enr: peer id: %w", err)
	}
	rlpForm, err := rlp.EncodeToBytes(n.Record())
	if err != nil {
		return Record{}, fmt.Errorf("enr: encode: %w", err)
	}
	out := Record{PeerID: id, Seq: n.Seq(), Raw: rlpForm}
	if ap, ok := n.TCPEndpoint(); ok {
		if a, err := ma.NewMultiaddr(fmt.Sprintf("/%s/%s/tcp/%d", ipProto(ap.Addr().Is4()), ap.Addr(), ap.Port())); err == nil {
			out.Addrs = append(out.Addrs, a)
		}
	}
	var raw []byte
	if n.Load(enr.WithEntry(KeyMultiaddrs, &raw)) == nil {
		addrs, err := DecodeMultiaddrs(raw)
		if err != nil {
			return Record{}, err
		}
		out.Addrs = append(out.Addrs, addrs...)
	}
	var w2 rlp.RawValue
	if n.Load(enr.WithEntry(KeyWaku2, &w2)) == nil {
		var b []byte
		if err := rlp.DecodeBytes(w2, &b); err != nil {
			return Record{}, fmt.Errorf("enr: waku2: %w", err)
		}
		if len(b) > 1 {
			return Record{}, fmt.Errorf("enr: waku2: %d bytes, want 1", len(b))
		}
		if len(b) == 1 {
			out.Waku2 = b[0]
		}
	}
	if n.Load(enr.WithEntry(KeyShards, &raw)) == nil {
		if out.Cluster, out.Shards, err = DecodeShards(raw); err != nil {
			return Record{}, err
		}
		out.HasShards = true
	} else if n.Load(enr.WithEntry(KeyShardsBits, &raw)) == nil {
		if out.Cluster, out.Shards, err = DecodeShardsBits(raw); err != nil {
			return Record{}, err
		}
		out.HasShards = true
	}
	out.Addrs = slices.CompactFunc(out.Addrs, func(a, b ma.Multiaddr) bool { return a.Equal(b) })
	return out, nil
}

func ipProto(v4 bool) string {
	if v4 {
		return "ip4"
	}
	return "ip6"
}
