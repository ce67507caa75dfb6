package stream

import (
	"container/heap"
	"math"
	"time"
)

// hold puts the address stage's input back in event-time order. Its
// messages come from every user-stage partition, each at its own pace, so
// a login attempt can arrive before an earlier one from another partition;
// counted on arrival, a password spray would look smaller than it was, and
// different from `riskd replay`. Each message carries the watermark of the
// partition that sent it (the newest event time that worker had decided),
// and an attempt is released once every partition's watermark has passed
// it. A partition whose last message said it was caught up (nothing more
// to read) holds nothing back while the address worker is caught up too;
// user-stage workers say so in a heartbeat to every address partition when
// they catch up, and every so often while they work through a backlog, and
// say they are not when they give the partition up (a rebalance or a
// stop). Nothing waits longer than maxHold, and the hold keeps at most
// maxItems attempts and maxBytes bytes of their messages: beyond either,
// the earliest held goes on without waiting (counted in overflows). It is
// not safe for concurrent use: the address worker owns it.
type hold struct {
	maxHold   time.Duration
	maxItems  int
	maxBytes  int
	items     holdHeap
	bytes     int        // of the held messages' keys and values
	parts     []partMark // per user-stage partition
	seq       uint64
	timeouts  int // items released by maxHold rather than by watermark
	overflows int // items released early because the hold was full
}

type partMark struct {
	mark   int64
	caught bool
}

type held struct {
	it      item
	ts      int64 // event time, Unix ms
	arrived time.Time
	seq     uint64
	size    int
}

// maxHeld and maxHeldBytes bound the memory of a hold: beyond either,
// items go on without waiting for their turn. The bytes are those of the
// held messages' keys and values (an attempt's decoded event and features
// take about as much again).
const (
	maxHeld      = 100_000
	maxHeldBytes = 64 << 20
)

// newHold returns an empty hold for the messages of sources user-stage
// partitions (the input topics' partition count).
func newHold(maxHold time.Duration, sources int) *hold {
	h := &hold{maxHold: maxHold, maxItems: maxHeld, maxBytes: maxHeldBytes, parts: make([]partMark, max(sources, 0))}
	for i := range h.parts {
		h.parts[i].mark = math.MinInt64
	}
	return h
}

// add holds it, which came from user-stage partition src with that
// partition's watermark mark; caught says that partition had read
// everything there was.
func (h *hold) add(it item, src int, mark int64, caught bool, now time.Time) {
	h.mark(src, mark, caught)
	h.seq++
	size := len(it.msg.Key) + len(it.msg.Value)
	h.bytes += size
	// Appended and sifted up with heap.Fix rather than heap.Push, whose
	// argument of type any would box every held item (an allocation each).
	h.items = append(h.items, held{it: it, ts: it.ev.TS.UnixMilli(), arrived: now, seq: h.seq, size: size})
	heap.Fix(&h.items, len(h.items)-1)
}

// mark records what user-stage partition src said of its progress. A
// partition the hold was not made for is ignored (decodeObservation lets
// none through).
func (h *hold) mark(src int, mark int64, caught bool) {
	if src < 0 || src >= len(h.parts) {
		return
	}
	p := &h.parts[src]
	p.caught = caught
	p.mark = max(p.mark, mark)
}

// release pops the next item that may be decided at now. backlog says the
// address worker has more of its own input to read: a partition's "caught
// up" then dates from when it was written, and that partition's later
// messages (from its next owner, after a rebalance) may still be ahead in
// the input, so every partition's watermark counts.
func (h *hold) release(now time.Time, backlog bool) (item, bool) {
	if len(h.items) == 0 {
		return item{}, false
	}
	top := h.items[0]
	ordered := top.ts <= h.watermark(backlog || now.Sub(top.arrived) < caughtGrace)
	timedOut := now.Sub(top.arrived) >= h.maxHold
	full := len(h.items) > h.maxItems || h.bytes > h.maxBytes
	if !ordered && !timedOut && !full {
		return item{}, false
	}
	switch {
	case ordered:
	case timedOut:
		h.timeouts++
	default:
		h.overflows++
	}
	// heap.Pop's result of type any would box the item: the last item
	// takes the top's place and sinks instead.
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items[last] = held{}
	h.items = h.items[:last]
	if last > 0 {
		heap.Fix(&h.items, 0)
	}
	h.bytes -= top.size
	return top.it, true
}

// caughtGrace is how long an attempt also waits for partitions that said
// they were caught up: their next events, produced in the same burst as
// this one, may be a few milliseconds behind it.
const caughtGrace = 100 * time.Millisecond

// watermark is the event time that every partition which can still send
// something older has passed; withCaught counts the caught-up ones too.
func (h *hold) watermark(withCaught bool) int64 {
	m := int64(math.MaxInt64)
	for _, p := range h.parts {
		if !p.caught || withCaught {
			m = min(m, p.mark)
		}
	}
	return m
}

// deadline is when the next item is released regardless of the
// watermarks; zero when nothing is held.
func (h *hold) deadline() time.Time {
	if len(h.items) == 0 {
		return time.Time{}
	}
	if g := h.items[0].arrived.Add(caughtGrace); time.Now().Before(g) {
		return g
	}
	return h.items[0].arrived.Add(h.maxHold)
}

// minOffset is the smallest offset held, which is where a restart must
// resume; ok is false when nothing is held.
func (h *hold) minOffset() (off int64, ok bool) {
	for i := range h.items {
		if o := h.items[i].it.msg.Offset; !ok || o < off {
			off, ok = o, true
		}
	}
	return off, ok
}

func (h *hold) len() int { return len(h.items) }

type holdHeap []held

func (q holdHeap) Len() int { return len(q) }
func (q holdHeap) Less(i, j int) bool {
	if q[i].ts != q[j].ts {
		return q[i].ts < q[j].ts
	}
	return q[i].seq < q[j].seq
}
func (q holdHeap) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

// Push and Pop complete heap.Interface; hold uses heap.Fix only (see add
// and release), so they are never called.
func (q *holdHeap) Push(x any) { *q = append(*q, x.(held)) }
func (q *holdHeap) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
