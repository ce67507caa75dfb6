// Package window keeps the minimum of the last N values of a stream: the
// robust "time so far" that riskd's clocks and watermarks are made of,
// since one forged timestamp can raise a maximum but not a minimum that
// the real events around it keep down.
package window

// Min is the minimum of the last Size values pushed, kept in a monotonic
// queue over a ring allocated once: O(1) amortised per value. Not safe for
// concurrent use; its owner goroutine pushes and reads.
type Min struct {
	q        []entry
	front, n int
	seen     uint64
}

type entry struct {
	seq uint64
	v   int64
}

// NewMin returns an empty window of the last size values (size > 0).
func NewMin(size int) *Min { return &Min{q: make([]entry, size)} }

// Push adds v as the newest value; the oldest leaves once size are held.
func (m *Min) Push(v int64) {
	size := len(m.q)
	m.seen++
	// Drop the front when it has left the window, and every queued value
	// at or above v from the back: they can no longer be the minimum.
	if m.n > 0 && m.q[m.front].seq+uint64(size) <= m.seen {
		m.front, m.n = (m.front+1)%size, m.n-1
	}
	for m.n > 0 && m.q[(m.front+m.n-1)%size].v >= v {
		m.n--
	}
	m.q[(m.front+m.n)%size] = entry{seq: m.seen, v: v}
	m.n++
}

// Min returns the minimum of the values in the window; ok is false before
// the first Push.
func (m *Min) Min() (v int64, ok bool) {
	if m.n == 0 {
		return 0, false
	}
	return m.q[m.front].v, true
}

// Full reports whether size values have been pushed, so that Min covers a
// whole window.
func (m *Min) Full() bool { return m.seen >= uint64(len(m.q)) }
