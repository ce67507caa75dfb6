package detectors

// clockWindow is how many of a stage's latest events its clock is the
// oldest time of. An attacker can forge the timestamps of his own events,
// not suppress other people's: to move the clock he must send this many
// events in a row with no real event between them, and a real gap in the
// stream (a quiet night, a replayed file with a hole) is followed by that
// many events anyway. The cost is a clock that lags this many events
// behind the newest, which only delays the expiry of idle keys.
const clockWindow = 4096

// headConfirm is how many events in a row far ahead of the head it takes
// to move the head there (see clock): as many as move the expiry clock,
// since a head moved by a forged burst would let the user stage tell the
// address stage it had passed times it has not, and the address stage
// would count a password spray out of order.
const headConfirm = clockWindow

// clock is a stage's stream time, in two readings.
//
// head is the newest event time, for telling which events are far in the
// future (flagged stream.future, and kept out of the watermark the user
// stage sends the address stage): an event more than maxFuture past the
// head is, unless headConfirm of them come in a row, as after a real gap.
// After a real gap the head lags until headConfirm events have come, and
// the address stage waits for that partition at most --ip-hold meanwhile.
//
// now is what the stage's store expires idle keys against, and it must
// not be forgeable, since moving it wipes everyone's state: it is the
// oldest event time among the stage's last clockWindow events,
// never going back. Unlike the newest event time, no chain of forged events
// can drag it forward: each event of a creeping chain (every one a day
// ahead of the last) is outnumbered by the real events around it. Until a
// stage has seen clockWindow events its clock stays at zero, so nothing
// expires early in a stream's first events either.
//
// The window's minimum is kept in a monotonic queue (a ring of at most
// clockWindow entries), O(1) amortised per event and allocated once.
type clock struct {
	now        int64 // Unix ms; 0 until the window first fills
	head       int64 // Unix ms; 0 before the first event
	candidates int   // events in a row far ahead of head
	maxFuture  int64
	seen       uint64 // events observed
	q          []stamp
	front, n   int // ring of q: the queue's front index and length
}

// stamp is one queued event: its sequence number and time.
type stamp struct {
	seq uint64
	ts  int64
}

// observe takes an event at ts, advances the clock and reports whether the
// event is far in the future of the head.
func (c *clock) observe(ts int64) (future bool) {
	switch {
	case c.head == 0 || ts-c.head <= c.maxFuture:
		c.head, c.candidates = max(c.head, ts), 0
	case c.candidates+1 >= headConfirm:
		c.head, c.candidates = ts, 0
	default:
		c.candidates++
		future = true
	}
	c.slide(ts)
	return future
}

// slide puts ts in the window and moves now to the window's oldest time.
func (c *clock) slide(ts int64) {
	if c.q == nil {
		c.q = make([]stamp, clockWindow)
	}
	c.seen++
	// Drop the front when it has left the window, and every queued time
	// at or after ts from the back: they can no longer be the minimum.
	if c.n > 0 && c.q[c.front].seq+clockWindow <= c.seen {
		c.front, c.n = (c.front+1)%clockWindow, c.n-1
	}
	for c.n > 0 && c.q[(c.front+c.n-1)%clockWindow].ts >= ts {
		c.n--
	}
	c.q[(c.front+c.n)%clockWindow] = stamp{seq: c.seen, ts: ts}
	c.n++
	if c.seen >= clockWindow && c.q[c.front].ts > c.now {
		c.now = c.q[c.front].ts
	}
}
