package detectors

import (
	"encoding/json"
	"fmt"
)

// The kinds of a user's familiar things, in their order in
// UserState.familiar.
const (
	kindDevice uint8 = iota
	kindCountry
	kindNetwork
	kinds
)

// ofKind returns the entries of kind in list, which is grouped by kind:
// a part of list, each kind's entries in the order a list of their own
// would hold them.
func ofKind(list []Familiar, kind uint8) []Familiar {
	lo, hi := kindRange(list, kind)
	return list[lo:hi:hi]
}

func kindRange(list []Familiar, kind uint8) (lo, hi int) {
	for lo < len(list) && list[lo].kind < kind {
		lo++
	}
	for hi = lo; hi < len(list) && list[hi].kind == kind; hi++ {
	}
	return lo, hi
}

// touchKind is touchFamiliar on the entries of kind in list (grouped by
// kind): it records a sighting of key at ts, forgets the kind's entries
// unseen since before forget and evicts its least recently seen beyond
// max. A new entry goes at the end of its kind's entries; the list grows
// by exactly one, because it is held for every user and changes rarely.
func touchKind(list []Familiar, kind uint8, key string, ts, forget int64, fresh bool, max int) []Familiar {
	lo, hi := kindRange(list, kind)
	// Capped at hi, the kind's entries change in place unless they grow,
	// and then only the new entry is in an array of its own.
	part := touchFamiliar(list[lo:hi:hi], key, ts, forget, fresh, max)
	for i := range part {
		part[i].kind = kind
	}
	if n := len(part); n <= hi-lo {
		// In place: the later kinds close the gap of what went.
		m := copy(list[lo+n:], list[hi:])
		clear(list[lo+n+m:])
		return list[:lo+n+m]
	}
	if len(list) == cap(list) {
		list = append(make([]Familiar, 0, len(list)+1), list...)
	}
	list = list[:len(list)+1]
	copy(list[hi+1:], list[hi:])
	list[hi] = part[len(part)-1]
	return list
}

// joinKinds returns one list of devices, countries and networks, grouped
// by kind, as UserState holds them.
func joinKinds(devices, countries, networks []Familiar) []Familiar {
	n := len(devices) + len(countries) + len(networks)
	if n == 0 {
		return nil
	}
	list := make([]Familiar, 0, n)
	for k, part := range [kinds][]Familiar{devices, countries, networks} {
		for _, f := range part {
			f.kind = uint8(k)
			list = append(list, f)
		}
	}
	return list
}

// userStateJSON is UserState as version 1's JSON held it.
type userStateJSON struct {
	First     int64      `json:"first"`
	Last      int64      `json:"last"`
	Recent    []uint64   `json:"recent"`
	RecentPos uint8      `json:"recent_pos"`
	Points    []GeoPoint `json:"points,omitempty"`
	Devices   []Familiar `json:"devices,omitempty"`
	Countries []Familiar `json:"countries,omitempty"`
	Networks  []Familiar `json:"networks,omitempty"`
	*UserExtra
}

// fromJSON sets s to the state j holds, of at most maxPoints points:
// Recent without the zero entries at its end, as a state decodes.
func (s *UserState) fromJSON(j *userStateJSON) {
	*s = UserState{First: j.First, Last: j.Last, RecentPos: j.RecentPos,
		familiar: joinKinds(j.Devices, j.Countries, j.Networks), UserExtra: j.UserExtra}
	s.setRecent(j.Recent)
	s.setPoints(j.Points)
}

// toJSON returns the state as version 1's JSON held it.
func (s *UserState) toJSON() userStateJSON {
	return userStateJSON{First: s.First, Last: s.Last, Recent: s.Recent(), RecentPos: s.RecentPos, Points: s.Points(),
		Devices: ofKind(s.familiar, kindDevice), Countries: ofKind(s.familiar, kindCountry), Networks: ofKind(s.familiar, kindNetwork),
		UserExtra: s.UserExtra}
}

// MarshalJSON writes the state as version 1 did.
func (s *UserState) MarshalJSON() ([]byte, error) { return json.Marshal(s.toJSON()) }

// UnmarshalJSON reads version 1's JSON.
func (s *UserState) UnmarshalJSON(b []byte) error {
	var j userStateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if len(j.Points) > maxPoints {
		return fmt.Errorf("%w: %d geolocated points, at most %d", errCorrupt, len(j.Points), maxPoints)
	}
	if j.UserExtra != nil {
		if err := j.Decided.Check(); err != nil {
			return err
		}
	}
	s.fromJSON(&j)
	return nil
}
