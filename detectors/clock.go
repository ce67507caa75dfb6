package detectors

// clockWindow is how many of a stage's latest events its clock is the
// oldest time of. An attacker can forge the timestamps of his own events,
// not suppress other people's: to move the clock he must send this many
// events in a row with no real event between them, and a real gap in the
// stream (a quiet night, a replayed file with a hole) is followed by that
// many events anyway. The cost is a clock that lags this many events
// behind the newest, which only delays the expiry of idle keys.
const clockWindow = 4096

// clock is a stage's stream time, which its store expires idle keys
// against: the oldest event time among the stage's last clockWindow events,
// never going back. Unlike the newest event time, no chain of forged events
// can drag it forward: each event of a creeping chain (every one a day
// ahead of the last) is outnumbered by the real events around it. Until a
// stage has seen clockWindow events its clock stays at zero, so nothing
// expires early in a stream's first events either.
//
// The window's minimum is kept in a monotonic queue (a ring of at most
// clockWindow entries), O(1) amortised per event and allocated once.
type clock struct {
	now       int64 // Unix ms; 0 until the window first fills
	maxFuture int64
	seen      uint64 // events observed
	q         []stamp
	head, n   int // ring of q: the queue's front index and length
}

// stamp is one queued event: its sequence number and time.
type stamp struct {
	seq uint64
	ts  int64
}

// observe takes an event at ts, advances the clock and reports whether the
// event is far in the future: more than maxFuture ahead of the oldest of the
// recent events, which the clock will never jump to on this event's word.
func (c *clock) observe(ts int64) (future bool) {
	if c.q == nil {
		c.q = make([]stamp, clockWindow)
	}
	if c.n > 0 {
		future = ts-c.q[c.head].ts > c.maxFuture
	}
	c.seen++
	// Drop the front when it has left the window, and every queued time
	// at or after ts from the back: they can no longer be the minimum.
	if c.n > 0 && c.q[c.head].seq+clockWindow <= c.seen {
		c.head, c.n = (c.head+1)%clockWindow, c.n-1
	}
	for c.n > 0 && c.q[(c.head+c.n-1)%clockWindow].ts >= ts {
		c.n--
	}
	c.q[(c.head+c.n)%clockWindow] = stamp{seq: c.seen, ts: ts}
	c.n++
	if c.seen >= clockWindow && c.q[c.head].ts > c.now {
		c.now = c.q[c.head].ts
	}
	return future
}
