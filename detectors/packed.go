package detectors

import (
	"fmt"
	"unsafe"
)

// A user's lists that every user has (the Recent ring, the geolocated
// points) are held in UserState as a pointer to their first element and
// a length and capacity of one or two bytes, packed together after the
// state's other fields, rather than as slice headers: 8 bytes and a share
// of 8 where a header takes 24, and a user's slot is what a worker holds
// a million of. pack and view convert between the two.

// count is the type of a packed list's length and capacity.
type count interface{ ~uint8 | ~uint16 }

// maxCount is the largest value of N.
func maxCount[N count]() int { return int(^N(0)) }

// pack returns s as a pointer to its first element, its length and its
// capacity, that capacity cut to what N holds (the elements beyond it
// are only room to grow). Callers bound the lengths they hold to
// maxCount; a longer s is a bug, and panics rather than loses elements.
func pack[N count, T any](s []T) (*T, N, N) {
	if cap(s) == 0 {
		return nil, 0, 0
	}
	if len(s) > maxCount[N]() {
		panic(fmt.Sprintf("detectors: a packed list of %d elements, at most %d", len(s), maxCount[N]()))
	}
	return unsafe.SliceData(s), N(len(s)), N(min(cap(s), maxCount[N]()))
}

// view returns the slice that pack took apart: its elements are the
// list's own, so that appending within its capacity writes to the list.
func view[N count, T any](p *T, n, c N) []T {
	if p == nil {
		return nil
	}
	return unsafe.Slice(p, int(c))[:n]
}
