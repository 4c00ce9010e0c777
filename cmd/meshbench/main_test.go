package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/peermesh/peermesh/internal/meshbench"
)

// TestSmallRunDeliversEverything keeps the benchmark from rotting: a tiny
// M1 (6 nodes, 1 s of load at a low rate) must deliver every message in
// both variants. It asserts correctness only; speed lives in the benchmark.
func TestSmallRunDeliversEverything(t *testing.T) {
	var out, errOut bytes.Buffer
	code := meshbench.Main(peermeshImpl{}, []string{
		"-n", "6", "-degree", "3", "-rates", "20", "-duration", "1s", "-drain", "5s",
		"-warmup", "10s", "-min-mesh", "2", "-json", "-log-level", "warn",
	}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res struct{ Rows []meshbench.RateResult }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	if len(res.Rows) != 2 {
		t.Fatalf("want a nosign and a sign row, got %+v", res.Rows)
	}
	for _, r := range res.Rows {
		if r.Published != 20 || r.DeliveryPct != 100 || r.Drops != 0 {
			t.Errorf("%s: published %d, delivery %.2f%%, drops %d; want 20, 100%%, 0", r.Variant, r.Published, r.DeliveryPct, r.Drops)
		}
	}
}
