package detectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/event"
)

// fill sets every field reachable from v to a value that is not zero and
// differs by field (seed), slices to two elements, pointers to a filled
// value, so that a round trip that drops or swaps a field shows. With
// edge, the values are the extremes instead: the largest and smallest
// integers, hashes of 2^63 and more, the largest float and -0, empty
// strings.
func fill(v reflect.Value, seed *int, edge bool) {
	*seed++
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() { // the rest is the state's own bookkeeping
				fill(v.Field(i), seed, edge)
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), seed, edge)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed, edge)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), seed, edge)
		}
	case reflect.String:
		v.SetString(pick(edge, "", "s"+string(rune('a'+*seed%26))+"é"))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(pick(edge, pick(*seed%2 == 0, int64(math.MaxInt64), math.MinInt64), int64(*seed)*-1_000_003))
	case reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Uint8:
		top := uint64(1)<<(v.Type().Bits()-1) | uint64(*seed%2)
		v.SetUint(pick(edge, pick(*seed%3 == 0, math.MaxUint64>>(64-v.Type().Bits()), top), uint64(*seed)*7%(1<<(v.Type().Bits()-1))))
	case reflect.Float64:
		v.SetFloat(pick(edge, pick(*seed%2 == 0, math.MaxFloat64, math.Copysign(0, -1)), float64(*seed)+0.25))
	default:
		panic("fill: add " + v.Kind().String())
	}
}

// fillState fills s as fill does, through the exported form of version
// 1's JSON where the state keeps its fields in a compact form of its own.
func fillState(s state, seed *int, edge bool) {
	switch s := s.(type) {
	case *IPState:
		var j ipStateJSON
		fill(reflect.ValueOf(&j).Elem(), seed, edge)
		*s = IPState{}
		s.set(j.Last, j.Attempts)
		if j.Decided != nil {
			*s.Remembered(true) = j.Decided
		}
	case *UserState:
		var j userStateJSON
		fill(reflect.ValueOf(&j).Elem(), seed, edge)
		s.fromJSON(&j)
	}
}

// sameState reports whether a and b hold the same state. A UserState is
// compared by its fields as version 1's JSON holds them: reflect.DeepEqual
// would compare its packed lists by their first element and the room they
// have to grow.
func sameState(a, b state) bool {
	if u, ok := a.(*UserState); ok {
		v, ok := b.(*UserState)
		return ok && reflect.DeepEqual(u.toJSON(), v.toJSON())
	}
	return reflect.DeepEqual(a, b)
}

// pick returns a when cond holds, else b.
func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

type state interface {
	MarshalBinary() ([]byte, error)
	AppendBinary([]byte) ([]byte, error)
	UnmarshalBinary([]byte) error
}

// TestStateEncoding: every field of both states survives the binary
// encoding (a field added without its encoding fails here), the JSON of
// version 1, which older builds wrote to the changelogs, still decodes,
// and a cut or padded encoding is corrupt, never misread.
func TestStateEncoding(t *testing.T) {
	for _, tt := range []struct {
		name      string
		full, out state
		version   byte
		edge      bool
	}{
		{"user", &UserState{}, &UserState{}, UserStateVersion, false},
		{"ip", &IPState{}, &IPState{}, IPStateVersion, false},
		{"user extremes", &UserState{}, &UserState{}, UserStateVersion, true},
		{"ip extremes", &IPState{}, &IPState{}, IPStateVersion, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seed := 0
			fillState(tt.full, &seed, tt.edge)
			if rp, ok := tt.full.(*UserState); ok {
				rp.RecentPos = pick[uint8](tt.edge, recentLen-1, 5) // an index into Recent
			}
			b, err := tt.full.MarshalBinary()
			if err != nil || b[0] != tt.version {
				t.Fatalf("encode: %v, version %d", err, b[0])
			}
			prefix := []byte("earlier state")
			if ab, err := tt.full.AppendBinary(prefix); err != nil || !bytes.Equal(ab, append([]byte("earlier state"), b...)) {
				t.Fatalf("AppendBinary: %v: not the prefix and MarshalBinary's bytes", err)
			}
			if err := tt.out.UnmarshalBinary(b); err != nil || !sameState(tt.full, tt.out) {
				t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, tt.out, tt.full)
			}
			legacy, _ := json.Marshal(tt.full)
			back := reflect.New(reflect.TypeOf(tt.full).Elem()).Interface().(state)
			if err := back.UnmarshalBinary(append([]byte{jsonStateVersion}, legacy...)); err != nil || !sameState(tt.full, back) {
				t.Errorf("version 1 (JSON): %v", err)
			}
			for cut := 1; cut < len(b); cut++ {
				if err := tt.out.UnmarshalBinary(b[:cut]); !errors.Is(err, errCorrupt) {
					t.Fatalf("cut at %d of %d bytes: %v, want corrupt", cut, len(b), err)
				}
			}
			if err := tt.out.UnmarshalBinary(append(b, 0)); !errors.Is(err, errCorrupt) {
				t.Errorf("a byte left over: %v, want corrupt", err)
			}
			if us, ok := tt.full.(*UserState); ok {
				// Only a corrupt input holds a position beyond the ring.
				for _, pos := range []uint8{recentLen, 200} {
					c := *us
					c.RecentPos = pos
					bad, _ := c.MarshalBinary()
					if err := tt.out.UnmarshalBinary(bad); !errors.Is(err, errCorrupt) {
						t.Errorf("ring position %d of %d: %v, want corrupt", pos, recentLen, err)
					}
				}
			}
		})
	}
}

// FuzzStateDecode: no input makes the decoders panic or allocate beyond
// what the input can hold, and what decodes encodes back to the same state.
func FuzzStateDecode(f *testing.F) {
	seed := 0
	var u UserState
	fillState(&u, &seed, false)
	u.RecentPos = 3
	b, _ := u.MarshalBinary()
	f.Add(b)
	var ip IPState
	fillState(&ip, &seed, false)
	b, _ = ip.MarshalBinary()
	f.Add(b)
	var edge UserState
	fillState(&edge, &seed, true)
	edge.RecentPos = recentLen - 1
	b, _ = edge.MarshalBinary()
	f.Add(b)
	f.Add([]byte{UserStateVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range []state{&UserState{}, &IPState{}} {
			if s.UnmarshalBinary(data) != nil || data[0] == jsonStateVersion {
				continue
			}
			again, _ := s.MarshalBinary()
			back := reflect.New(reflect.TypeOf(s).Elem()).Interface().(state)
			if err := back.UnmarshalBinary(again); err != nil || !sameState(s, back) {
				t.Fatalf("decoded state does not survive a second round trip: %v", err)
			}
		}
	})
}

// TestUserStateLazy: a user's rarely used parts (UserExtra) are allocated
// by the first event that writes them and not before, the Recent ring
// grows with the events up to its length, and both come back the same
// from the encoding.
func TestUserStateLazy(t *testing.T) {
	for _, tt := range []struct {
		name   string
		events []event.Event
		extra  bool
		recent int
	}{
		{"logins", []event.Event{ev("1", event.Login, 0, at(newYork)), ev("2", event.Login, time.Minute)}, false, 2},
		{"a failure", []event.Event{ev("1", event.Login, 0, failed, ip("192.0.2.1"))}, true, 1},
		{"a payment", []event.Event{ev("1", event.Transaction, 0, pay(5, "p"))}, true, 1},
		{"a logout", []event.Event{ev("1", event.Logout, 0, token("t"))}, true, 1},
		{"a refresh", []event.Event{ev("1", event.TokenRefresh, 0, refreshOf("r", "F"))}, true, 1},
		{"twenty logins", func() (evs []event.Event) {
			for i := range 20 {
				evs = append(evs, ev(fmt.Sprint(i), event.Login, time.Duration(i)*time.Second))
			}
			return evs
		}(), false, recentLen},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := NewUsers(Defaults())
			for _, e := range tt.events {
				u.Process(&e, &Features{})
			}
			st, _ := u.Store().Peek("alice")
			if (st.UserExtra != nil) != tt.extra || len(st.Recent()) != tt.recent {
				t.Errorf("extra allocated %v, %d recent ids; want %v, %d", st.UserExtra != nil, len(st.Recent()), tt.extra, tt.recent)
			}
			b, _ := st.MarshalBinary()
			var back UserState
			if err := back.UnmarshalBinary(b); err != nil || !sameState(st, &back) {
				t.Errorf("round trip: %v\n got %+v\nwant %+v", err, back, *st)
			}
		})
	}
}

// TestRecentRing: the ring remembers the latest recentLen event ids, as the
// fixed array it replaced did, zeros included: a hash of zero reads as seen
// until the ring is full, and a position beyond the ids held (a decoded
// state) writes there.
func TestRecentRing(t *testing.T) {
	var s UserState
	for h := uint64(1); h <= recentLen+1; h++ {
		if s.seen(h) {
			t.Fatalf("%d seen before it came", h)
		}
	}
	if !s.seen(recentLen+1) || !s.seen(2) || s.seen(1) {
		t.Errorf("ring of %v at %d: want the latest %d ids remembered and the first forgotten", s.Recent(), s.RecentPos, recentLen)
	}
	for _, tt := range []struct {
		recent []uint64
		pos    uint8
		h      uint64
		seen   bool
		after  []uint64
	}{
		{nil, 0, 0, true, nil},
		{nil, 0, 7, false, []uint64{7}},
		{[]uint64{1, 2}, 5, 7, false, []uint64{1, 2, 0, 0, 0, 7}},
		{[]uint64{1, 2}, 21, 7, false, []uint64{1, 2, 0, 0, 0, 7}}, // a position of JSON beyond the ring
		{[]uint64{1, 0, 3}, 3, 0, true, []uint64{1, 0, 3}},
	} {
		s := UserState{RecentPos: tt.pos}
		s.holdRecent(slices.Clone(tt.recent))
		if got := s.seen(tt.h); got != tt.seen || !slices.Equal(s.Recent(), tt.after) {
			t.Errorf("%v at %d, seen(%d) = %v leaving %v; want %v leaving %v", tt.recent, tt.pos, tt.h, got, s.Recent(), tt.seen, tt.after)
		}
	}
}
