package sim

import (
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
)

// covertDeadline bounds delivery in the covert-flash scenario (see below).
const covertDeadline = deadline + time.Second

// TestCovertFlash (reliability-anchors a.2 scenario 7, scaled): sybils in
// place at dawn relay every message for a while, earning mesh-delivery
// credit (P2, P3) like honest peers, then all stop forwarding at once. Their
// earned P3 credit decays only by 0.97 per 12 s with the shipped Waku
// parameters, so the score machinery is slow to notice; honest delivery must
// nevertheless stay 100 % within the deadline, before and after the flash,
// through flood publishing, honest mesh links and gossip. The sybils' mesh
// share at the flash and at the end is logged for the evaluation report.
//
// The 4 s target of the dawn scenarios holds today exactly at its bound (the
// slowest deliveries come by gossip at the 4th heartbeat), so this scenario
// allows one heartbeat more, to stay deterministic under any scheduling; the
// log shows the measured latency.
func TestCovertFlash(t *testing.T) {
	sc := eclipse{honest: 12, sybils: 36, honestDegree: 6, attackDegree: 4, run: 60, perBeat: 2}
	flash := 30 * time.Second
	if testing.Short() {
		sc.run, flash = 40, 20*time.Second
	}
	bubble.Test(t, func(t *testing.T) {
		rs, isSybil, _ := atDawn(t, sc, attacker.Config{Join: []string{topic}, MaxRecorded: 8, RegraftDelay: 2 * time.Second,
			ForwardFor: flash})
		var published []string
		flashed := false
		for hb := range sc.run {
			published = append(published, rs.Publish(sc.perBeat)...)
			beat(rs)
			if !flashed && time.Duration(hb+3)*time.Second >= flash {
				flashed = true
				t.Logf("sybils go silent at heartbeat %d holding %.0f %% of the honest meshes", hb, 100*meshShare(rs, isSybil))
			}
		}
		expectOnTime(t, rs, published, covertDeadline)
		t.Logf("sybil mesh share %s after the flash: %.0f %%", time.Duration(sc.run)*time.Second-flash, 100*meshShare(rs, isSybil))
	})
}
