package client

import "time"

// mark is one look at the topic's end: at time at, partition p ended at
// offset ends[p] (the offset the next message written will get).
type mark struct {
	at   time.Time
	ends map[int]int64
}

// maxMarks bounds the marks waiting to be reached. When reading falls
// that far behind, a new mark is not queued; freshness then only gets
// older, which errs on the side of degrading.
const maxMarks = 64

// tracker measures how far the client's reading is behind the topic. It
// keeps, per partition, the next offset to apply and the highest end
// offset seen, and a queue of marks: once every partition has been read
// up to a mark's ends, everything written before the mark's time has been
// applied, and the client is fresh as of that time. The follow goroutine
// owns it.
type tracker struct {
	next  map[int]int64
	ends  map[int]int64
	marks []mark
	fresh time.Time // every decision written before it has been applied
	ready bool      // the first mark has been reached
}

func newTracker() *tracker {
	return &tracker{next: map[int]int64{}, ends: map[int]int64{}}
}

// start records that partition p is read from offset off.
func (t *tracker) start(p int, off int64) {
	t.next[p] = off
	if t.ends[p] < off {
		t.ends[p] = off
	}
}

// read records that the message at offset off of partition p has been
// applied, and that the partition then ended at end (its high watermark).
func (t *tracker) read(p int, off, end int64) {
	if off+1 > t.next[p] {
		t.next[p] = off + 1
	}
	if end > t.ends[p] {
		t.ends[p] = end
	}
	t.reach()
}

// look records the topic's ends as seen at time at.
func (t *tracker) look(at time.Time, ends map[int]int64) {
	for p, e := range ends {
		if e > t.ends[p] {
			t.ends[p] = e
		}
	}
	if len(t.marks) < maxMarks {
		t.marks = append(t.marks, mark{at: at, ends: ends})
	}
	t.reach()
}

// reach moves freshness up to every mark that reading has now reached.
func (t *tracker) reach() {
	n := 0
	for _, m := range t.marks {
		if !t.reached(m) {
			break
		}
		t.fresh, t.ready = m.at, true
		n++
	}
	t.marks = t.marks[n:]
}

func (t *tracker) reached(m mark) bool {
	for p, e := range m.ends {
		if next, ok := t.next[p]; !ok || next < e {
			return false
		}
	}
	return true
}

// lag returns how many messages are known to be written and not yet
// applied, over all partitions.
func (t *tracker) lag() int64 {
	var n int64
	for p, e := range t.ends {
		if d := e - t.next[p]; d > 0 {
			n += d
		}
	}
	return n
}
