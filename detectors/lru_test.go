package detectors

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// refLRU is the obvious LRU (a slice, oldest first) that lru must match.
type refLRU struct {
	keys    []string
	vals    map[string]*int
	max     int
	removed []string
}

func (r *refLRU) touch(k string) {
	r.keys = slices.DeleteFunc(r.keys, func(x string) bool { return x == k })
	r.keys = append(r.keys, k)
}

func (r *refLRU) add(k string, v *int) bool {
	if _, ok := r.vals[k]; ok {
		r.vals[k] = v
		r.touch(k)
		return false
	}
	evicted := false
	if len(r.keys) >= r.max {
		r.drop(r.keys[0])
		evicted = true
	}
	r.vals[k] = v
	r.keys = append(r.keys, k)
	return evicted
}

func (r *refLRU) drop(k string) {
	r.keys = slices.DeleteFunc(r.keys, func(x string) bool { return x == k })
	delete(r.vals, k)
	r.removed = append(r.removed, k)
}

// TestLRUMatchesReference runs random adds, gets, peeks, removes and
// removals of the oldest against lru and the reference, small caps and
// few keys so that every path (eviction, slot reuse, the head, the tail,
// the only key) is taken many times.
func TestLRUMatchesReference(t *testing.T) {
	for _, max := range []int{1, 2, 3, 8} {
		rng := rand.New(rand.NewPCG(uint64(max), 7))
		var removed []string
		l := newLRU[int](max, func(k string) { removed = append(removed, k) })
		ref := &refLRU{vals: map[string]*int{}, max: max}
		for step := range 20_000 {
			k := strconv.Itoa(rng.IntN(max * 3))
			v := new(int)
			*v = step
			switch op := rng.IntN(10); {
			case op < 4:
				if got, want := l.add(k, v), ref.add(k, v); got != want {
					t.Fatalf("max %d step %d: add(%s) evicted %v, want %v", max, step, k, got, want)
				}
			case op < 6:
				got, ok := l.get(k)
				want, wok := ref.vals[k]
				if wok {
					ref.touch(k)
				}
				if ok != wok || got != want {
					t.Fatalf("max %d step %d: get(%s) = %v %v, want %v %v", max, step, k, got, ok, want, wok)
				}
			case op < 7:
				got, ok := l.peek(k)
				if want, wok := ref.vals[k]; ok != wok || got != want {
					t.Fatalf("max %d step %d: peek(%s) wrong", max, step, k)
				}
			case op < 9:
				_, wok := ref.vals[k]
				if wok {
					ref.drop(k)
				}
				if got := l.remove(k); got != wok {
					t.Fatalf("max %d step %d: remove(%s) = %v, want %v", max, step, k, got, wok)
				}
			default:
				k, v, ok := l.oldest()
				if len(ref.keys) == 0 {
					if ok {
						t.Fatalf("max %d step %d: oldest of an empty lru: %s", max, step, k)
					}
					continue
				}
				if !ok || k != ref.keys[0] || v != ref.vals[k] {
					t.Fatalf("max %d step %d: oldest = %s, want %s", max, step, k, ref.keys[0])
				}
				l.removeOldest()
				ref.drop(k)
			}
			if !slices.Equal(l.keys(), ref.keys) || l.len() != len(ref.keys) {
				t.Fatalf("max %d step %d: keys %v, want %v", max, step, l.keys(), ref.keys)
			}
			if !slices.Equal(removed, ref.removed) {
				t.Fatalf("max %d step %d: removed %v, want %v", max, step, removed, ref.removed)
			}
			if len(l.slots) > max {
				t.Fatalf("max %d: %d slots, freed slots not reused", max, len(l.slots))
			}
		}
	}
}
