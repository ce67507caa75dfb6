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
