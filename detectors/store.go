package detectors

import (
	"cmp"
	"slices"
)

// Store keeps per-key state, by keys of K (a user id, an IPKey), with a
// cap on keys (least recently used evicted first) and an idle TTL in
// event time. It also remembers which keys changed since the last
// Changes (touched, evicted or expired), so that a changelog can carry
// them. It is owned by one goroutine and not safe for concurrent use.
type Store[K comparable, V any] struct {
	lru      *lru[K, V]
	ttl      int64
	lastSeen func(*V) int64
	// changed holds the keys changed since the last Changes, each with
	// the number of the latest mark of it (tick), which orders them as the
	// recency list does; it is nil until Track, so replay keeps no such
	// set. Its size is bounded by the keys of one batch of events.
	changed map[K]uint64
	tick    uint64
	order   []changedKey[K] // Changes' scratch

	Evictions   uint64 // keys dropped because the store was full
	Expirations uint64 // keys dropped because they were idle longer than the TTL
}

// NewStore returns a store of at most max keys that forgets a key idle for
// ttl milliseconds of event time; lastSeen reports a value's newest event.
func NewStore[K comparable, V any](max int, ttl int64, lastSeen func(*V) int64) *Store[K, V] {
	s := &Store[K, V]{ttl: ttl, lastSeen: lastSeen}
	s.lru = newLRU[K, V](max, s.mark)
	return s
}

// Track starts remembering changed keys for Changes.
func (s *Store[K, V]) Track() {
	if s.changed == nil {
		s.changed = map[K]uint64{}
	}
}

// changedKey is a changed key and the tick of its latest mark.
type changedKey[K comparable] struct {
	key  K
	tick uint64
}

func (s *Store[K, V]) mark(key K) {
	if s.changed != nil {
		s.tick++
		s.changed[key] = s.tick
	}
}

// Get returns the state of key, creating it when absent, and marks it most
// recently used (and changed: the caller is about to update it). now is the
// stream clock, used to expire at most a couple of idle keys per call so
// that expiry costs O(1) amortised. The state is held in the store: the
// pointer is good until its key leaves (evicted, expired or deleted), so
// callers use it at once and keep none.
func (s *Store[K, V]) Get(key K, now int64) (v *V, created bool) {
	s.expire(now)
	s.mark(key)
	v, created, evicted := s.lru.getOrAdd(key)
	if evicted {
		s.Evictions++
	}
	return v, created
}

// Put sets the state of key to a copy of *v, as a restore does: it is not
// a change.
func (s *Store[K, V]) Put(key K, v *V) {
	p, _, _ := s.lru.getOrAdd(key)
	*p = *v
	delete(s.changed, key)
}

// Delete drops key, as a restored tombstone does: it is not a change.
func (s *Store[K, V]) Delete(key K) {
	s.lru.remove(key)
	delete(s.changed, key)
}

// Changes calls f for every key changed since the last Changes, with its
// state, or nil when the key was evicted or expired (a tombstone), and
// forgets them. Tombstones come first: a store of the same cap that
// applies them in order (a restore) then makes room before it adds, and so
// never evicts a key the original still holds. The states come after,
// least recently used first: every key held that changed was last made
// the most recently used by the Get that marked it, so that order of
// their marks is their order in the recency list, and a restore that puts
// them in it leaves its list in the original's order, to evict the same
// keys after.
func (s *Store[K, V]) Changes(f func(key K, v *V)) {
	order := s.order[:0]
	for key, tick := range s.changed {
		if _, ok := s.lru.peek(key); !ok {
			f(key, nil)
		} else {
			order = append(order, changedKey[K]{key, tick})
		}
	}
	slices.SortFunc(order, func(a, b changedKey[K]) int { return cmp.Compare(a.tick, b.tick) })
	for _, c := range order {
		v, _ := s.lru.peek(c.key)
		f(c.key, v)
	}
	clear(order)
	s.order = order[:0]
	clear(s.changed)
}

// Peek returns the state of key without creating it or touching recency.
func (s *Store[K, V]) Peek(key K) (*V, bool) { return s.lru.peek(key) }

// Len returns the number of keys held.
func (s *Store[K, V]) Len() int { return s.lru.len() }

func (s *Store[K, V]) expire(now int64) {
	for range 2 {
		_, v, ok := s.lru.oldest()
		if !ok || s.lastSeen(v) >= now-s.ttl {
			return
		}
		s.lru.removeOldest()
		s.Expirations++
	}
}
