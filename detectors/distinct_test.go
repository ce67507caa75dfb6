package detectors

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDistinctSet holds the set's count to sorting's, over lists of every
// size up to past the table's growth, with repeats, zeros and colliding
// values, and with the table reused between calls.
func TestDistinctSet(t *testing.T) {
	var s distinctSet
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 2100 {
		vals := make([]uint64, n)
		for i := range vals {
			switch rng.IntN(4) {
			case 0:
				vals[i] = 0
			case 1:
				vals[i] = uint64(rng.IntN(8)) << 60 // equal low bits
			default:
				vals[i] = rng.Uint64N(uint64(n/2 + 1))
			}
		}
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		want := len(slices.Compact(sorted))
		before := slices.Clone(vals)
		if got := s.count(vals); got != want || !slices.Equal(vals, before) {
			t.Fatalf("%d values: %d distinct, want %d (list changed: %v)", n, got, want, !slices.Equal(vals, before))
		}
	}
}

func BenchmarkDistinct(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]uint64, 512)
	for i := range vals {
		vals[i] = rng.Uint64N(300)
	}
	b.Run("set", func(b *testing.B) {
		var s distinctSet
		for range b.N {
			s.count(vals)
		}
	})
	b.Run("sort", func(b *testing.B) {
		buf := make([]uint64, len(vals))
		for range b.N {
			copy(buf, vals)
			slices.Sort(buf)
			_ = len(slices.Compact(buf))
		}
	})
}
