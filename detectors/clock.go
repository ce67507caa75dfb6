package detectors

import "github.com/riskd/riskd/internal/window"

// clockWindow is how many of a stage's latest events its expiry clock is
// the oldest time of, and how many far-ahead events in a row it takes to
// make the head jump (a real gap in the stream). An attacker can forge
// the timestamps of his own events, not suppress other people's: to move
// either reading he must send this many events in a row with no real event
// between them. The cost is a clock that lags this many events behind the
// newest, which only delays the expiry of idle keys (the key caps bound
// memory regardless).
const clockWindow = 4096

// headWindow is how many of the latest in-range events the head is the
// oldest of: enough that a creeping chain of forged events (each a day
// after the last, interleaved with real traffic) never makes up a whole
// window, few enough that the head follows real traffic closely.
const headWindow = 64

// clock is a stage's stream time, in two readings, both minimums over
// recent events so that no chain of forged timestamps can drag them along:
//
//   - head, the oldest of the last headWindow in-range events: events more
//     than maxFuture past it are flagged future, and those more than
//     maxFuture before it are stale; neither kind enters either window;
//   - now, the oldest of the last clockWindow in-range events, never going
//     back: what the stage's store expires idle keys against, 0 until the
//     window first fills so that nothing expires early in a stream.
//
// After a real gap every event is future until clockWindow of them in a
// row make the head jump to them.
type clock struct {
	now, head  int64 // Unix ms; 0 until known
	maxFuture  int64
	candidates int // far-ahead events in a row
	heads      *window.Min
	expiry     *window.Min
}

// observe takes an event at ts, advances the clock and reports whether the
// event is far in the future of the head.
func (c *clock) observe(ts int64) (future bool) {
	if c.heads == nil {
		c.heads, c.expiry = window.NewMin(headWindow), window.NewMin(clockWindow)
	}
	switch {
	case c.head != 0 && ts-c.head > c.maxFuture:
		if c.candidates++; c.candidates < clockWindow {
			return true
		}
		c.head = ts // a real gap, confirmed
	case c.head != 0 && c.head-ts > c.maxFuture:
		return false // stale: decided where it belongs, moves no clock
	}
	c.candidates = 0
	c.heads.Push(ts)
	if m, _ := c.heads.Min(); c.heads.Full() && m > c.head {
		c.head = m
	}
	c.expiry.Push(ts)
	if m, _ := c.expiry.Min(); c.expiry.Full() && m > c.now {
		c.now = m
	}
	return false
}
