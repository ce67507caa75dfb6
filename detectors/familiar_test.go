package detectors

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTouchKind: the devices, countries and networks held in one list
// behave as three lists under touchFamiliar (the form before): the same
// entries in the same order after every sighting, forgetting and
// eviction included, and the list stays grouped by kind.
func TestTouchKind(t *testing.T) {
	for _, tt := range []struct {
		name          string
		keys, max     int
		forgetAfter   int64
		seed, touches uint64
	}{
		{"few keys, no eviction", 3, 16, 1 << 40, 1, 200},
		{"evictions at the cap", 12, 3, 1 << 40, 2, 500},
		{"forgotten when unseen", 8, 16, 40, 3, 500},
		{"both", 20, 4, 60, 4, 2000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(tt.seed, 0))
			var one []Familiar
			var three [kinds][]Familiar
			for ts := range int64(tt.touches) {
				kind := uint8(r.IntN(int(kinds)))
				key := fmt.Sprint("k", r.IntN(tt.keys))
				fresh := r.IntN(2) == 0
				one = touchKind(one, kind, key, ts, ts-tt.forgetAfter, fresh, tt.max)
				three[kind] = touchFamiliar(three[kind], key, ts, ts-tt.forgetAfter, fresh, tt.max)
				for k := range kinds {
					got := slices.Clone(ofKind(one, k))
					for i := range got {
						got[i].kind = 0
					}
					if !slices.Equal(got, three[k]) {
						t.Fatalf("touch %d: kind %d holds %v, a list of its own %v", ts, k, got, three[k])
					}
				}
				if !slices.IsSortedFunc(one, func(a, b Familiar) int { return int(a.kind) - int(b.kind) }) {
					t.Fatalf("touch %d: not grouped by kind: %v", ts, one)
				}
			}
		})
	}
}
