package window

import (
	"math/rand/v2"
	"testing"
)

// TestMinAgainstBruteForce compares Min with the minimum of the last size
// values computed the slow way, for several sizes over random streams with
// runs, repeats and drops.
func TestMinAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 2, 3, 7, 64} {
		m := NewMin(size)
		var all []int64
		for i := range 2000 {
			v := int64(i) + r.Int64N(50) - 25
			if r.IntN(20) == 0 {
				v -= 1000
			}
			m.Push(v)
			all = append(all, v)
			want := all[len(all)-1]
			for _, x := range all[max(0, len(all)-size):] {
				want = min(want, x)
			}
			if got, ok := m.Min(); !ok || got != want {
				t.Fatalf("size %d, after %d values: Min %d, want %d", size, i+1, got, want)
			}
			if m.Full() != (len(all) >= size) {
				t.Fatalf("size %d, after %d values: Full %v", size, i+1, m.Full())
			}
		}
	}
	if _, ok := NewMin(3).Min(); ok {
		t.Error("an empty window has a minimum")
	}
}
