package client

import (
	"container/heap"
	"time"
)

// order holds what one enforced decision asks of one subject: the action
// until an expiry, and the decision that asked for it.
type order struct {
	until      time.Time
	decisionID string
	reasons    []Reason
}

// entry is everything in force for one subject: at most one order per
// enforced action. Keeping the step-up beside the lockout (rather than
// one order per subject) is what lets a step-up that outlives a lockout
// apply once the lockout ends, without letting it cut the lockout short.
type entry struct {
	subject Subject
	lockout order
	stepUp  order
	index   int // position in the table's heap
}

// end is when nothing of e is in force any more.
func (e *entry) end() time.Time {
	if e.lockout.until.After(e.stepUp.until) {
		return e.lockout.until
	}
	return e.stepUp.until
}

// slot returns e's order for an enforced action.
func (e *entry) slot(a Action) *order {
	if a == Lockout {
		return &e.lockout
	}
	return &e.stepUp
}

// outcome says what applying one decision did to a table.
type outcome int

const (
	applied   outcome = iota // the decision is now in force (or extends one)
	unchanged                // nothing to do: redelivered, already covered, allow or shadow
	expired                  // its expiry had passed when it arrived
	evicted                  // the table was full: the soonest-ending subject made way
	dropped                  // the table was full and this decision ended soonest, so it was not kept
)

// table is the in-force table: per subject, the orders in force, in a
// min-heap by the time the subject's last order ends, so that both the
// sweep of expired subjects and eviction at the cap take the heap's top.
// It is not safe for concurrent use; Client guards it.
type table struct {
	max      int
	subjects map[Subject]*entry
	byEnd    endHeap
}

func newTable(max int) *table {
	return &table{max: max, subjects: map[Subject]*entry{}}
}

// apply records d as of now. Orders merge by taking the later expiry per
// action, which is commutative and idempotent: a redelivered decision, or
// decisions about one subject read in another order, give the same table.
// A weaker action never shortens or hides a stronger one (check answers
// the strongest order in force), and an allow never lifts anything: the
// contract has no revocation, an allow only says "nothing more".
func (t *table) apply(d Decision, now time.Time) outcome {
	if d.Mode != Enforce || d.Action == Allow {
		return unchanged
	}
	if !d.ExpiresAt.After(now) {
		return expired
	}
	e, ok := t.subjects[d.Subject]
	if !ok {
		out := applied
		if len(t.subjects) >= t.max {
			t.sweep(now)
		}
		if len(t.subjects) >= t.max {
			if !t.byEnd[0].end().Before(d.ExpiresAt) {
				return dropped
			}
			delete(t.subjects, heap.Pop(&t.byEnd).(*entry).subject)
			out = evicted
		}
		e = &entry{subject: d.Subject}
		*e.slot(d.Action) = order{until: d.ExpiresAt, decisionID: d.DecisionID, reasons: d.Reasons}
		t.subjects[d.Subject] = e
		heap.Push(&t.byEnd, e)
		return out
	}
	o := e.slot(d.Action)
	if o.decisionID == d.DecisionID || !d.ExpiresAt.After(o.until) {
		return unchanged
	}
	*o = order{until: d.ExpiresAt, decisionID: d.DecisionID, reasons: d.Reasons}
	heap.Fix(&t.byEnd, e.index)
	return applied
}

// check returns the strongest order in force for s at now, and its
// action; Allow and a zero order when none is.
func (t *table) check(s Subject, now time.Time) (Action, order) {
	e, ok := t.subjects[s]
	switch {
	case !ok:
		return Allow, order{}
	case e.lockout.until.After(now):
		return Lockout, e.lockout
	case e.stepUp.until.After(now):
		return StepUp, e.stepUp
	}
	return Allow, order{}
}

// sweep forgets every subject with nothing in force at now, and returns
// how many it forgot. Its cost is that of the expired subjects alone.
func (t *table) sweep(now time.Time) int {
	n := 0
	for len(t.byEnd) > 0 && !t.byEnd[0].end().After(now) {
		delete(t.subjects, heap.Pop(&t.byEnd).(*entry).subject)
		n++
	}
	return n
}

// len returns the number of subjects held.
func (t *table) len() int { return len(t.subjects) }

// endHeap orders entries by the end of their last order (container/heap).
type endHeap []*entry

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].end().Before(h[j].end()) }
func (h endHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *endHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *endHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
