package detectors

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"unsafe"
)

// lru maps keys of K to values of V, least recently used first out
// beyond max keys. Memory per key is the cost that matters for the
// detector stores, so it holds a key in one slot (the key, the value
// itself and two int32 links of the recency list) in chunks of slots that
// never move, and finds slots through an open-addressed table of uint32
// (the slot's number and a few bits of the key's hash), 5 to 11 bytes a key
// where a Go map of string to slot number takes about 45. Removed slots
// are reused. Pointers to values stay valid until their key leaves. Not
// safe for concurrent use.
type lru[K comparable, V any] struct {
	// table is the index, probed linearly from a key's hash: 0 is an empty
	// entry, else the slot number plus one in the bits of slotMask, and
	// the high bits of the key's hash above them (compared before the key
	// is). Its length is a power of two, at most three quarters used.
	table    []uint32
	slotMask uint32
	seed     maphash.Seed
	hash     func(maphash.Seed, K) uint64 // keyHash[K]

	chunks     [][]slot[K, V] // slot i is chunks[i>>chunkBits][i&chunkMask]
	chunkBits  uint8
	chunkMask  int32
	slots      int32 // slots made so far
	n          int   // keys held
	head, tail int32 // most and least recently used; -1 when empty
	free       int32 // first free slot, linked by next; -1 when none
	max        int
	onRemove   func(key K) // called for every key that leaves: evicted, removed, oldest removed
}

type slot[K comparable, V any] struct {
	key        K
	prev, next int32
	val        V
}

// chunkBits returns log2 of the slots in a chunk of slots of size bytes:
// the fewest, a power of two, that make a chunk beyond the allocator's
// largest size class (32 KB) and of whole pages (8 KB), or within 1/64 of
// them. Such a chunk is a large object, which takes its pages and no more;
// a smaller chunk of slots that hold pointers would carry the allocator's
// 8-byte header and be rounded up to a size class (512 slots of 48 bytes
// took 27,264 bytes for 24,576, 11% more). A full store wastes at most one
// part-filled chunk, and growing never copies values.
func chunkBits(size uintptr) uint8 {
	const page = 8 << 10
	b := uint8(0)
	for n := size; n <= 32<<10 || (page-n%page)%page*64 > n; n *= 2 {
		b++
	}
	return b
}

// MaxStateKeys is the most keys a store can hold: its slots are numbered
// by int32, and the index stores a slot's number plus one in a uint32.
const MaxStateKeys = math.MaxInt32

func newLRU[K comparable, V any](max int, onRemove func(key K)) *lru[K, V] {
	if max < 1 || max > MaxStateKeys {
		panic(fmt.Sprintf("detectors: a store of %d keys, want 1 to %d", max, MaxStateKeys))
	}
	cb := chunkBits(unsafe.Sizeof(slot[K, V]{}))
	return &lru[K, V]{
		chunkBits: cb,
		chunkMask: 1<<cb - 1,
		table:     make([]uint32, 8),
		slotMask:  1<<min(bits.Len(uint(max)), 32) - 1,
		seed:      maphash.MakeSeed(),
		hash:      keyHash[K](),
		head:      -1, tail: -1, free: -1, max: max, onRemove: onRemove,
	}
}

func (l *lru[K, V]) len() int { return l.n }

func (l *lru[K, V]) slot(i int32) *slot[K, V] { return &l.chunks[i>>l.chunkBits][i&l.chunkMask] }

// find returns the table position of key and its slot, or, when key is
// absent, the empty position where it would go and -1.
func (l *lru[K, V]) find(key K) (pos int, i int32) {
	h := l.hash(l.seed, key)
	tag := uint32(h>>32) &^ l.slotMask
	mask := len(l.table) - 1
	for pos = int(h) & mask; ; pos = (pos + 1) & mask {
		e := l.table[pos]
		if e == 0 {
			return pos, -1
		}
		if e&^l.slotMask == tag {
			if i := int32(e&l.slotMask) - 1; l.slot(i).key == key {
				return pos, i
			}
		}
	}
}

// get returns key's value and makes it the most recently used.
func (l *lru[K, V]) get(key K) (*V, bool) {
	if _, i := l.find(key); i >= 0 {
		l.toFront(i)
		return &l.slot(i).val, true
	}
	return nil, false
}

// peek returns key's value without touching its recency.
func (l *lru[K, V]) peek(key K) (*V, bool) {
	if _, i := l.find(key); i >= 0 {
		return &l.slot(i).val, true
	}
	return nil, false
}

// getOrAdd returns key's value, most recently used, adding it with the
// zero value when absent (created); evicted reports that the least
// recently used key went to make room.
func (l *lru[K, V]) getOrAdd(key K) (v *V, created, evicted bool) {
	pos, i := l.find(key)
	if i >= 0 {
		l.toFront(i)
		return &l.slot(i).val, false, false
	}
	if l.n >= l.max && l.tail >= 0 {
		l.removeSlot(l.tail)
		evicted = true
		pos, _ = l.find(key) // the removal may have moved entries
	}
	if (l.n+1)*4 > len(l.table)*3 {
		l.grow()
		pos, _ = l.find(key)
	}
	i = l.newSlot(key)
	h := l.hash(l.seed, key)
	l.table[pos] = uint32(h>>32)&^l.slotMask | uint32(i+1)
	l.n++
	return &l.slot(i).val, true, evicted
}

// newSlot takes a free slot, or makes one, for key at the front.
func (l *lru[K, V]) newSlot(key K) int32 {
	i := l.free
	if i >= 0 {
		l.free = l.slot(i).next
	} else {
		i = l.slots
		if i&l.chunkMask == 0 {
			l.chunks = append(l.chunks, make([]slot[K, V], min(int(l.chunkMask)+1, l.max-int(i))))
		}
		l.slots++
	}
	s := l.slot(i)
	s.key, s.prev, s.next = key, -1, l.head
	if l.head >= 0 {
		l.slot(l.head).prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
	return i
}

// grow doubles the table and enters every key again.
func (l *lru[K, V]) grow() {
	l.table = make([]uint32, 2*len(l.table))
	mask := len(l.table) - 1
	for i := l.head; i >= 0; i = l.slot(i).next {
		h := l.hash(l.seed, l.slot(i).key)
		pos := int(h) & mask
		for l.table[pos] != 0 {
			pos = (pos + 1) & mask
		}
		l.table[pos] = uint32(h>>32)&^l.slotMask | uint32(i+1)
	}
}

// remove drops key; it reports whether it was there.
func (l *lru[K, V]) remove(key K) bool {
	_, i := l.find(key)
	if i >= 0 {
		l.removeSlot(i)
	}
	return i >= 0
}

// oldest returns the least recently used key and value.
func (l *lru[K, V]) oldest() (K, *V, bool) {
	if l.tail < 0 {
		var zero K
		return zero, nil, false
	}
	s := l.slot(l.tail)
	return s.key, &s.val, true
}

// removeOldest drops the least recently used key.
func (l *lru[K, V]) removeOldest() {
	if l.tail >= 0 {
		l.removeSlot(l.tail)
	}
}

// keys lists the keys from the least to the most recently used.
func (l *lru[K, V]) keys() []K {
	out := make([]K, 0, l.n)
	for i := l.tail; i >= 0; i = l.slot(i).prev {
		out = append(out, l.slot(i).key)
	}
	return out
}

func (l *lru[K, V]) unlink(i int32) {
	s := l.slot(i)
	if s.prev >= 0 {
		l.slot(s.prev).next = s.next
	} else {
		l.head = s.next
	}
	if s.next >= 0 {
		l.slot(s.next).prev = s.prev
	} else {
		l.tail = s.prev
	}
}

func (l *lru[K, V]) toFront(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	s := l.slot(i)
	s.prev, s.next = -1, l.head
	l.slot(l.head).prev = i
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

// removeSlot unlinks slot i, takes its key out of the table, frees it (its
// key and value let go) and reports the key to onRemove.
func (l *lru[K, V]) removeSlot(i int32) {
	l.unlink(i)
	key := l.slot(i).key
	pos, _ := l.find(key)
	l.deleteAt(pos)
	*l.slot(i) = slot[K, V]{next: l.free, prev: -1}
	l.free = i
	l.n--
	if l.onRemove != nil {
		l.onRemove(key)
	}
}

// deleteAt empties table position pos and moves back the entries after it
// that their probe from home would no longer reach (backward-shift
// deletion: linear probing without tombstones).
func (l *lru[K, V]) deleteAt(pos int) {
	mask := len(l.table) - 1
	for next := (pos + 1) & mask; l.table[next] != 0; next = (next + 1) & mask {
		e := l.table[next]
		home := int(l.hash(l.seed, l.slot(int32(e&l.slotMask)-1).key)) & mask
		// The entry stays when its home is cyclically in (pos, next].
		if (next-home)&mask < (next-pos)&mask {
			continue
		}
		l.table[pos] = e
		pos = next
	}
	l.table[pos] = 0
}

// keyHash returns the hash function of a store's key type: the string
// keys of users hash as strings, an address's IPKey as its 16 bytes, and
// any other comparable type with maphash.Comparable (which makes the key
// escape, an allocation a call for an array: tests only).
func keyHash[K comparable]() func(maphash.Seed, K) uint64 {
	var h any
	switch any(*new(K)).(type) {
	case string:
		h = maphash.String
	case IPKey:
		h = func(seed maphash.Seed, k IPKey) uint64 { return maphash.Bytes(seed, k[:]) }
	default:
		h = maphash.Comparable[K]
	}
	return h.(func(maphash.Seed, K) uint64)
}
