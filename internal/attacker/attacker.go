package attacker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// Config configures an Attacker.
type Config struct {
	// Protocols are offered on the attacker's outbound stream (most
	// preferred first) and accepted for the target's inbound stream.
	// Default: the Waku profile's ids.
	Protocols []protocol.ID
	// MaxFrame bounds frames read from targets. Default wire.MaxFrameDefault.
	MaxFrame int
	// MaxRecorded bounds the messages and PRUNEs kept per target (the rest
	// are counted only). Default 1024.
	MaxRecorded int
	// Join makes the attacker a sybil: it subscribes to and GRAFTs these
	// topics on every stream it opens, and re-GRAFTs after each PRUNE.
	Join []string
	// RegraftDelay is added to a PRUNE's backoff before re-GRAFTing (the
	// evaluation's "bad boy" waited up to 15 s plus a minute). A PRUNE
	// without backoff is answered after RegraftDelay alone. Default 1 s.
	RegraftDelay time.Duration
	// ForwardFor makes the attacker relay, for this long after New, every
	// message it receives to every other peer it has a stream with (once per
	// message id), and then stop: the "covert flash" sybil of the gossipsub
	// v1.1 evaluation, which earns a good score before going silent. Zero:
	// never forward.
	ForwardFor time.Duration
	// Censor, with ForwardFor, names the messages the attacker withholds
	// while relaying the rest: the evaluation's censoring sybils, which keep
	// a good score by forwarding everything but one publisher's messages.
	Censor func(*gossipsubv1.Message) bool
	// MsgID identifies messages for ForwardFor's duplicate check. Default
	// wire.MsgIDSHA256Data (the Waku id).
	MsgID wire.MsgIDFn
	// MaxSeen bounds the ids remembered for that check (oldest forgotten
	// first). Default 4096.
	MaxSeen int
	// ResetInbound makes the attacker reset every stream a target opens to
	// it, right after accepting it (counted in Record.InboundStreams): a
	// peer whose end of our stream keeps failing.
	ResetInbound bool
	// OpenTimeout bounds opening an outbound stream. Default 10 s.
	OpenTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if len(c.Protocols) == 0 {
		c.Protocols = wire.ProfileWaku.Protocols()
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = wire.MaxFrameDefault
	}
	if c.MaxRecorded <= 0 {
		c.MaxRecorded = 1024
	}
	if c.RegraftDelay <= 0 {
		c.RegraftDelay = time.Second
	}
	if c.MsgID == nil {
		c.MsgID = wire.MsgIDSHA256Data
	}
	if c.MaxSeen <= 0 {
		c.MaxSeen = 4096
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// outStream is the attacker's stream to one target. Writes are serialised by
// mu because tests and re-GRAFT timers may send concurrently.
type outStream struct {
	mu sync.Mutex
	s  network.Stream
	w  *wire.Writer
}

// Attacker is an adversarial gossipsub peer on a host. Its methods are safe
// for concurrent use.
type Attacker struct {
	h   host.Host
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	out     map[peer.ID]*outStream
	stale   map[*outStream]struct{} // replaced by OpenAnother, until the target ends them
	in      map[peer.ID]network.Stream
	rec     map[peer.ID]*Record
	changed chan struct{} // closed and replaced on every record change
	timers  map[*time.Timer]struct{}
	closed  bool
	stalled map[peer.ID]bool // StopReading: their inbound streams are not read
	wg      sync.WaitGroup

	// Forwarding (Config.ForwardFor): until forwardUntil, each new id in
	// seen (FIFO order in seenOrder, at most MaxSeen) is relayed once.
	forwardUntil time.Time
	seen         map[string]struct{}
	seenOrder    []string
}

// New installs the attacker's stream handlers on h. Close removes them; the
// host itself stays the caller's.
func New(h host.Host, cfg Config) *Attacker {
	cfg.defaults()
	a := &Attacker{
		h: h, cfg: cfg, log: cfg.Logger.With("attacker", h.ID().ShortString()),
		out: map[peer.ID]*outStream{}, stale: map[*outStream]struct{}{}, in: map[peer.ID]network.Stream{}, rec: map[peer.ID]*Record{},
		changed: make(chan struct{}), timers: map[*time.Timer]struct{}{}, stalled: map[peer.ID]bool{},
		seen: map[string]struct{}{},
	}
	if cfg.ForwardFor > 0 {
		// Only the attack's own schedule reads the clock; in a synctest
		// bubble it is the bubble's.
		a.forwardUntil = time.Now().Add(cfg.ForwardFor)
	}
	for _, p := range cfg.Protocols {
		h.SetStreamHandler(p, a.handleStream)
	}
	return a
}

// Host is the attacker's host.
func (a *Attacker) Host() host.Host { return a.h }

// ID is the attacker's peer id.
func (a *Attacker) ID() peer.ID { return a.h.ID() }

// Connect connects to target and opens the attacker's gossipsub stream to it
// (with Config.Join, announcing and grafting those topics).
func (a *Attacker) Connect(ctx context.Context, target peer.AddrInfo) error {
	if err := a.h.Connect(ctx, target); err != nil {
		return fmt.Errorf("attacker: connect %s: %w", target.ID.ShortString(), err)
	}
	return a.Open(ctx, target.ID)
}

// Open opens the attacker's gossipsub stream to an already connected peer,
// unless one is open.
func (a *Attacker) Open(ctx context.Context, p peer.ID) error { return a.open(ctx, p, false) }

// OpenAnother opens a new gossipsub stream to p even when one is open, and
// sends on the new one from then on; the old one is left to the target (a
// stream flood).
func (a *Attacker) OpenAnother(ctx context.Context, p peer.ID) error { return a.open(ctx, p, true) }

func (a *Attacker) open(ctx context.Context, p peer.ID, another bool) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errors.New("attacker: closed")
	}
	if _, ok := a.out[p]; ok && !another {
		a.mu.Unlock()
		return nil
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, a.cfg.OpenTimeout)
	defer cancel()
	s, err := a.h.NewStream(ctx, p, a.cfg.Protocols...)
	if err != nil {
		return fmt.Errorf("attacker: open stream to %s: %w", p.ShortString(), err)
	}
	os := &outStream{s: s, w: wire.NewWriter(s, 1<<62, wire.WithFlushThreshold(0))}
	a.mu.Lock()
	if a.closed || (a.out[p] != nil && !another) {
		a.mu.Unlock()
		_ = s.Reset() // lost a race with Close or another Open
		return nil
	}
	if old := a.out[p]; old != nil {
		a.stale[old] = struct{}{}
	}
	a.out[p] = os
	r := a.recordLocked(p)
	r.OutboundOpen, r.OutboundClosed, r.OutboundErr, r.Protocol = true, false, "", string(s.Protocol())
	a.notifyLocked()
	a.wg.Add(1)
	a.mu.Unlock()
	go a.watchOutbound(p, os)
	if len(a.cfg.Join) > 0 {
		if err := a.Send(p, JoinRPC(a.cfg.Join...)); err != nil {
			return err
		}
	}
	return nil
}

// watchOutbound reads from the attacker's own write-only stream: the target
// never writes on it, so the read returns only when the target closes or
// resets it (go-libp2p-pubsub detects peer death the same way).
func (a *Attacker) watchOutbound(p peer.ID, os *outStream) {
	defer a.wg.Done()
	var b [1]byte
	_, err := os.s.Read(b[:])
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.stale, os)
	if a.out[p] != os {
		return
	}
	delete(a.out, p)
	r := a.recordLocked(p)
	r.OutboundOpen, r.OutboundClosed = false, true
	if err != nil {
		r.OutboundErr = err.Error()
	}
	a.notifyLocked()
}

// Send writes rpcs to p's stream, one frame each, in one write.
func (a *Attacker) Send(p peer.ID, rpcs ...*gossipsubv1.RPC) error {
	os, err := a.stream(p)
	if err != nil {
		return err
	}
	os.mu.Lock()
	defer os.mu.Unlock()
	for _, rpc := range rpcs {
		if err := os.w.Write(rpc); err != nil {
			return fmt.Errorf("attacker: encode rpc for %s: %w", p.ShortString(), err)
		}
	}
	if err := os.w.Flush(); err != nil {
		return fmt.Errorf("attacker: write to %s: %w", p.ShortString(), err)
	}
	return nil
}

// SendRaw writes b to p's stream as is: for frames no honest encoder makes.
func (a *Attacker) SendRaw(p peer.ID, b []byte) error {
	os, err := a.stream(p)
	if err != nil {
		return err
	}
	os.mu.Lock()
	defer os.mu.Unlock()
	if _, err := os.s.Write(b); err != nil {
		return fmt.Errorf("attacker: raw write to %s: %w", p.ShortString(), err)
	}
	return nil
}

// CloseWrite half-closes the attacker's stream to p (FIN), e.g. right after a
// truncated frame.
func (a *Attacker) CloseWrite(p peer.ID) error {
	os, err := a.stream(p)
	if err != nil {
		return err
	}
	if err := os.s.CloseWrite(); err != nil {
		return fmt.Errorf("attacker: close write to %s: %w", p.ShortString(), err)
	}
	return nil
}

func (a *Attacker) stream(p peer.ID) (*outStream, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	os := a.out[p]
	if os == nil {
		return nil, fmt.Errorf("attacker: no open stream to %s", p.ShortString())
	}
	return os, nil
}

// handleStream reads the target's stream to us and records every RPC. A
// sybil also opens its own stream back, so it can graft peers that dialed it.
func (a *Attacker) handleStream(s network.Stream) {
	p := s.Conn().RemotePeer()
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		_ = s.Reset()
		return
	}
	old := a.in[p]
	a.in[p] = s
	r := a.recordLocked(p)
	r.InboundStreams++
	r.InboundEnded, r.InboundErr = false, ""
	a.notifyLocked()
	a.wg.Add(1)
	a.mu.Unlock()
	defer a.wg.Done()
	if old != nil {
		_ = old.Reset()
	}
	if a.cfg.ResetInbound {
		_ = s.Reset()
		a.mu.Lock()
		if a.in[p] == s {
			delete(a.in, p)
		}
		a.mu.Unlock()
		return
	}
	if len(a.cfg.Join) > 0 {
		if err := a.Open(context.Background(), p); err != nil {
			a.log.Debug("sybil cannot open stream back", "peer", p, "err", err)
		}
	}
	rd := wire.NewReader(s, a.cfg.MaxFrame, wire.WithLimits(wire.Limits{
		MaxSubscriptions: -1, MaxMessages: -1, MaxControlEntries: -1, MaxControlIDs: -1, MaxPrunePeers: -1}))
	var err error
	for a.waitReading(p) {
		rpc := &gossipsubv1.RPC{}
		if err = rd.ReadRPC(rpc); err != nil {
			break
		}
		a.mu.Lock()
		a.recordLocked(p).add(rpc, a.cfg.MaxRecorded)
		a.notifyLocked()
		a.mu.Unlock()
		a.regraft(p, rpc)
		a.forward(p, rpc.GetPublish())
	}
	if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		_ = s.Close()
		err = nil
	} else {
		_ = s.Reset()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.in[p] == s {
		delete(a.in, p)
		r := a.recordLocked(p)
		r.InboundEnded = true
		if err != nil {
			r.InboundErr = err.Error()
		}
		a.notifyLocked()
	}
}

// StopReading makes the attacker a slow reader of p: from the next RPC on,
// nothing p sends on its streams to the attacker is read (the transport's
// flow control then blocks p's writes), until ResumeReading or Close.
func (a *Attacker) StopReading(p peer.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stalled[p] = true
	a.notifyLocked()
}

// ResumeReading undoes StopReading.
func (a *Attacker) ResumeReading(p peer.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.stalled, p)
	a.notifyLocked()
}

// waitReading blocks while p is stalled; false once the attacker closed.
func (a *Attacker) waitReading(p peer.ID) bool {
	for {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return false
		}
		if !a.stalled[p] {
			a.mu.Unlock()
			return true
		}
		ch := a.changed
		a.mu.Unlock()
		<-ch
	}
}

// regraft schedules the sybil's GRAFT after each PRUNE of a joined topic.
func (a *Attacker) regraft(p peer.ID, rpc *gossipsubv1.RPC) {
	if len(a.cfg.Join) == 0 {
		return
	}
	for _, pr := range rpc.GetControl().GetPrune() {
		topic := pr.GetTopicID()
		joined := false
		for _, t := range a.cfg.Join {
			joined = joined || t == topic
		}
		if !joined {
			continue
		}
		d := time.Duration(pr.GetBackoff())*time.Second + a.cfg.RegraftDelay
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return
		}
		var tm *time.Timer
		tm = time.AfterFunc(d, func() {
			a.mu.Lock()
			delete(a.timers, tm)
			if a.closed {
				a.mu.Unlock()
				return
			}
			a.wg.Add(1) // Close waits for a GRAFT in flight
			a.mu.Unlock()
			defer a.wg.Done()
			if err := a.Send(p, GraftRPC(topic)); err != nil {
				a.log.Debug("sybil re-graft failed", "peer", p, "topic", topic, "err", err)
			}
		})
		a.timers[tm] = struct{}{}
		a.mu.Unlock()
	}
}

// forward relays msgs received from p to every other peer with a stream,
// while Config.ForwardFor lasts, each id once.
func (a *Attacker) forward(from peer.ID, msgs []*gossipsubv1.Message) {
	if len(msgs) == 0 || a.forwardUntil.IsZero() || !time.Now().Before(a.forwardUntil) {
		return
	}
	var fresh []*gossipsubv1.Message
	var to []peer.ID
	a.mu.Lock()
	for _, m := range msgs {
		id := string(a.cfg.MsgID(m))
		if _, dup := a.seen[id]; dup || (a.cfg.Censor != nil && a.cfg.Censor(m)) {
			continue
		}
		if len(a.seenOrder) >= a.cfg.MaxSeen {
			delete(a.seen, a.seenOrder[0])
			a.seenOrder = a.seenOrder[1:]
		}
		a.seen[id] = struct{}{}
		a.seenOrder = append(a.seenOrder, id)
		fresh = append(fresh, m)
	}
	for p := range a.out {
		if p != from {
			to = append(to, p)
		}
	}
	a.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	rpc := PublishRPC(fresh...)
	for _, p := range to {
		if err := a.Send(p, rpc); err != nil {
			a.log.Debug("forward failed", "peer", p, "err", err)
		}
	}
}

func (a *Attacker) recordLocked(p peer.ID) *Record {
	r := a.rec[p]
	if r == nil {
		r = newRecord()
		a.rec[p] = r
	}
	return r
}

func (a *Attacker) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// Record returns a copy of what target has sent so far.
func (a *Attacker) Record(target peer.ID) Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.recordLocked(target).clone()
}

// WaitFor blocks until cond holds for target's record, and returns that
// record; it fails with the last record when ctx ends first.
func (a *Attacker) WaitFor(ctx context.Context, target peer.ID, cond func(Record) bool) (Record, error) {
	for {
		a.mu.Lock()
		r := a.recordLocked(target).clone()
		ch := a.changed
		a.mu.Unlock()
		if cond(r) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("attacker: waiting for %s: %w", target.ShortString(), ctx.Err())
		case <-ch:
		}
	}
}

// Close stops re-GRAFT timers, resets every stream and waits for the
// attacker's goroutines. The host stays open.
func (a *Attacker) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.notifyLocked() // wakes stalled readers
	for tm := range a.timers {
		tm.Stop()
	}
	clear(a.timers)
	streams := make([]network.Stream, 0, len(a.out)+len(a.in)+len(a.stale))
	for os := range a.stale {
		streams = append(streams, os.s)
	}
	for _, os := range a.out {
		streams = append(streams, os.s)
	}
	for _, s := range a.in {
		streams = append(streams, s)
	}
	a.mu.Unlock()
	for _, p := range a.cfg.Protocols {
		a.h.RemoveStreamHandler(p)
	}
	for _, s := range streams {
		_ = s.Reset()
	}
	a.wg.Wait()
	return nil
}

// ResetInboundStream resets the stream p opened to the attacker, as a peer
// that crashes mid-read does (its end of the connection stays up); false
// when there is none.
func (a *Attacker) ResetInboundStream(p peer.ID) bool {
	a.mu.Lock()
	s := a.in[p]
	a.mu.Unlock()
	if s == nil {
		return false
	}
	_ = s.Reset()
	return true
}
