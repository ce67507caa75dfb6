package detectors

import (
	"fmt"
	"math"
)

// InForce is one enforced decision a key's state remembers about a subject
// it decides on: the latest one emitted of an action, when it expires and
// how many of that action were emitted in a row. A user's state remembers
// the decisions of the user stage (about the user, its tokens and
// devices), an address's those of the address stage. The rules read it to
// leave out a decision that asks for nothing more than one in force (quiet
// repeats) and to lengthen the expiry of a subject that offends again
// (escalation); keeping it in the state is what makes replay and run, and
// a restored worker, answer alike.
type InForce struct {
	Subject uint64 `json:"subj"` // SubjectHash of the subject's kind and id
	Action  uint8  `json:"action"`
	// Offences counts the decisions of this action emitted about the
	// subject, each within the offence window of the one before.
	Offences uint32 `json:"n"`
	Issued   int64  `json:"ts"`  // event time of the latest, Unix ms
	Expires  int64  `json:"exp"` // its expiry, Unix ms
}

// MaxInForce bounds the decisions a key's state remembers. A user's state
// decides on the user and a few tokens and devices; beyond the bound the
// one that expired first is forgotten.
const MaxInForce = 8

// SubjectHash is the hash InForce keeps for a subject: stable across
// processes and builds, because it is part of the encoded state.
func SubjectHash(kind, id string) uint64 {
	h := hashString(kind)
	return mix(h ^ hashString(id))
}

// mix is the finaliser of SplitMix64, so that kinds and ids of the same
// hash xor do not meet.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Decided is the list of InForce a state holds; nil until a key's first
// enforced decision. Its methods are called on the key's worker only.
type Decided []InForce

// Covering returns the remembered decision about subject, of action or a
// stronger one, that is in force at ts and expires last; nil when none is.
func (d Decided) Covering(subject uint64, action uint8, ts int64) *InForce {
	var best *InForce
	for i := range d {
		e := &d[i]
		if e.Subject == subject && e.Action >= action && e.Expires > ts && (best == nil || e.Expires > best.Expires) {
			best = e
		}
	}
	return best
}

// Offences returns the earlier offences of the subject that a decision of
// action at ts escalates from: the decisions of action about it emitted
// in a row, the last of them ended (expired) no longer ago than window. While one of them is still
// in force the count is the one that decision was made with, so a repeat
// during a lockout is the same lockout again, not a new offence (which
// would escalate on every attempt a locked-out attacker makes).
func (d Decided) Offences(subject uint64, action uint8, ts, window int64) uint32 {
	for _, e := range d {
		switch {
		case e.Subject != subject || e.Action != action:
		case e.Expires > ts:
			return e.Offences - 1
		case ts-e.Expires <= window:
			return e.Offences
		}
	}
	return 0
}

// Record remembers a decision of action about subject emitted at ts and
// expiring at expires. It counts as one more offence unless a decision of
// the same action is in force (then it continues that one), and the count
// restarts when the last ended longer ago than window. Entries that ended
// longer ago than window are dropped; beyond MaxInForce, the entry that
// expires first goes.
func (d *Decided) Record(subject uint64, action uint8, ts, expires, window int64) {
	n := d.Offences(subject, action, ts, window)
	if n < math.MaxUint32 {
		n++
	}
	list := (*d)[:0]
	for _, e := range *d {
		if (e.Subject == subject && e.Action == action) || ts-e.Expires > window {
			continue
		}
		list = append(list, e)
	}
	if len(list) >= MaxInForce {
		first := 0
		for i := range list {
			if list[i].Expires < list[first].Expires {
				first = i
			}
		}
		list = append(list[:first], list[first+1:]...)
	}
	*d = append(list, InForce{Subject: subject, Action: action, Offences: n, Issued: ts, Expires: expires})
}

func putInForce(e *encoder, f *InForce) {
	e.uint(f.Subject)
	e.uint(uint64(f.Action))
	e.uint(uint64(f.Offences))
	e.int(f.Issued)
	e.int(f.Expires)
}

func getInForce(d *decoder, f *InForce) {
	*f = InForce{Subject: d.uint()}
	if a := d.uint(); a <= 255 {
		f.Action = uint8(a)
	} else {
		d.fail()
	}
	if f.Offences = d.uint32(); f.Offences == 0 {
		d.fail() // Record counts from 1
	}
	f.Issued, f.Expires = d.int(), d.int()
}

// Check reports a list no build writes: more than MaxInForce entries, or
// an entry of no offence. A state's JSON is checked with it.
func (d Decided) Check() error {
	if len(d) > MaxInForce {
		return fmt.Errorf("%w: %d decisions in force, at most %d", errCorrupt, len(d), MaxInForce)
	}
	for _, e := range d {
		if e.Offences == 0 {
			return fmt.Errorf("%w: a decision in force of no offence", errCorrupt)
		}
	}
	return nil
}

// decodeDecided reads the list putDecided wrote; more than MaxInForce is
// corrupt, as no build keeps more.
func decodeDecided(d *decoder) Decided {
	list := decodeSlice(d, 5, getInForce)
	if len(list) > MaxInForce {
		d.fail()
		return nil
	}
	return list
}
