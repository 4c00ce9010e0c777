package main

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const e2eTopic = "/waku/2/rs/0/0"

// e2eWait bounds every eventual condition of the end-to-end test.
const e2eWait = 30 * time.Second

type peerJSON struct {
	PeerID    string `json:"peerId"`
	Connected string `json:"connected"`
	Origin    string `json:"origin"`
}

func peers(t *testing.T, rest string) []peerJSON {
	t.Helper()
	code, body := httpDo(t, "GET", rest+"/admin/v1/peers", "")
	if code != 200 {
		t.Fatalf("GET peers: %d %s", code, body)
	}
	var out []peerJSON
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("peers JSON %q: %v", body, err)
	}
	return out
}

func hasPeer(ps []peerJSON, id, connected, origin string) bool {
	for _, p := range ps {
		if p.PeerID == id && (connected == "" || p.Connected == connected) && (origin == "" || p.Origin == origin) {
			return true
		}
	}
	return false
}

// meshSize is the number of mesh peers on e2eTopic.
func meshSize(t *testing.T, rest string) int { return meshSizeOn(t, rest, e2eTopic) }

func meshSizeOn(t *testing.T, rest, topic string) int {
	t.Helper()
	code, body := httpDo(t, "GET", rest+"/admin/v1/peers/mesh", "")
	if code != 200 {
		t.Fatalf("GET mesh: %d %s", code, body)
	}
	var out []struct {
		PubsubTopic string            `json:"pubsubTopic"`
		Peers       []json.RawMessage `json:"peers"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	for _, m := range out {
		if m.PubsubTopic == topic {
			return len(m.Peers)
		}
	}
	return 0
}

func publish(t *testing.T, rest, payload string) { publishOn(t, rest, e2eTopic, payload) }

func publishOn(t *testing.T, rest, topic, payload string) {
	t.Helper()
	body := `{"payload":"` + base64.StdEncoding.EncodeToString([]byte(payload)) + `","contentTopic":"/peermesh/1/e2e/proto"}`
	if code, resp := httpDo(t, "POST", rest+"/relay/v1/messages/"+url.PathEscape(topic), body); code != 200 {
		t.Fatalf("publish on %s: %d %s", rest, code, resp)
	}
}

// receiver drains a node's REST cache of a topic (e2eTopic when unset) and
// remembers every payload seen.
type receiver struct {
	t     *testing.T
	rest  string
	topic string
	seen  map[string]bool
}

func (r *receiver) got(payload string) bool {
	topic := r.topic
	if topic == "" {
		topic = e2eTopic
	}
	code, body := httpDo(r.t, "GET", r.rest+"/relay/v1/messages/"+url.PathEscape(topic), "")
	if code != 200 {
		r.t.Fatalf("GET messages: %d %s", code, body)
	}
	var msgs []struct {
		Payload      string `json:"payload"`
		ContentTopic string `json:"contentTopic"`
	}
	if err := json.Unmarshal([]byte(body), &msgs); err != nil {
		r.t.Fatal(err)
	}
	for _, m := range msgs {
		b, _ := base64.StdEncoding.DecodeString(m.Payload)
		r.seen[string(b)] = true
	}
	return r.seen[payload]
}

// metric reads one sample from a node's /metrics; series is the metric name
// with its labels exactly as exposed (e.g. `x_total{op="put"}`).
func metric(t *testing.T, metricsURL, series string) float64 {
	t.Helper()
	code, body := httpDo(t, "GET", metricsURL+"/metrics", "")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// Three node processes on 127.0.0.1: B and C have A as static node. A
// message published through B's REST is read through A's and C's. C is
// killed with SIGKILL and restarted without static nodes: it reconnects from
// its peer store and receives again. Then C is stopped with SIGTERM and
// restarted: its stored peers are there.
func TestThreeNodesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	a := startProc(t, nil, baseArgs(filepath.Join(dir, "a"))...)
	aAddr, aID, aREST := a.addr(), a.peerID(), a.restURL()
	b := startProc(t, nil, append(baseArgs(filepath.Join(dir, "b")), "--staticnode="+aAddr)...)
	cArgs := baseArgs(filepath.Join(dir, "c"))
	c := startProc(t, nil, append(cArgs, "--staticnode="+aAddr)...)
	bREST, cREST, cMetrics := b.restURL(), c.restURL(), c.metricsURL()

	eventually(t, e2eWait, "A's mesh holds B and C", func() bool { return meshSize(t, aREST) == 2 })
	eventually(t, e2eWait, "B and C have A in their mesh", func() bool { return meshSize(t, bREST) >= 1 && meshSize(t, cREST) >= 1 })

	publish(t, bREST, "hello from B")
	ra := &receiver{t: t, rest: aREST, seen: map[string]bool{}}
	rc := &receiver{t: t, rest: cREST, seen: map[string]bool{}}
	eventually(t, e2eWait, "A receives B's message", func() bool { return ra.got("hello from B") })
	eventually(t, e2eWait, "C receives B's message", func() bool { return rc.got("hello from B") })

	// A topic joined through REST on A and B only.
	const extra = "/waku/2/rs/0/7"
	for _, rest := range []string{aREST, bREST} {
		if code, body := httpDo(t, "POST", rest+"/relay/v1/subscriptions", `["`+extra+`"]`); code != 200 {
			t.Fatalf("subscribe: %d %s", code, body)
		}
	}
	eventually(t, e2eWait, "A and B mesh on the REST topic", func() bool { return meshSizeOn(t, bREST, extra) == 1 })
	publishOn(t, bREST, extra, "on the extra topic")
	rx := &receiver{t: t, rest: aREST, topic: extra, seen: map[string]bool{}}
	eventually(t, e2eWait, "A receives on the REST topic", func() bool { return rx.got("on the extra topic") })
	if code, body := httpDo(t, "GET", cREST+"/relay/v1/messages/"+url.PathEscape(extra), ""); code != 404 {
		t.Fatalf("C is not subscribed to %s, yet GET answered %d %s", extra, code, body)
	}
	if code, body := httpDo(t, "DELETE", aREST+"/relay/v1/subscriptions", `["`+extra+`"]`); code != 200 {
		t.Fatalf("unsubscribe: %d %s", code, body)
	}
	if code, _ := httpDo(t, "GET", aREST+"/relay/v1/messages/"+url.PathEscape(extra), ""); code != 404 {
		t.Fatalf("after DELETE, GET answered %d, want 404", code)
	}

	// Kill C once its record of A is durable (written, nothing pending).
	eventually(t, e2eWait, "C's peer store flushed", func() bool {
		return metric(t, cMetrics, `peermesh_storage_changes_written_total{op="put"}`) > 0 && metric(t, cMetrics, "peermesh_storage_pending_changes") == 0
	})
	c.signal(syscall.SIGKILL)
	c.wait(10 * time.Second)

	c2 := startProc(t, nil, cArgs...) // no --staticnode: only the peer store knows A
	c2REST := c2.restURL()
	// A keeps the origin it had before the restart (issue 10: a restart
	// used to turn every origin into "cache").
	eventually(t, e2eWait, "restarted C reconnects to A from its peer store", func() bool {
		return hasPeer(peers(t, c2REST), aID, "Connected", "static")
	})
	eventually(t, e2eWait, "restarted C is back in A's mesh", func() bool { return meshSize(t, c2REST) >= 1 })
	// Publish until C sees one: a publish just before the mesh includes C
	// may go to the others only.
	rc2 := &receiver{t: t, rest: c2REST, seen: map[string]bool{}}
	i := 0
	eventually(t, e2eWait, "restarted C receives A's messages", func() bool {
		i++
		publish(t, aREST, "after restart "+strconv.Itoa(i))
		for k := range rc2.seen {
			if strings.HasPrefix(k, "after restart") {
				return true
			}
		}
		rc2.got("")
		return false
	})

	// SIGTERM: graceful stop within 5 s, store flushed, records present after restart.
	c2.signal(syscall.SIGTERM)
	if code := c2.wait(10 * time.Second); code != 0 {
		t.Fatalf("C exited %d after SIGTERM", code)
	}
	c3 := startProc(t, nil, append(cArgs, "--tcp-port=0")...)
	c3REST := c3.restURL()
	eventually(t, e2eWait, "C's stored peers are loaded after a graceful restart", func() bool {
		return hasPeer(peers(t, c3REST), aID, "", "static")
	})
	for _, p := range []*proc{a, b, c3} {
		p.signal(syscall.SIGTERM)
		if code := p.wait(10 * time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM", code)
		}
	}
}

// The libp2p profile (/meshsub/1.x, signed messages, raw payloads) between
// two processes.
func TestLibp2pProfileProcessesExchange(t *testing.T) {
	dir := t.TempDir()
	a := startProc(t, nil, append(baseArgs(filepath.Join(dir, "a")), "--profile=libp2p")...)
	aAddr, aREST := a.addr(), a.restURL()
	b := startProc(t, nil, append(baseArgs(filepath.Join(dir, "b")), "--profile=libp2p", "--staticnode="+aAddr)...)
	bREST := b.restURL()
	eventually(t, e2eWait, "A and B mesh", func() bool { return meshSize(t, aREST) == 1 && meshSize(t, bREST) == 1 })
	publish(t, bREST, "signed by B")
	ra := &receiver{t: t, rest: aREST, seen: map[string]bool{}}
	eventually(t, e2eWait, "A receives B's message", func() bool { return ra.got("signed by B") })
	code, body := httpDo(t, "GET", aREST+"/admin/v1/peers", "")
	if code != 200 || !strings.Contains(body, "/meshsub/1.") {
		t.Fatalf("peers: %d %s", code, body)
	}
}
