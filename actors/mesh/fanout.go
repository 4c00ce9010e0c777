package mesh

import "time"

// DropFanoutPeers forgets the fanout once we have not published to the topic
// for FanoutTTL (seed: dropFanoutPeers). The heartbeat calls it.
func (t *Topic) DropFanoutPeers(now time.Time) { t.dropFanoutPeers(now) }

func (t *Topic) dropFanoutPeers(now time.Time) {
	if t.lastPublish.IsZero() || !now.After(t.lastPublish.Add(t.cfg.FanoutTTL)) {
		return
	}
	for _, ps := range t.fanout {
		ps.inFanout = false
	}
	clear(t.fanout)
	t.fanout = t.fanout[:0]
	t.lastPublish = time.Time{}
}

// ReplenishFanout tops the fanout up to D peers when it has fewer than Dlo
// (seed: replenishFanout). Only peers scoring at least the publish threshold
// are chosen, and direct peers are left out as they always get our messages.
func (t *Topic) ReplenishFanout() { t.replenishFanout() }

func (t *Topic) replenishFanout() {
	if t.joined || t.lastPublish.IsZero() || len(t.fanout) >= t.cfg.Dlo {
		return
	}
	cand := t.scratch[:0]
	for _, ps := range t.order {
		if !ps.inFanout && !ps.inMesh && !ps.Direct && ps.Score >= t.cfg.Thresholds.Publish {
			cand = append(cand, ps)
		}
	}
	t.rng.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	for _, ps := range cand[:min(len(cand), t.cfg.D-len(t.fanout))] {
		ps.inFanout = true
		t.fanout = append(t.fanout, ps)
	}
	clear(cand)
	t.scratch = cand[:0]
}
