package detectors

// lru maps string keys to *V, least recently used first out beyond max
// keys. It replaces hashicorp/golang-lru's simplelru for the detector
// stores because memory per key is the cost that matters there: a
// simplelru entry is a list element of 80 bytes (two pointers, a pointer to
// its list, the key, the value, an expiry time the stores do not use) plus
// its map slot; here a key is a map slot holding a slot index and a 32-byte
// slot in one slice, linked by index, with removed slots reused. Not safe
// for concurrent use.
type lru[V any] struct {
	index      map[string]int32
	slots      []slot[V]
	head, tail int32 // most and least recently used; -1 when empty
	free       int32 // first free slot, linked by next; -1 when none
	max        int
	onRemove   func(key string) // called for every key that leaves: evicted, removed, oldest removed
}

type slot[V any] struct {
	key        string
	val        *V
	prev, next int32
}

func newLRU[V any](max int, onRemove func(key string)) *lru[V] {
	return &lru[V]{index: map[string]int32{}, head: -1, tail: -1, free: -1, max: max, onRemove: onRemove}
}

func (l *lru[V]) len() int { return len(l.index) }

// get returns key's value and makes it the most recently used.
func (l *lru[V]) get(key string) (*V, bool) {
	i, ok := l.index[key]
	if !ok {
		return nil, false
	}
	l.toFront(i)
	return l.slots[i].val, true
}

// peek returns key's value without touching its recency.
func (l *lru[V]) peek(key string) (*V, bool) {
	i, ok := l.index[key]
	if !ok {
		return nil, false
	}
	return l.slots[i].val, true
}

// add sets key's value, most recently used, and reports whether the least
// recently used key was evicted to make room.
func (l *lru[V]) add(key string, v *V) (evicted bool) {
	if i, ok := l.index[key]; ok {
		l.slots[i].val = v
		l.toFront(i)
		return false
	}
	if len(l.index) >= l.max && l.tail >= 0 {
		l.removeSlot(l.tail)
		evicted = true
	}
	i := l.free
	if i >= 0 {
		l.free = l.slots[i].next
	} else {
		l.slots = append(l.slots, slot[V]{})
		i = int32(len(l.slots) - 1)
	}
	l.slots[i] = slot[V]{key: key, val: v, prev: -1, next: l.head}
	if l.head >= 0 {
		l.slots[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
	l.index[key] = i
	return evicted
}

// remove drops key; it reports whether it was there.
func (l *lru[V]) remove(key string) bool {
	i, ok := l.index[key]
	if ok {
		l.removeSlot(i)
	}
	return ok
}

// oldest returns the least recently used key and value.
func (l *lru[V]) oldest() (string, *V, bool) {
	if l.tail < 0 {
		return "", nil, false
	}
	s := &l.slots[l.tail]
	return s.key, s.val, true
}

// removeOldest drops the least recently used key.
func (l *lru[V]) removeOldest() {
	if l.tail >= 0 {
		l.removeSlot(l.tail)
	}
}

// keys lists the keys from the least to the most recently used.
func (l *lru[V]) keys() []string {
	out := make([]string, 0, len(l.index))
	for i := l.tail; i >= 0; i = l.slots[i].prev {
		out = append(out, l.slots[i].key)
	}
	return out
}

func (l *lru[V]) unlink(i int32) {
	s := &l.slots[i]
	if s.prev >= 0 {
		l.slots[s.prev].next = s.next
	} else {
		l.head = s.next
	}
	if s.next >= 0 {
		l.slots[s.next].prev = s.prev
	} else {
		l.tail = s.prev
	}
}

func (l *lru[V]) toFront(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	s := &l.slots[i]
	s.prev, s.next = -1, l.head
	l.slots[l.head].prev = i
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

// removeSlot unlinks slot i, frees it (its key and value let go) and
// reports the key to onRemove.
func (l *lru[V]) removeSlot(i int32) {
	l.unlink(i)
	key := l.slots[i].key
	delete(l.index, key)
	l.slots[i] = slot[V]{next: l.free, prev: -1}
	l.free = i
	if l.onRemove != nil {
		l.onRemove(key)
	}
}
