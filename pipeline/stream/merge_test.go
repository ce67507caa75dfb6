package stream

import (
	"errors"
	"testing"
	"time"

	"github.com/riskd/riskd/event"
)

// TestMergeTakesFarAheadFirst checks the merge of a worker's input topics:
// heads are taken in event-time order, except one dated far past the
// newest event decided (or past the wall clock), which goes first instead
// of holding its topic back behind the other topic's whole backlog.
func TestMergeTakesFarAheadFirst(t *testing.T) {
	day := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		auth  time.Time // the auth topic's head; the txn topic's is at day+1m
		first string
	}{
		{"earlier auth event first", day, "auth"},
		{"later auth event second", day.Add(2 * time.Minute), "txn"},
		{"45 days ahead of the stream: first", day.Add(45 * 24 * time.Hour), "auth"},
		{"past the wall clock (refused): first", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), "auth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := testWorker(t, day.Add(300*24*time.Hour))
			w.mark = day.UnixMilli()
			w.sources = []*source{{topic: "auth", first: -1}, {topic: "txn", first: -1}}
			w.sources[0].head = &item{ev: event.Event{ID: "a", TS: tt.auth}}
			w.sources[1].head = &item{ev: event.Event{ID: "t", TS: day.Add(time.Minute)}}
			it := w.pop()
			if got := map[string]string{"a": "auth", "t": "txn"}[it.ev.ID]; got != tt.first {
				t.Errorf("took %s first, want %s", got, tt.first)
			}
		})
	}
}

// TestGraceOnlyForLaterTopics holds who waits MergeGrace: the earliest
// head waits when a topic listed before its own has nothing buffered (a
// transaction for the login of its burst), never for a topic listed after
// it (a login does not wait for transactions), and not when that topic has
// a head already.
func TestGraceOnlyForLaterTopics(t *testing.T) {
	day := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	fetched := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	head := func(ts time.Time) *item { return &item{ev: event.Event{TS: ts}, fetched: fetched} }
	for _, tt := range []struct {
		name      string
		auth, txn *item
		grace     time.Duration
		wait      bool
	}{
		{"login alone: no wait", head(day), nil, 5 * time.Millisecond, false},
		{"transaction alone: waits for the logins", nil, head(day), 5 * time.Millisecond, true},
		{"both there: no wait", head(day.Add(time.Second)), head(day), 5 * time.Millisecond, false},
		{"grace off: no wait", nil, head(day), -1, false},
		{"an undecodable transaction: no wait (it goes first)", nil, &item{err: errors.New("not JSON"), fetched: fetched}, 5 * time.Millisecond, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := testWorker(t, fetched)
			w.cfg.MergeGrace = tt.grace
			w.sources = []*source{{topic: "auth", head: tt.auth}, {topic: "txn", head: tt.txn}}
			until := w.graceUntil()
			if want := fetched.Add(5 * time.Millisecond); tt.wait && !until.Equal(want) {
				t.Errorf("waits until %v, want %v", until, want)
			}
			if !tt.wait && !until.IsZero() {
				t.Errorf("waits until %v, want no wait", until)
			}
		})
	}
}
