package main

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// metricName finds the metric names in a PromQL expression: identifiers of
// the families a node exports (functions, labels and keywords have other
// prefixes or none).
var metricName = regexp.MustCompile(`\b(?:waku|libp2p|peermesh|process|go)_[a-zA-Z0-9_:]+`)

// dashboardExprs reads every target expression of deploy/grafana/peermesh.json.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "peermesh.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d queries in the dashboard", len(exprs))
	}
	return exprs
}

// exported lists the metric names in a /metrics answer (histograms as
// _bucket, _sum and _count, as queries name them).
func exported(t *testing.T, metricsURL string) map[string]bool {
	t.Helper()
	code, body := httpDo(t, "GET", metricsURL+"/metrics", "")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	return out
}

// TestDashboardMetricsAreExported: every metric the Grafana dashboard
// queries is exported by running nodes — two nodes that found each other
// through discv5 and relayed messages — so no panel stays empty for want of
// a metric.
func TestDashboardMetricsAreExported(t *testing.T) {
	exprs := dashboardExprs(t)
	a := startProc(t, nil, append(baseArgs(t.TempDir()), "--discv5-discovery=true", "--discv5-udp-port=0", "--ip-colocation-limit=0")...)
	enr := a.waitLog(15*time.Second, "node record", "enr")
	a.waitLog(20*time.Second, "discv5 round", "level") // the seed takes contacts once its table is up
	b := startProc(t, nil, append(baseArgs(t.TempDir()), "--discv5-discovery=true", "--discv5-udp-port=0", "--ip-colocation-limit=0",
		"--discv5-bootstrap-node="+enr)...)
	aREST, bREST, aID := a.restURL(), b.restURL(), a.peerID()
	eventually(t, 30*time.Second, "b connects to a", func() bool { return hasPeer(peers(t, bREST), aID, "Connected", "discv5") })
	const topic = "/waku/2/rs/0/0"
	msg := `{"payload":"` + base64.StdEncoding.EncodeToString([]byte("dashboard")) + `","contentTopic":"/peermesh/1/dash/proto"}`
	metrics := []string{a.metricsURL(), b.metricsURL()}
	// Counters with labels appear with their first event: publish until
	// every queried family is there, or the deadline says which are not.
	var missing []string
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); ; <-tick.C {
		httpDo(t, "POST", aREST+"/relay/v1/messages/"+url.PathEscape(topic), msg)
		have := map[string]bool{}
		for _, m := range metrics {
			for name := range exported(t, m) {
				have[name] = true
			}
		}
		missing = missing[:0]
		for _, e := range exprs {
			for _, name := range metricName.FindAllString(e, -1) {
				if !have[name] {
					missing = append(missing, name)
				}
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			t.Fatalf("queried by the dashboard, not exported by the nodes: %v", missing)
		}
	}
}
