package main

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Unsubscribing the configured topic through REST is seen the same way
// everywhere, as in nwaku: the node leaves it, /debug/v1/info no longer
// lists it, publishing on it is refused and reading it is 404; subscribing
// again joins it again. /health follows nwaku's semantics, and the admin
// routes exist only with --rest-admin.
func TestUnsubscribingTheConfiguredTopicIsConsistent(t *testing.T) {
	const topic = "/waku/2/rs/0/0"
	p := startProc(t, nil, baseArgs(t.TempDir())...)
	rest := p.restURL()
	msg := `{"payload":"` + base64.StdEncoding.EncodeToString([]byte("hi")) + `","contentTopic":"/peermesh/1/rest/proto"}`
	pub := func() (int, string) {
		return httpDo(t, "POST", rest+"/relay/v1/messages/"+url.PathEscape(topic), msg)
	}
	info := func() string { _, body := httpDo(t, "GET", rest+"/debug/v1/info", ""); return body }
	if code, body := pub(); code != 200 || body != "OK" {
		t.Fatalf("publish before: %d %s", code, body)
	}
	if code, body := httpDo(t, "GET", rest+"/health", ""); code != 200 || !strings.Contains(body, `"Relay":"Not Ready","desc":"No connected peers"`) {
		t.Fatalf("health of a node without peers: %d %s", code, body)
	}
	if code, body := httpDo(t, "DELETE", rest+"/relay/v1/subscriptions", `["`+topic+`"]`); code != 200 || body != "OK" {
		t.Fatalf("unsubscribe: %d %s", code, body)
	}
	eventually(t, 10*time.Second, "the node leaves the topic", func() bool { return !strings.Contains(info(), topic) })
	if code, body := pub(); code != 400 || !strings.Contains(body, "not subscribed") {
		t.Fatalf("publish after unsubscribing: %d %s", code, body)
	}
	if code, _ := httpDo(t, "GET", rest+"/relay/v1/messages/"+url.PathEscape(topic), ""); code != 404 {
		t.Fatalf("read after unsubscribing: %d", code)
	}
	if code, body := httpDo(t, "POST", rest+"/relay/v1/subscriptions", `["`+topic+`"]`); code != 200 || body != "OK" {
		t.Fatalf("subscribe again: %d %s", code, body)
	}
	if !strings.Contains(info(), topic) {
		t.Fatalf("info after subscribing again: %s", info())
	}
	if code, body := pub(); code != 200 {
		t.Fatalf("publish after subscribing again: %d %s", code, body)
	}

	plain := startProc(t, nil, "--data-dir="+t.TempDir(), "--listen-address=127.0.0.1", "--tcp-port=0", "--rest-port=0",
		"--metrics-server=false", "--log-format=json")
	if code, _ := httpDo(t, "GET", plain.restURL()+"/admin/v1/peers", ""); code != 404 {
		t.Fatalf("admin route without --rest-admin: %d", code)
	}
}
