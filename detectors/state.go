package detectors

import (
	"errors"
	"math"
	"slices"
	"sort"
)

// UserStateVersion is the encoding version of UserState (the binary
// encoding of codec.go); bump it when a field is added or changes meaning,
// and keep the old form readable in UnmarshalBinary. Version 3 adds the
// decisions in force (Decided) after version 2's fields; a state without
// any is still written as version 2, byte for byte, which the build before
// version 3 reads.
const UserStateVersion = 3

// userStateV2 is the version of a state that remembers no decision.
const userStateV2 = 2

// UserState is everything remembered about one user: plain values, bounded
// by the Config caps, encodable to bytes for changelogs and restore. Times
// are Unix milliseconds of event time. It holds what every user's logins
// need; the rest (UserExtra) is allocated by the first event that needs it,
// because most users never fail a login, pay or use a token and a state
// held for every user is what a worker's memory is made of.
type UserState struct {
	First int64 `json:"first"` // oldest event seen
	Last  int64 `json:"last"`  // newest event seen

	// recent is the ring of the hashes of the latest event ids (for
	// duplicates), of recentLen entries of which only the first
	// recentN are held: the others are zero. It grows as events come
	// instead of taking its full 128 bytes for a user seen once. Recent
	// returns it; it is packed (see pack), as points is.
	recent *uint64
	// points is the geolocated authenticated events, by time (Points).
	points *GeoPoint
	// familiar is the devices, countries and networks the user acts from,
	// grouped by kind (kindDevice...): one slice rather than three, which
	// takes two slice headers and two allocations less for every user.
	// The JSON of version 1 (MarshalJSON) holds them as three lists.
	familiar []Familiar

	*UserExtra // nil until needed

	RecentPos          uint8 `json:"recent_pos"` // the next entry written, modulo recentLen
	recentN, recentCap uint8
	pointsN, pointsCap uint16 // at most maxPoints points
}

// maxPoints is the most geolocated points a user's state holds, and so
// the largest impossible_travel.history.
const maxPoints = 1<<16 - 1

// Recent returns the ring of the hashes of the user's latest event ids,
// without the entries not held yet (they read as zeros). The slice is the
// state's own: it is good until the state next changes.
func (s *UserState) Recent() []uint64 { return view(s.recent, s.recentN, s.recentCap) }

// Points returns the user's geolocated authenticated events, by time. The
// slice is the state's own: it is good until the state next changes.
func (s *UserState) Points() []GeoPoint { return view(s.points, s.pointsN, s.pointsCap) }

// holdRecent makes r, of at most recentLen entries, the Recent ring.
func (s *UserState) holdRecent(r []uint64) { s.recent, s.recentN, s.recentCap = pack[uint8](r) }

// setPoints makes p, of at most maxPoints points, the user's Points.
func (s *UserState) setPoints(p []GeoPoint) { s.points, s.pointsN, s.pointsCap = pack[uint16](p) }

// recentLen is how many event ids a user's Recent ring remembers.
const recentLen = 16

// UserExtra is the part of a user's state that only failed logins,
// transactions and tokens write; the fields keep their JSON names of
// version 1, where they sat in UserState.
type UserExtra struct {
	Failures  []Attempt      `json:"failures,omitempty"` // failed logins and MFA, by time
	Txns      []TxnEntry     `json:"txns,omitempty"`     // transactions of the last day, by time
	TxnCount  int64          `json:"txn_count"`          // all transactions ever, for the mean
	TxnTotal  float64        `json:"txn_total"`
	TxnFirst  int64          `json:"txn_first"`
	Payees    []Familiar     `json:"payees,omitempty"`
	Tokens    []TokenEntry   `json:"tokens,omitempty"`
	Refreshes []RefreshEntry `json:"refreshes,omitempty"`
	Families  []FamilyEntry  `json:"families,omitempty"`
	Decided   Decided        `json:"decided,omitempty"` // enforced decisions of the user stage
}

// extra returns the user's UserExtra, allocating it on first use.
func (s *UserState) extra() *UserExtra {
	if s.UserExtra == nil {
		s.UserExtra = &UserExtra{}
	}
	return s.UserExtra
}

// failures returns the user's failed attempts (nil without a UserExtra).
func (s *UserState) failures() []Attempt {
	if s.UserExtra == nil {
		return nil
	}
	return s.Failures
}

// empty reports whether x holds nothing, so that a decoded state keeps no
// UserExtra a live one would not have allocated. The total compares by
// bits: a -0 is something to keep.
func (x *UserExtra) empty() bool {
	return x.Failures == nil && x.Txns == nil && x.TxnCount == 0 && math.Float64bits(x.TxnTotal) == 0 &&
		x.TxnFirst == 0 && x.Payees == nil && x.Tokens == nil && x.Refreshes == nil && x.Families == nil && x.Decided == nil
}

// Remembered returns the enforced decisions the user's state remembers,
// allocating the UserExtra they live in when dec is true.
func (s *UserState) Remembered(alloc bool) *Decided {
	if s.UserExtra == nil && !alloc {
		return nil
	}
	return &s.extra().Decided
}

// GeoPoint is where and when a user was.
type GeoPoint struct {
	TS       int64   `json:"ts"`
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	RadiusKM float64 `json:"r"`
	Country  string  `json:"cc,omitempty"`
	City     string  `json:"city,omitempty"`
}

// Attempt is one login attempt; Who hashes the address (user stage) or the
// user (ip stage).
type Attempt struct {
	TS      int64  `json:"ts"`
	Who     uint64 `json:"who"`
	Failure bool   `json:"f,omitempty"`
}

// TxnEntry is one transaction in the velocity window.
type TxnEntry struct {
	TS       int64   `json:"ts"`
	Amount   float64 `json:"amount"`
	Currency string  `json:"cur"`
	Payee    string  `json:"payee,omitempty"`
	Device   string  `json:"dev,omitempty"`
}

// Familiar is a device, country, network or payee a user has used. Fresh
// records that it appeared when the user already had history, which is what
// makes it a new thing rather than part of the user's first sighting.
type Familiar struct {
	Key   string `json:"k"`
	First int64  `json:"first"`
	Last  int64  `json:"last"`
	Fresh bool   `json:"fresh,omitempty"`
	kind  uint8  // in UserState.familiar: kindDevice, kindCountry or kindNetwork
}

// TokenEntry is an access token's binding.
type TokenEntry struct {
	ID      string   `json:"id"`
	Device  string   `json:"dev,omitempty"`
	ASN     uint32   `json:"asn,omitempty"`
	Issued  int64    `json:"issued"`
	Issue   bool     `json:"issue,omitempty"` // bound by a token_issue rather than first use
	Revoked int64    `json:"revoked,omitempty"`
	LastUse int64    `json:"last_use"`
	Where   GeoPoint `json:"where"` // last located, consistent use
	Located bool     `json:"located,omitempty"`
}

// RefreshEntry is a refresh token that was presented.
type RefreshEntry struct {
	TokenID string `json:"id"`
	Family  string `json:"fam"`
	TS      int64  `json:"ts"`
	Event   uint64 `json:"ev"`
}

// FamilyEntry is a refresh-token rotation family.
type FamilyEntry struct {
	ID      string `json:"id"`
	Device  string `json:"dev,omitempty"`
	First   int64  `json:"first"`
	Last    int64  `json:"last"`
	Revoked int64  `json:"revoked,omitempty"`
}

// ErrStateVersion is wrapped by the error of a state encoded in a version
// this build cannot read.
var ErrStateVersion = errors.New("unknown state encoding version")

// seen reports whether h is among the recent event ids, and remembers it.
// The entries of the ring Recent does not hold yet are zeros, as they were
// when the ring was a fixed array: a zero hash is among them.
func (s *UserState) seen(h uint64) bool {
	recent := s.Recent()
	if h == 0 && len(recent) < recentLen {
		return true
	}
	for _, r := range recent {
		if r == h {
			return true
		}
	}
	p := int(s.RecentPos % recentLen)
	for len(recent) <= p {
		recent = append(recent, 0)
	}
	recent[p] = h
	s.holdRecent(recent)
	s.RecentPos = uint8((p + 1) % recentLen)
	return false
}

// recentAt returns entry i of the Recent ring, zero when not held.
func (s *UserState) recentAt(i int) uint64 {
	if i < int(s.recentN) {
		return s.Recent()[i]
	}
	return 0
}

// setRecent sets Recent to a copy of r without the zero entries at its end
// (they read as zeros when not held) and any beyond the ring's length, as
// the array of version 1's JSON dropped them.
func (s *UserState) setRecent(r []uint64) {
	r = r[:min(len(r), recentLen)]
	for len(r) > 0 && r[len(r)-1] == 0 {
		r = r[:len(r)-1]
	}
	s.holdRecent(slices.Clone(r))
}

// insertByTS inserts v into s, kept sorted by ts(v), after any equal time.
func insertByTS[T any](s []T, v T, ts func(*T) int64) []T {
	s = append(s, v)
	t := ts(&s[len(s)-1])
	i := sort.Search(len(s)-1, func(i int) bool { return ts(&s[i]) > t })
	copy(s[i+1:], s[i:len(s)-1])
	s[i] = v
	return s
}

// pruneBefore drops the entries older than horizon from sorted s, and the
// oldest ones beyond max.
func pruneBefore[T any](s []T, horizon int64, max int, ts func(*T) int64) []T {
	i := sort.Search(len(s), func(i int) bool { return ts(&s[i]) >= horizon })
	if extra := len(s) - i - max; extra > 0 {
		i += extra
	}
	if i == 0 {
		return s
	}
	return append(s[:0], s[i:]...)
}

// capOldest drops the oldest entries of sorted s beyond max.
func capOldest[T any](s []T, max int) []T {
	if len(s) <= max {
		return s
	}
	return append(s[:0], s[len(s)-max:]...)
}

func attemptTS(a *Attempt) int64 { return a.TS }
func txnTS(t *TxnEntry) int64    { return t.TS }
func pointTS(p *GeoPoint) int64  { return p.TS }

// familiar finds key in list, or returns -1.
func familiar(list []Familiar, key string) int {
	for i := range list {
		if list[i].Key == key {
			return i
		}
	}
	return -1
}

// touchFamiliar records a sighting of key at ts, evicting the least recently
// seen entry beyond max and entries unseen since before forget.
func touchFamiliar(list []Familiar, key string, ts, forget int64, fresh bool, max int) []Familiar {
	if i := familiar(list, key); i >= 0 {
		f := &list[i]
		f.First = min(f.First, ts)
		f.Last = max64(f.Last, ts)
		return list
	}
	out := list[:0]
	for _, f := range list {
		if f.Last >= forget {
			out = append(out, f)
		}
	}
	list = makeRoom(out, max, func(f *Familiar) int64 { return f.Last })
	return append(list, Familiar{Key: key, First: ts, Last: ts, Fresh: fresh})
}

// makeRoom drops the least recently seen entry (by last) of an unsorted
// list that has reached max, so that one more fits.
func makeRoom[T any](list []T, max int, last func(*T) int64) []T {
	if len(list) < max {
		return list
	}
	oldest := 0
	for i := range list {
		if last(&list[i]) < last(&list[oldest]) {
			oldest = i
		}
	}
	return append(list[:oldest], list[oldest+1:]...)
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// hashString is 64-bit FNV-1a: stable across processes, so hashes can live
// in encoded state.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
