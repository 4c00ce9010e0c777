package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Timeouts of the child process's lifecycle.
const (
	// StartTimeout bounds the time from spawning node to its ready line.
	StartTimeout = 30 * time.Second
	// StopTimeout bounds a graceful stop before the process is killed.
	StopTimeout = 5 * time.Second
	// maxEvents bounds the recorded history; a test producing more is broken.
	maxEvents = 100_000
	// maxStderr bounds the stderr kept for failure reports.
	maxStderr = 64 << 10
)

// Config is the js peer's configuration (see peer.mjs); zero fields keep the
// js defaults.
type Config struct {
	Profile      string   `json:"profile,omitempty"` // "waku" or "libp2p"
	Topics       []string `json:"topics,omitempty"`
	D            int      `json:"D,omitempty"`
	Dlo          int      `json:"Dlo,omitempty"`
	Dhi          int      `json:"Dhi,omitempty"`
	Dout         int      `json:"Dout,omitempty"`
	HeartbeatMs  int      `json:"heartbeatMs,omitempty"`
	FloodPublish *bool    `json:"floodPublish,omitempty"`
	Dial         []string `json:"dial,omitempty"`
	Listen       []string `json:"listen,omitempty"`
	KeySeedHex   string   `json:"keySeedHex,omitempty"` // 32-byte Ed25519 seed
	KeyType      string   `json:"keyType,omitempty"`    // "Ed25519" or "RSA"
	// Gossipsub holds further js GossipsubOpts, passed through unchanged
	// (e.g. "doPX", "idontwantMinDataSize", "scoreThresholds").
	Gossipsub map[string]any `json:"gossipsub,omitempty"`
}

// checkLoopback refuses any listen or dial address off 127.0.0.0/8 or ::1.
func (c Config) checkLoopback() error {
	for _, s := range append(append([]string{}, c.Listen...), c.Dial...) {
		ma, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("interop: address %q: %w", s, err)
		}
		ip, err := manet.ToIP(ma)
		if err != nil || !ip.IsLoopback() {
			return fmt.Errorf("interop: address %q is not loopback", s)
		}
	}
	return nil
}

// Subscription is one entry of a subscription-change event.
type Subscription struct {
	Topic     string `json:"topic"`
	Subscribe bool   `json:"subscribe"`
}

// Event is one JSON line from the js peer. Which fields are set depends on
// Event.Event; Raw holds the whole line.
type Event struct {
	Event             string             `json:"event"`
	ID                int                `json:"id,omitempty"` // echo of a command's id
	PeerID            string             `json:"peerId,omitempty"`
	Addrs             []string           `json:"addrs,omitempty"`
	Protocols         []string           `json:"protocols,omitempty"`
	Peer              string             `json:"peer,omitempty"`
	Topic             string             `json:"topic,omitempty"`
	Direction         string             `json:"direction,omitempty"`
	Subscriptions     []Subscription     `json:"subscriptions,omitempty"`
	DataHex           string             `json:"dataHex,omitempty"`
	MsgIDHex          string             `json:"msgIdHex,omitempty"`
	Signed            bool               `json:"signed,omitempty"`
	From              string             `json:"from,omitempty"`
	Seqno             string             `json:"seqno,omitempty"`
	KeyHex            string             `json:"keyHex,omitempty"`
	PropagationSource string             `json:"propagationSource,omitempty"`
	Peers             []string           `json:"peers,omitempty"`
	Connected         []string           `json:"connected,omitempty"`
	Subscribers       []string           `json:"subscribers,omitempty"`
	Recipients        []string           `json:"recipients,omitempty"`
	Scores            map[string]float64 `json:"scores,omitempty"` // peer id -> js score
	Error             string             `json:"error,omitempty"`
	Raw               json.RawMessage    `json:"-"`
}

// Command is one line sent to the js peer.
type Command struct {
	Cmd     string `json:"cmd"`
	ID      int    `json:"id,omitempty"`
	Topic   string `json:"topic,omitempty"`
	DataHex string `json:"dataHex,omitempty"`
	Addr    string `json:"addr,omitempty"`
}

// Peer is a running js gossipsub peer.
type Peer struct {
	// ID and Addrs are what the peer reported when ready.
	ID    peer.ID
	Addrs []multiaddr.Multiaddr

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{} // closed when the process has exited

	mu     sync.Mutex
	events []Event
	notify chan struct{} // closed and replaced on every new event
	nextID int
	stderr bytes.Buffer
	err    error // first protocol error (bad line, history overflow)
}

// AddrInfo returns the peer's id and addresses for host.Connect.
func (p *Peer) AddrInfo() peer.AddrInfo { return peer.AddrInfo{ID: p.ID, Addrs: p.Addrs} }

// Start installs the npm packages if needed, starts a js peer with cfg and
// waits until it is ready. The peer is stopped at test cleanup; its stderr is
// logged if the test failed.
func Start(t testing.TB, cfg Config) *Peer {
	t.Helper()
	if err := cfg.checkLoopback(); err != nil {
		t.Fatal(err)
	}
	dir, err := JSDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), NPMTimeout+StartTimeout)
	defer cancel()
	if err := EnsureInstalled(ctx, dir); err != nil {
		t.Fatal(err)
	}
	p, err := start(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("js peer stderr:\n%s", p.stderr.String())
			p.mu.Unlock()
		}
	})
	ready, err := p.WaitFor(ctx, func(e Event) bool { return e.Event == "ready" })
	if err != nil {
		t.Fatalf("js peer did not become ready: %v", err)
	}
	if p.ID, err = peer.Decode(ready.PeerID); err != nil {
		t.Fatalf("js peer id %q: %v", ready.PeerID, err)
	}
	for _, a := range ready.Addrs {
		ma, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			t.Fatalf("js peer address %q: %v", a, err)
		}
		// Keep only the transport part: AddrInfo carries the id.
		transport, _ := peer.SplitAddr(ma)
		p.Addrs = append(p.Addrs, transport)
	}
	return p
}

func start(dir string, cfg Config) (*Peer, error) {
	arg, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("interop: encode config: %w", err)
	}
	cmd := exec.Command("node", filepath.Join(dir, "peer.mjs"), string(arg))
	cmd.Dir = dir
	cmd.WaitDelay = StopTimeout
	p := &Peer{cmd: cmd, exited: make(chan struct{}), notify: make(chan struct{})}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("interop: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("interop: stdout pipe: %w", err)
	}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("interop: start node: %w", err)
	}
	go func() {
		p.readEvents(stdout)
		_ = cmd.Wait()
		close(p.exited)
		p.wake()
	}()
	return p, nil
}

// lockedWriter appends the child's stderr to a bounded buffer.
type lockedWriter struct{ p *Peer }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if room := maxStderr - w.p.stderr.Len(); room > 0 {
		w.p.stderr.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (p *Peer) readEvents(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e Event
		err := json.Unmarshal(line, &e)
		p.mu.Lock()
		switch {
		case err != nil:
			p.setErr(fmt.Errorf("interop: bad line from js peer %q: %w", line, err))
		case len(p.events) >= maxEvents:
			p.setErr(fmt.Errorf("interop: more than %d events from js peer", maxEvents))
		default:
			e.Raw = append(json.RawMessage(nil), line...)
			p.events = append(p.events, e)
		}
		p.mu.Unlock()
		p.wake()
	}
}

func (p *Peer) setErr(err error) {
	if p.err == nil {
		p.err = err
	}
}

// wake releases every WaitFor blocked on the current notify channel.
func (p *Peer) wake() {
	p.mu.Lock()
	close(p.notify)
	p.notify = make(chan struct{})
	p.mu.Unlock()
}

// Events returns a copy of every event so far.
func (p *Peer) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// ErrExited: the js process ended while a test was waiting for it.
var ErrExited = errors.New("interop: js peer exited")

// WaitFor returns the first event, from the start of the peer's life, for
// which match is true, waiting for it until ctx ends or the process exits.
func (p *Peer) WaitFor(ctx context.Context, match func(Event) bool) (Event, error) {
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.events); seen++ {
			if match(p.events[seen]) {
				e := p.events[seen]
				p.mu.Unlock()
				return e, nil
			}
		}
		notify, perr := p.notify, p.err
		p.mu.Unlock()
		if perr != nil {
			return Event{}, perr
		}
		select {
		case <-p.exited:
			// The reader drained stdout before exited closed: one more scan
			// above would find nothing new.
			p.mu.Lock()
			more := seen < len(p.events)
			p.mu.Unlock()
			if !more {
				return Event{}, ErrExited
			}
		case <-notify:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("interop: waiting for js event: %w", ctx.Err())
		}
	}
}

// Send writes a command without waiting for its reply and returns its id.
func (p *Peer) Send(c Command) (int, error) {
	p.mu.Lock()
	p.nextID++
	c.ID = p.nextID
	p.mu.Unlock()
	line, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("interop: encode command: %w", err)
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return 0, fmt.Errorf("interop: send %s: %w", c.Cmd, err)
	}
	return c.ID, nil
}

// Request sends a command and waits for its reply; an "error" reply becomes
// an error.
func (p *Peer) Request(ctx context.Context, c Command) (Event, error) {
	id, err := p.Send(c)
	if err != nil {
		return Event{}, err
	}
	e, err := p.WaitFor(ctx, func(e Event) bool { return e.ID == id })
	if err != nil {
		return Event{}, fmt.Errorf("interop: %s: %w", c.Cmd, err)
	}
	if e.Event == "error" {
		return e, fmt.Errorf("interop: %s: js error: %s", c.Cmd, e.Error)
	}
	return e, nil
}

// Publish publishes data on topic and returns the peer ids it was sent to.
func (p *Peer) Publish(ctx context.Context, topic string, data []byte) ([]string, error) {
	e, err := p.Request(ctx, Command{Cmd: "publish", Topic: topic, DataHex: fmt.Sprintf("%x", data)})
	return e.Recipients, err
}

// MeshPeers returns the js peer's mesh for topic.
func (p *Peer) MeshPeers(ctx context.Context, topic string) ([]string, error) {
	e, err := p.Request(ctx, Command{Cmd: "mesh", Topic: topic})
	return e.Peers, err
}

// Scores returns the js peer's score of every peer it knows.
func (p *Peer) Scores(ctx context.Context) (map[string]float64, error) {
	e, err := p.Request(ctx, Command{Cmd: "scores"})
	return e.Scores, err
}

// Stop asks the peer to stop, closes its stdin and kills it if it has not
// exited within StopTimeout. It is idempotent.
func (p *Peer) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_, _ = p.Send(Command{Cmd: "stop"})
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
