package report

import (
	"cmp"
	"container/heap"
	"slices"
)

// Counts are one key's decisions split by action (allow, step_up,
// lockout) and by mode (enforce, shadow).
type Counts struct {
	Action          [3]int64
	Enforce, Shadow int64
}

// Total returns the decisions counted.
func (c Counts) Total() int64 { return c.Action[0] + c.Action[1] + c.Action[2] }

// Entry is one key of a TopK: its counts, and Over, how much its total
// may overstate the truth (nonzero only once the key replaced an evicted
// one, see TopK).
type Entry struct {
	Key    string
	Counts Counts
	Over   int64
}

// Count returns the entry's total as ranked: counted decisions plus what
// it inherited from the key it replaced.
func (e *Entry) Count() int64 { return e.Counts.Total() + e.Over }

// TopK keeps the most frequent keys of a stream in bounded memory with the
// Space-Saving algorithm (Metwally, Agrawal, El Abbadi 2005): it counts at
// most capacity keys exactly; a new key arriving when it is full replaces
// the key of the smallest count and inherits that count as Over. A key
// counted more often than Over of the smallest entry is always kept, so
// the top of the list is right when the capacity is well above the number
// of keys shown.
type TopK struct {
	capacity int
	index    map[string]int // key to position in heap
	heap     entryHeap
	evicted  int64
}

// NewTopK returns a TopK that tracks at most capacity keys.
func NewTopK(capacity int) *TopK {
	index := map[string]int{}
	return &TopK{capacity: max(capacity, 1), index: index, heap: entryHeap{index: index}}
}

// Add counts one decision of action (0..2) and mode for key.
func (t *TopK) Add(key string, action int, shadow bool) {
	i, ok := t.index[key]
	if !ok {
		if len(t.heap.es) < t.capacity {
			t.heap.es = append(t.heap.es, &Entry{Key: key})
			i = len(t.heap.es) - 1
		} else {
			// Replace the smallest: the root of the min-heap.
			e := t.heap.es[0]
			delete(t.index, e.Key)
			t.evicted++
			*e = Entry{Key: key, Over: e.Count()}
			i = 0
		}
		t.index[key] = i
	}
	e := t.heap.es[i]
	e.Counts.Action[action]++
	if shadow {
		e.Counts.Shadow++
	} else {
		e.Counts.Enforce++
	}
	heap.Fix(&t.heap, i)
}

// Evicted returns how many times a key was dropped to make room: zero
// means every count is exact.
func (t *TopK) Evicted() int64 { return t.evicted }

// Capacity returns the most keys tracked at once.
func (t *TopK) Capacity() int { return t.capacity }

// Top returns up to n entries, highest count first, ties by key.
func (t *TopK) Top(n int) []Entry {
	out := make([]Entry, len(t.heap.es))
	for i, e := range t.heap.es {
		out[i] = *e
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := cmp.Compare(b.Count(), a.Count()); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out[:min(n, len(out))]
}

// entryHeap is a min-heap of entries by count that keeps index in step.
type entryHeap struct {
	es    []*Entry
	index map[string]int
}

func (h *entryHeap) Len() int { return len(h.es) }
func (h *entryHeap) Less(i, j int) bool {
	if a, b := h.es[i].Count(), h.es[j].Count(); a != b {
		return a < b
	}
	return h.es[i].Key > h.es[j].Key
}
func (h *entryHeap) Swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.index[h.es[i].Key] = i
	h.index[h.es[j].Key] = j
}
func (h *entryHeap) Push(x any) { panic("report: entryHeap grows by append") }
func (h *entryHeap) Pop() any   { panic("report: entryHeap never shrinks") }
