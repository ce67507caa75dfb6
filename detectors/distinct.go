package detectors

// distinctSet counts the distinct values of a list with an open-addressed
// table that is kept between calls: the address stage counts the distinct
// users of an address's or a network's window on every attempt, and
// sorting up to a thousand hashes each time was a third of its time. A
// generation stamp empties the table in one step. One per IPs: not safe
// for concurrent use.
type distinctSet struct {
	keys []uint64
	gens []uint32
	gen  uint32
}

// count returns how many distinct values vals holds; vals is not changed.
func (s *distinctSet) count(vals []uint64) int {
	if len(vals) < 2 {
		return len(vals)
	}
	size := 16
	for size < 2*len(vals) {
		size <<= 1
	}
	if len(s.keys) < size {
		s.keys, s.gens, s.gen = make([]uint64, size), make([]uint32, size), 0
	}
	if s.gen++; s.gen == 0 {
		clear(s.gens)
		s.gen = 1
	}
	// The table may be larger than this list needs: only the part of it
	// the list fills is probed, so a large earlier list costs nothing.
	mask := uint64(size - 1)
	n := 0
	for _, v := range vals {
		i := mix(v) & mask
		for s.gens[i] == s.gen && s.keys[i] != v {
			i = (i + 1) & mask
		}
		if s.gens[i] != s.gen {
			s.gens[i], s.keys[i] = s.gen, v
			n++
		}
	}
	return n
}
