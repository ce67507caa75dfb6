package detectors

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

// refLRU is the obvious LRU (a slice, oldest first) that lru must match.
type refLRU[K comparable] struct {
	keys    []K
	vals    map[K]int
	max     int
	removed []K
}

func (r *refLRU[K]) touch(k K) {
	r.keys = slices.DeleteFunc(r.keys, func(x K) bool { return x == k })
	r.keys = append(r.keys, k)
}

// getOrAdd reports whether k was absent and whether the oldest key went.
func (r *refLRU[K]) getOrAdd(k K) (created, evicted bool) {
	if _, ok := r.vals[k]; ok {
		r.touch(k)
		return false, false
	}
	if len(r.keys) >= r.max {
		r.drop(r.keys[0])
		evicted = true
	}
	r.vals[k] = 0
	r.keys = append(r.keys, k)
	return true, evicted
}

func (r *refLRU[K]) drop(k K) {
	r.keys = slices.DeleteFunc(r.keys, func(x K) bool { return x == k })
	delete(r.vals, k)
	r.removed = append(r.removed, k)
}

// TestLRUMatchesReference runs random adds, gets, peeks, removes and
// removals of the oldest against lru and the reference. Small caps and few
// keys take every path (eviction, slot reuse, the head, the tail, the only
// key, entries moved back in the table) many times; larger ones grow the
// table and cross chunks of slots. A value's pointer must stay the same
// for as long as its key is held. It runs with each key type of the
// stores: user ids, and addresses (IPv4 and IPv6) with their own hash.
func TestLRUMatchesReference(t *testing.T) {
	t.Run("string", func(t *testing.T) { testLRUMatches(t, strconv.Itoa) })
	t.Run("IPKey", func(t *testing.T) {
		testLRUMatches(t, func(i int) IPKey {
			if i%2 == 0 {
				return ipKeyOf(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
			}
			return ipKeyOf(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}))
		})
	})
}

// testLRUMatches is TestLRUMatchesReference with keys of K, key(i) the
// key numbered i.
func testLRUMatches[K comparable](t *testing.T, key func(int) K) {
	for _, max := range []int{1, 2, 3, 8, 300, 3000} {
		rng := rand.New(rand.NewPCG(uint64(max), 7))
		var removed []K
		l := newLRU[K, int](max, func(k K) { removed = append(removed, k) })
		ref := &refLRU[K]{vals: map[K]int{}, max: max}
		ptrs := map[K]*int{}
		check := func(step int, op string, k K, got *int, ok bool) {
			want, wok := ref.vals[k]
			if ok != wok || ok && (*got != want || got != ptrs[k]) {
				t.Fatalf("max %d step %d: %s(%v) = %v %v, want %v %v (or its pointer moved)", max, step, op, k, got, ok, want, wok)
			}
		}
		for step := range 20_000 {
			k := key(rng.IntN(max * 3))
			switch op := rng.IntN(10); {
			case op < 4:
				v, created, evicted := l.getOrAdd(k)
				wc, we := ref.getOrAdd(k)
				if created != wc || evicted != we || !created && v != ptrs[k] {
					t.Fatalf("max %d step %d: getOrAdd(%v) created %v evicted %v, want %v %v", max, step, k, created, evicted, wc, we)
				}
				if created && *v != 0 {
					t.Fatalf("max %d step %d: a new key's value is %d, not zero", max, step, *v)
				}
				*v, ref.vals[k], ptrs[k] = step, step, v
			case op < 6:
				got, ok := l.get(k)
				if _, wok := ref.vals[k]; wok {
					ref.touch(k)
				}
				check(step, "get", k, got, ok)
			case op < 7:
				got, ok := l.peek(k)
				check(step, "peek", k, got, ok)
			case op < 9:
				_, wok := ref.vals[k]
				if wok {
					ref.drop(k)
				}
				if got := l.remove(k); got != wok {
					t.Fatalf("max %d step %d: remove(%v) = %v, want %v", max, step, k, got, wok)
				}
			default:
				k, v, ok := l.oldest()
				if len(ref.keys) == 0 {
					if ok {
						t.Fatalf("max %d step %d: oldest of an empty lru: %v", max, step, k)
					}
					continue
				}
				if !ok || k != ref.keys[0] || *v != ref.vals[k] {
					t.Fatalf("max %d step %d: oldest = %v, want %v", max, step, k, ref.keys[0])
				}
				l.removeOldest()
				ref.drop(k)
			}
			if l.len() != len(ref.keys) || (max < 100 || step%500 == 0) && !slices.Equal(l.keys(), ref.keys) {
				t.Fatalf("max %d step %d: keys %v, want %v", max, step, l.keys(), ref.keys)
			}
			if !slices.Equal(removed, ref.removed) {
				t.Fatalf("max %d step %d: removed %v, want %v", max, step, removed, ref.removed)
			}
			if int(l.slots) > max {
				t.Fatalf("max %d: %d slots, freed slots not reused", max, l.slots)
			}
		}
		if max == 3000 && len(l.chunks) < 2 {
			t.Errorf("max %d: %d chunk(s), want the test to cross chunks", max, len(l.chunks))
		}
	}
}

// TestLRUFreesValues: a removed key's slot lets go of its key and value,
// so that the garbage collector can take them.
func TestLRUFreesValues(t *testing.T) {
	l := newLRU[string, []byte](4, nil)
	v, _, _ := l.getOrAdd("a")
	*v = make([]byte, 10)
	l.remove("a")
	if s := l.slot(0); s.key != "" || s.val != nil {
		t.Errorf("freed slot holds %q and %v", s.key, s.val)
	}
}

// TestChunkBits: a chunk of slots is a large object of whole pages (or
// within 1/64 of them), so that the allocator gives it about its size.
func TestChunkBits(t *testing.T) {
	for _, tt := range []struct {
		size  uintptr // bytes a slot
		slots int     // want in a chunk
	}{
		{12, 4096},  // 48 KB: a slot size of 4 times an odd number needs 2,048 slots a page
		{32, 2048},  // 64 KB
		{48, 1024},  // 48 KB: an address's slot
		{96, 512},   // 48 KB: a user's slot
		{128, 512},  // 64 KB
		{168, 1024}, // 168 KB
		{4096, 16},  // 64 KB
		{40000, 16}, // 625 KB in 79 pages: 1.1% more
		{65536, 1},  // 64 KB
		{32768, 2},  // 32 KB is a size class, not a large object
	} {
		got := 1 << chunkBits(tt.size)
		if b := uintptr(got) * tt.size; got != tt.slots || b <= 32<<10 || (8<<10-b%(8<<10))%(8<<10)*64 > b {
			t.Errorf("slots of %d bytes: %d a chunk (%d bytes), want %d", tt.size, got, b, tt.slots)
		}
	}
}
