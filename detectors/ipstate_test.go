package detectors

import (
	"slices"
	"testing"
)

// TestIPStateInline: an address's attempts read back as set, and a single
// attempt at the newest time is held inline, without a slice.
func TestIPStateInline(t *testing.T) {
	a := func(ts int64, who uint64, failure bool) Attempt { return Attempt{TS: ts, Who: who, Failure: failure} }
	for _, tt := range []struct {
		name   string
		last   int64
		list   []Attempt
		inline bool
	}{
		{"none", 7, nil, false},
		{"one success", 7, []Attempt{a(7, 1, false)}, true},
		{"one failure", 7, []Attempt{a(7, 1<<63, true)}, true},
		{"one older than the newest", 9, []Attempt{a(7, 1, true)}, false},
		{"two", 9, []Attempt{a(7, 1, true), a(9, 2, false)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// From empty, and over a state of many attempts as Process does.
			for _, from := range []IPState{{}, {last: 1, more: &attempts{list: []Attempt{a(0, 3, false), a(1, 4, true)}}}} {
				s := from
				s.set(tt.last, slices.Clone(tt.list))
				var buf [1]Attempt
				got := s.Attempts(&buf)
				if !slices.Equal(got, tt.list) || s.Last() != tt.last {
					t.Errorf("holds %v at %d, want %v at %d", got, s.Last(), tt.list, tt.last)
				}
				if inline := s.more == oneSuccess || s.more == oneFailure; inline != tt.inline {
					t.Errorf("inline %v, want %v", inline, tt.inline)
				}
			}
		})
	}
}
