package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// TestCensorOnePublisher (reliability-anchors a.2 scenario 4, scaled):
// sybils in place at dawn relay every message except those of honest node 0,
// so they earn delivery credit and keep good scores while censoring it. Node
// 0's messages must still reach 100 % of the honest nodes within the
// deadline, through its flood publishing, honest mesh links and gossip, as
// must everyone else's.
func TestCensorOnePublisher(t *testing.T) {
	sc := eclipse{honest: 12, sybils: 36, honestDegree: 6, attackDegree: 4, run: 40, perBeat: 2}
	if testing.Short() {
		sc.run = 25
	}
	censored := sim.PublisherMark + "0"
	bubble.Test(t, func(t *testing.T) {
		rs, isSybil, _ := atDawn(t, sc, attacker.Config{Join: []string{topic}, MaxRecorded: 8, RegraftDelay: 2 * time.Second,
			ForwardFor: time.Hour,
			Censor:     func(m *gossipsubv1.Message) bool { return strings.HasSuffix(string(m.GetData()), censored) }})
		var published []string
		for range sc.run {
			published = append(published, rs.Publish(sc.perBeat)...)
			published = append(published, rs.PublishFrom(0, 1)...) // the censored publisher
			beat(rs)
		}
		expectOnTime(t, rs, published, deadline)
		t.Logf("sybil mesh share at the end %.0f %%", 100*meshShare(rs, isSybil))
	})
}
