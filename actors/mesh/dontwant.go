package mesh

// dontWant holds the ids a peer told us it does not want, in heartbeat
// windows (seed: heDontWants). The newest window accepts at most max ids;
// windows rotate each heartbeat and the oldest is dropped after history.
type dontWant struct {
	windows []map[MessageID]struct{} // windows[0] is the newest; allocated lazily
	max     int
	// held counts ids across windows, so that peers that never send
	// IDONTWANT cost nothing at each heartbeat.
	held int
}

func (d *dontWant) init(history, max int) {
	d.windows = make([]map[MessageID]struct{}, history)
	d.max = max
}

// add records an id; it returns false if the current window is full.
func (d *dontWant) add(id MessageID) bool {
	w := d.windows[0]
	if w == nil {
		w = make(map[MessageID]struct{})
		d.windows[0] = w
	}
	if _, ok := w[id]; ok {
		return true
	}
	if len(w) >= d.max {
		return false
	}
	w[id] = struct{}{}
	d.held++
	return true
}

func (d *dontWant) has(id MessageID) bool {
	if d.held == 0 {
		return false
	}
	for _, w := range d.windows {
		if _, ok := w[id]; ok {
			return true
		}
	}
	return false
}

func (d *dontWant) shift() {
	if d.held == 0 {
		return
	}
	last := len(d.windows) - 1
	old := d.windows[last]
	d.held -= len(old)
	copy(d.windows[1:], d.windows[:last])
	if old != nil {
		clear(old)
	}
	d.windows[0] = old
}

func (d *dontWant) clear() {
	for i := range d.windows {
		d.windows[i] = nil
	}
	d.held = 0
}
