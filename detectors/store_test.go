package detectors

import (
	"errors"
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
