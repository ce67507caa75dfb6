package detectors

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// TestPack: a list packed into a pointer and byte counts views back as
// the same elements, in the same memory, with the room it had to grow up
// to what the count holds; an empty list is no pointer at all.
func TestPack(t *testing.T) {
	for _, tt := range []struct {
		name     string
		list     []uint64
		n, c     int  // want: the counts held
		appended bool // an append to the view writes to the list's memory
	}{
		{"nil", nil, 0, 0, false},
		{"empty with room", make([]uint64, 0, 4), 0, 4, true},
		{"empty without room", []uint64{}, 0, 0, false},
		{"full", []uint64{1, 2, 3}, 3, 3, false},
		{"room", append(make([]uint64, 0, 8), 1, 2), 2, 8, true},
		{"room beyond the count", append(make([]uint64, 0, 300), 7), 1, 255, true},
		{"the most", make([]uint64, 255, 256), 255, 255, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, n, c := pack[uint8](tt.list)
			got := view(p, n, c)
			if int(n) != tt.n || int(c) != tt.c || len(got) != tt.n || cap(got) != tt.c || !slices.Equal(got, tt.list) {
				t.Fatalf("pack: %d of %d, viewed as %v (cap %d); want %d of %d, %v", n, c, got, cap(got), tt.n, tt.c, tt.list)
			}
			if (p == nil) != (tt.c == 0) {
				t.Errorf("pointer %p with room for %d", p, tt.c)
			}
			_ = append(got, 42)
			inList := cap(tt.list) > len(tt.list) && tt.list[:len(tt.list)+1][len(tt.list)] == 42
			if inList != tt.appended {
				t.Errorf("an append to the view written in the list's memory: %v, want %v", inList, tt.appended)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Errorf("packing 256 elements in byte counts: no panic")
		}
	}()
	pack[uint8](make([]uint64, 256))
}

// TestPointsBound: a user holds at most maxPoints geolocated points (the
// largest history Validate takes), and a state of more, which no build
// wrote, is corrupt rather than cut.
func TestPointsBound(t *testing.T) {
	for _, tt := range []struct {
		points int
		ok     bool
	}{{0, true}, {1, true}, {maxPoints, true}, {maxPoints + 1, false}} {
		if tt.ok {
			var s UserState
			if s.setPoints(make([]GeoPoint, tt.points)); len(s.Points()) != tt.points {
				t.Errorf("%d points held as %d", tt.points, len(s.Points()))
			}
		}
		e := encoder{b: []byte{userStateV2}}
		e.int(0)
		e.int(0)
		for range recentLen + 1 {
			e.uint(0)
		}
		encodeSlice(&e, make([]GeoPoint, tt.points), putPoint)
		b, _ := (&UserState{}).MarshalBinary()
		e.b = append(e.b, b[1+2+recentLen+1+1:]...) // the rest of an empty state
		var back UserState
		if err := back.UnmarshalBinary(e.b); (err == nil) != tt.ok || tt.ok && len(back.Points()) != tt.points {
			t.Errorf("%d points: %v, %d decoded; want ok %v", tt.points, err, len(back.Points()), tt.ok)
		}
		if tt.ok && !errors.Is(back.UnmarshalBinary(append(e.b, 0)), errCorrupt) {
			t.Errorf("%d points and a byte over: not corrupt", tt.points)
		}
		j, _ := json.Marshal(userStateJSON{Points: make([]GeoPoint, tt.points)})
		if err := back.UnmarshalBinary(append([]byte{jsonStateVersion}, j...)); (err == nil) != tt.ok {
			t.Errorf("%d points in version 1's JSON: %v, want ok %v", tt.points, err, tt.ok)
		}
	}
}
