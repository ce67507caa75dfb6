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
func changes(s *Store[counter]) map[string]bool {
	out := map[string]bool{}
	s.Changes(func(key string, v *counter) { out[key] = v != nil })
	return out
}

func TestStoreChanges(t *testing.T) {
	s := NewStore(2, 100, func(c *counter) int64 { return c.Last })
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
	newer[0]++
	if err := back.UnmarshalBinary(newer); !errors.Is(err, ErrStateVersion) {
		t.Errorf("a newer encoding: %v, want ErrStateVersion", err)
	}
}

// TestStoreRestoreAtCap replays a full store's changes, batch by batch, into
// a store of the same cap, as a restore from the changelog does: it must
// hold the same keys after every batch, evicting none of its own.
func TestStoreRestoreAtCap(t *testing.T) {
	const max = 8
	orig := NewStore(max, 1<<40, func(c *counter) int64 { return c.Last })
	orig.Track()
	restored := NewStore(max, 1<<40, func(c *counter) int64 { return c.Last })
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
		if got, want := restored.lru.keys(), orig.lru.keys(); !sameKeys(got, want) {
			t.Fatalf("batch %d: restored keys %v, original holds %v", batch, got, want)
		}
	}
	if orig.Evictions == 0 {
		t.Fatal("the original never reached its cap")
	}
}

func sameKeys(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
