package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/internal/meshbench"
)

// TestSmallRunDeliversEverything keeps the benchmark from rotting: a tiny
// M1 (6 nodes, 1 s of load at a low rate) must deliver every message in
// both variants. It asserts correctness only; speed lives in the benchmark.
func TestSmallRunDeliversEverything(t *testing.T) {
	rows := runRows(t, "-n", "6", "-degree", "3", "-rates", "20", "-duration", "1s", "-drain", "5s",
		"-warmup", "10s", "-min-mesh", "2")
	if len(rows) != 2 {
		t.Fatalf("want a nosign and a sign row, got %+v", rows)
	}
	for _, r := range rows {
		if r.Published != 20 || r.DeliveryPct != 100 || r.Drops != 0 {
			t.Errorf("%s: published %d, delivery %.2f%%, drops %d; want 20, 100%%, 0", r.Variant, r.Published, r.DeliveryPct, r.Drops)
		}
	}
}

// With a publish window of one, every publish waits for the previous one's
// Published answer: the run still delivers everything, so each answer frees
// its place (a lost one would stall the publisher for requestTimeout and
// fail the publish), and the row says which window it ran with.
func TestPublishWindowFreesOnAnswer(t *testing.T) {
	rows := runRows(t, "-n", "4", "-degree", "2", "-rates", "50", "-duration", "1s", "-drain", "5s",
		"-warmup", "10s", "-min-mesh", "2", "-variant", "nosign", "-publish-window", "1")
	if len(rows) != 1 {
		t.Fatalf("want one row, got %+v", rows)
	}
	r := rows[0]
	if r.Published != 50 || r.DeliveryPct != 100 || r.PublishWindow != 1 || r.LoadSeconds > 5 {
		t.Errorf("published %d, delivery %.2f%%, window %d, load %.1f s; want 50, 100%%, 1, about 1 s",
			r.Published, r.DeliveryPct, r.PublishWindow, r.LoadSeconds)
	}
}

// runRows runs meshbench with args (JSON, quiet) and returns its rows.
func runRows(t *testing.T, args ...string) []meshbench.RateResult {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := meshbench.Main(peermeshImpl{}, append(args, "-json", "-log-level", "warn"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res struct{ Rows []meshbench.RateResult }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	return res.Rows
}

// TestReportWorkloadPath runs the L3 report workload's code path
// (reliability-anchors b.5: 120 msg/s of 2 KiB messages, the PL gossipsub
// evaluation's baseline) for one second instead of three minutes: every
// message delivered, no queue drops, and the rows say the payload size. The
// full run and its figures are in docs/RELIABILITY.md (L3).
func TestReportWorkloadPath(t *testing.T) {
	rows := runRows(t, "-n", "8", "-degree", "3", "-rates", "120", "-size", "2048", "-duration", "1s", "-drain", "5s",
		"-warmup", "10s", "-min-mesh", "2", "-variant", "nosign", "-profile", "waku")
	if len(rows) != 1 {
		t.Fatalf("want one row, got %+v", rows)
	}
	r := rows[0]
	if r.Published != 120 || r.DeliveryPct != 100 || r.PayloadBytes != 2048 {
		t.Errorf("published %d, delivery %.2f%%, payload %d B; want 120, 100%%, 2048 B",
			r.Published, r.DeliveryPct, r.PayloadBytes)
	}
	// No bound in bytes or count may shed this light load. The age bound
	// may: a forward that waited 300 ms on a starved CI machine is shed by
	// design (ADR 0021) and gossip repairs it — delivery stays 100 %, as
	// asserted above. (One run at load average 7 under -race shed 3.) The
	// quiet machine's 0 drops is a benchmark figure (docs/RELIABILITY.md, L3).
	for k, v := range r.DropsBy {
		if v > 0 && !strings.HasPrefix(k, "libp2p_pubsub_queue_expired_total") && !strings.HasPrefix(k, admissionCounter) {
			t.Errorf("%s: %d dropped", k, v)
		}
	}
	t.Logf("drops %d %v", r.Drops, r.DropsBy)
}

// A -size that cannot hold the harness's header, or above the message
// limit, is refused before anything runs.
func TestSizeOutOfRangeIsRefused(t *testing.T) {
	for _, size := range []string{"8", "2000000"} {
		var out, errOut bytes.Buffer
		if code := meshbench.Main(peermeshImpl{}, []string{"-size", size}, &out, &errOut); code != 2 {
			t.Errorf("-size %s: exit %d, want 2 (%s)", size, code, errOut.String())
		}
	}
}

// TestDropsByNamesTheBound: DropsBy splits the drops of every node by
// counter and label, summed over nodes, so a row with drops says which
// bound shed the work; Drops is their sum.
func TestDropsByNamesTheBound(t *testing.T) {
	n := &network{}
	for range 2 {
		reg := &watchedRegistry{Registry: prometheus.NewRegistry()}
		expired := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_pubsub_queue_expired_total"}, []string{"priority"})
		drops := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_pubsub_queue_drops_total"}, []string{"priority"})
		mailbox := prometheus.NewCounter(prometheus.CounterOpts{Name: "libp2p_gossipsub_topic_mailbox_drops_total"})
		other := prometheus.NewCounter(prometheus.CounterOpts{Name: "libp2p_pubsub_unrelated_total"})
		reg.MustRegister(expired, drops, mailbox, other)
		expired.WithLabelValues("PRIORITY_FORWARD").Add(3)
		drops.WithLabelValues("PRIORITY_GOSSIP").Add(1)
		mailbox.Add(2)
		other.Add(100)
		n.regs = append(n.regs, reg)
	}
	got := n.DropsBy()
	want := map[string]int64{
		`libp2p_pubsub_queue_expired_total{priority="PRIORITY_FORWARD"}`: 6,
		`libp2p_pubsub_queue_drops_total{priority="PRIORITY_GOSSIP"}`:    2,
		`libp2p_gossipsub_topic_mailbox_drops_total`:                     4,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("DropsBy = %v, want %v", got, want)
	}
	if d := n.Drops(); d != 12 {
		t.Fatalf("Drops = %d, want the sum 12", d)
	}
}
