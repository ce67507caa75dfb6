package detectors

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
)

type counter struct{ Last, N int64 }

// changes returns Changes as key -> held (false: a tombstone).
func changes(s *Store[string, counter]) map[string]bool {
	out := map[string]bool{}
	s.Changes(func(key string, v *counter) { out[key] = v != nil })
	return out
}

func TestStoreChanges(t *testing.T) {
	s := NewStore[string](2, 100, func(c *counter) int64 { return c.Last })
	if got := changes(s); len(got) != 0 {
		t.Fatalf("untracked store reported changes: %v", got)
	}
	s.Track()
	a, _ := s.Get("a", 0)
	a.Last = 10
	s.Get("b", 0)
	if got := changes(s); !maps.Equal(got, map[string]bool{"a": true, "b": true}) {
		t.Errorf("after two gets: %v", got)
	}
	if got := changes(s); len(got) != 0 {
		t.Errorf("changes reported twice: %v", got)
	}
	s.Get("c", 0) // evicts a, the least recently used
	if got := changes(s); !maps.Equal(got, map[string]bool{"a": false, "c": true}) {
		t.Errorf("after an eviction: %v, want a tombstone for a", got)
	}
	s.Get("c", 500) // expires b (idle past the TTL)
	if got := changes(s); !maps.Equal(got, map[string]bool{"b": false, "c": true}) {
		t.Errorf("after an expiry: %v, want a tombstone for b", got)
	}
	s.Put("r", &counter{Last: 400})
	s.Delete("c")
	if got := changes(s); len(got) != 0 {
		t.Errorf("a restore (Put, Delete) is not a change, got %v", got)
	}
	if _, ok := s.Peek("r"); !ok || s.Len() != 1 {
		t.Errorf("restored key missing: len %d", s.Len())
	}
}

func TestStateVersion(t *testing.T) {
	st := UserState{Last: 42}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back UserState
	if err := back.UnmarshalBinary(b); err != nil || back.Last != 42 {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	newer := slices.Clone(b)
	newer[0] = UserStateVersion + 1
	if err := back.UnmarshalBinary(newer); !errors.Is(err, ErrStateVersion) {
		t.Errorf("a newer encoding: %v, want ErrStateVersion", err)
	}
}

// TestStoreRestoreAtCap replays a full store's changes, batch by batch, into
// a store of the same cap, as a restore from the changelog does: after
// every batch it must hold the same keys in the same recency order (so
// that it evicts the same key next), and evict none of its own on the way.
func TestStoreRestoreAtCap(t *testing.T) {
	const max = 8
	orig := NewStore[string](max, 1<<40, func(c *counter) int64 { return c.Last })
	orig.Track()
	restored := NewStore[string](max, 1<<40, func(c *counter) int64 { return c.Last })
	restored.Track() // an eviction by a Put would show as a change
	for batch := 0; batch < 50; batch++ {
		// Each batch touches a few old keys and adds new ones past the cap.
		for i := 0; i < 5; i++ {
			orig.Get(fmt.Sprintf("k%d", (batch*3+i*7)%40), 0)
		}
		orig.Changes(func(key string, v *counter) {
			if v == nil {
				restored.Delete(key)
				return
			}
			restored.Put(key, v)
		})
		if got, want := restored.lru.keys(), orig.lru.keys(); !slices.Equal(got, want) {
			t.Fatalf("batch %d: restored keys, oldest first, %v; the original holds %v", batch, got, want)
		}
		if got := changes(restored); len(got) != 0 {
			t.Fatalf("batch %d: the restore evicted %v", batch, got)
		}
	}
	if orig.Evictions == 0 {
		t.Fatal("the original never reached its cap")
	}
}

// TestStoreRestoreEvictsAlike is the case the review found: a store at its
// cap of 3 after Get a, b, c, restored from its changes in one batch, must
// evict a, as the original does, when d comes.
func TestStoreRestoreEvictsAlike(t *testing.T) {
	for trial := range 50 {
		orig := NewStore[string](3, 1<<40, func(c *counter) int64 { return c.Last })
		orig.Track()
		for _, k := range []string{"a", "b", "c"} {
			orig.Get(k, 0)
		}
		restored := NewStore[string](3, 1<<40, func(c *counter) int64 { return c.Last })
		restored.Track()
		orig.Changes(func(key string, v *counter) { restored.Put(key, v) })
		orig.Get("d", 0)
		restored.Get("d", 0)
		if got, want := changes(restored), changes(orig); !maps.Equal(got, want) {
			t.Fatalf("trial %d: after d the restored store changed %v, the original %v", trial, got, want)
		}
	}
}
