package detectors

import (
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Store keeps per-key state with a cap on keys (least recently used evicted
// first) and an idle TTL in event time. It is owned by one goroutine and not
// safe for concurrent use.
type Store[V any] struct {
	lru      *simplelru.LRU[string, *V]
	ttl      int64
	lastSeen func(*V) int64

	Evictions   uint64 // keys dropped because the store was full
	Expirations uint64 // keys dropped because they were idle longer than the TTL
}

// NewStore returns a store of at most max keys that forgets a key idle for
// ttl milliseconds of event time; lastSeen reports a value's newest event.
func NewStore[V any](max int, ttl int64, lastSeen func(*V) int64) *Store[V] {
	l, _ := simplelru.NewLRU[string, *V](max, nil)
	return &Store[V]{lru: l, ttl: ttl, lastSeen: lastSeen}
}

// Get returns the state of key, creating it when absent, and marks it most
// recently used. now is the stream clock, used to expire at most a couple of
// idle keys per call so that expiry costs O(1) amortised.
func (s *Store[V]) Get(key string, now int64) (v *V, created bool) {
	s.expire(now)
	if v, ok := s.lru.Get(key); ok {
		return v, false
	}
	v = new(V)
	if s.lru.Add(key, v) {
		s.Evictions++
	}
	return v, true
}

// Peek returns the state of key without creating it or touching recency.
func (s *Store[V]) Peek(key string) (*V, bool) { return s.lru.Peek(key) }

// Len returns the number of keys held.
func (s *Store[V]) Len() int { return s.lru.Len() }

func (s *Store[V]) expire(now int64) {
	for range 2 {
		_, v, ok := s.lru.GetOldest()
		if !ok || s.lastSeen(v) >= now-s.ttl {
			return
		}
		s.lru.RemoveOldest()
		s.Expirations++
	}
}

// clock is a stage's stream time: the newest event time seen, which the
// stage's store expires idle keys against. An attacker chooses the
// timestamps of some events, so no event can drag the clock far ahead on
// its own: an event more than maxFuture ahead is a jump candidate, flagged
// future, and the clock moves to it only after jumpConfirm such candidates
// in a row with no event in between at the clock's time. That is a real gap
// in the stream (a quiet night, a replayed file with a hole), after which
// every event is ahead; a burst of forged future events in the middle of
// live traffic is interrupted by the traffic and never confirms. While a
// jump waits for confirmation the clock lags, which only delays expiry.
// Events ahead of the wall clock are refused before they get here (see
// pipeline's admission), so even a confirmed jump cannot pass real time by
// more than the allowed skew.
type clock struct {
	now        int64
	maxFuture  int64
	candidates int
}

// jumpConfirm is how many consecutive far-ahead events move the clock. It
// is larger than any burst one client can slip between two events of real
// traffic on a busy partition, and small next to the events after a real
// gap; the cost of a lagging clock is only later expiry.
const jumpConfirm = 4096

// observe advances the clock with an event at ts and reports whether the
// event is far in the future.
func (c *clock) observe(ts int64) (future bool) {
	switch {
	case c.now == 0 || ts <= c.now:
		if c.now == 0 {
			c.now = ts
		}
		c.candidates = 0
		return false
	case ts-c.now <= c.maxFuture:
		c.now = ts
		c.candidates = 0
		return false
	}
	c.candidates++
	if c.candidates >= jumpConfirm {
		c.now = ts
		c.candidates = 0
		return false
	}
	return true
}

// Now returns the stream time, Unix ms; 0 before the first event.
func (c *clock) Now() int64 { return c.now }
