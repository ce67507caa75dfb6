package detectors

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"
)

func TestDecided(t *testing.T) {
	const (
		min    = int64(60_000)
		window = 24 * 60 * min
		lock   = 2
		stepUp = 1
	)
	alice, bob := SubjectHash("user", "alice"), SubjectHash("user", "bob")
	if alice == SubjectHash("ip", "alice") || alice == bob {
		t.Fatal("subject hashes of different subjects are equal")
	}
	var d Decided
	d.Record(alice, lock, 0, 15*min, window)
	for _, tt := range []struct {
		name     string
		subject  uint64
		action   uint8
		ts       int64
		covered  bool
		offences uint32
	}{
		{"the same action in force: the count it was made with", alice, lock, 5 * min, true, 0},
		{"a weaker action in force", alice, stepUp, 5 * min, true, 0},
		{"at its expiry", alice, lock, 15 * min, false, 1},
		{"another subject", bob, lock, 5 * min, false, 0},
		{"offences kept for the window after the lockout ends", alice, lock, 15*min + window, false, 1},
		{"offences forgotten after it", alice, lock, 15*min + window + 1, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Covering(tt.subject, tt.action, tt.ts) != nil; got != tt.covered {
				t.Errorf("Covering = %v, want %v", got, tt.covered)
			}
			if got := d.Offences(tt.subject, tt.action, tt.ts, window); got != tt.offences {
				t.Errorf("Offences = %d, want %d", got, tt.offences)
			}
		})
	}
	d.Record(alice, lock, 20*min, 50*min, window)
	if len(d) != 1 || d[0].Offences != 2 || d[0].Expires != 50*min {
		t.Errorf("a second offence within the window: %+v, want one entry of 2 offences", d)
	}
	d.Record(alice, lock, 30*min, 90*min, window)
	if len(d) != 1 || d[0].Offences != 2 || d[0].Expires != 90*min {
		t.Errorf("a decision while the last is in force: %+v, want it to continue the second offence", d)
	}
	d.Record(alice, lock, 3*window, 3*window+15*min, window)
	if len(d) != 1 || d[0].Offences != 1 {
		t.Errorf("an offence after the window: %+v, want the count restarted", d)
	}
	for i := range MaxInForce + 3 {
		d.Record(SubjectHash("token", string(rune('a'+i))), lock, 3*window, 3*window+int64(i+20)*min, window)
	}
	if len(d) != MaxInForce {
		t.Fatalf("%d entries held, want at most %d", len(d), MaxInForce)
	}
	if d.Covering(alice, lock, 3*window) != nil {
		t.Errorf("the entry that expires first was kept beyond the bound: %+v", d)
	}
}

func TestDecidedCodec(t *testing.T) {
	var u UserState
	u.Last = 7
	*u.Remembered(true) = Decided{{Subject: 1, Action: 2, Offences: 3, Issued: 4, Expires: 5}}
	b, _ := u.MarshalBinary()
	if b[0] != UserStateVersion {
		t.Fatalf("a user remembering a decision encodes as version %d, want %d", b[0], UserStateVersion)
	}
	var back UserState
	if err := back.UnmarshalBinary(b); err != nil || len(*back.Remembered(false)) != 1 || (*back.Remembered(false))[0] != (*u.Remembered(false))[0] {
		t.Fatalf("round trip: %v %+v", err, back.UserExtra)
	}
	u.Decided = nil
	b, _ = u.MarshalBinary()
	if b[0] != userStateV2 {
		t.Errorf("a user remembering no decision encodes as version %d, want 2", b[0])
	}
	// Version 3 writes its list only when it holds something: an empty one
	// is corrupt, as is a list longer than any build keeps.
	var ip IPState
	*ip.Remembered(true) = Decided{{Subject: 9}}
	b, _ = ip.MarshalBinary()
	b[len(b)-6] = 0 // the count of a one-entry list
	if err := (&IPState{}).UnmarshalBinary(b[:len(b)-5]); !errors.Is(err, errCorrupt) {
		t.Errorf("an empty list in version 3: %v, want corrupt", err)
	}
	long := make(Decided, MaxInForce+1)
	*ip.Remembered(true) = long
	b, _ = ip.MarshalBinary()
	if err := (&IPState{}).UnmarshalBinary(b); !errors.Is(err, errCorrupt) {
		t.Errorf("%d decisions: %v, want corrupt", len(long), err)
	}
}

// TestIPStateDecided: an address's decisions live beside its attempts
// without growing the 24 bytes every address takes, and an attempt held
// inline survives the move to a list of its own.
func TestIPStateDecided(t *testing.T) {
	if n := unsafe.Sizeof(IPState{}); n != 24 {
		t.Errorf("IPState is %d bytes, want 24", n)
	}
	var s IPState
	s.set(10, []Attempt{{TS: 10, Who: 7, Failure: true}})
	if s.Remembered(false) != nil {
		t.Fatal("an address without decisions remembers some")
	}
	s.Remembered(true).Record(1, 2, 10, 20, 100)
	var one [1]Attempt
	if got := s.Attempts(&one); len(got) != 1 || got[0] != (Attempt{TS: 10, Who: 7, Failure: true}) {
		t.Fatalf("the inline attempt after the move: %+v", got)
	}
	scratch := []Attempt{{TS: 12, Who: 8}}
	s.set(12, scratch)
	scratch[0].Who = 99 // the caller reuses its scratch
	if got := s.Attempts(&one); len(got) != 1 || got[0].Who != 8 || len(*s.Remembered(false)) != 1 {
		t.Fatalf("after set: attempts %+v, decisions %v", got, s.Remembered(false))
	}
	b, _ := s.MarshalBinary()
	var back IPState
	if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, back, s)
	}
}
