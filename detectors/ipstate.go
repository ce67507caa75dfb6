package detectors

import "encoding/json"

// IPStateVersion is the encoding version of IPState. Version 3 adds the
// decisions in force; a state without any is written as version 2.
const IPStateVersion = 3

// ipStateV2 is the version of an address state that remembers no decision.
const ipStateV2 = 2

// IPState is an address's recent login attempts, for password spray.
// Addresses are most of the keys a worker holds (a user logs in from
// several) and most hold a single attempt, made at their newest time: so
// that one is held inline, as who made it and a sentinel for its outcome
// in more, and only an address with other attempts, or with decisions in
// force (few are), points to a slice of them. A state is 24 bytes, and one
// attempt allocates nothing.
type IPState struct {
	last int64     // the newest attempt's time (Last)
	who  uint64    // with one attempt inline: its Who
	more *attempts // nil: none; oneSuccess, oneFailure: one at last by who; else all of them
}

// attempts is an address's attempts and the decisions in force about it.
type attempts struct {
	list    []Attempt
	decided Decided // enforced decisions of the address stage (Remembered)
}

// Remembered returns the enforced decisions of the address stage the state
// remembers; nil when it holds none, unless alloc. An attempt held inline
// moves to a list of its own to make room for them.
func (s *IPState) Remembered(alloc bool) *Decided {
	switch {
	case s.own():
		if s.more.decided == nil && !alloc {
			return nil
		}
	case !alloc:
		return nil
	case s.more == nil:
		s.more = &attempts{}
	default:
		var one [1]Attempt
		s.more = &attempts{list: append([]Attempt(nil), s.Attempts(&one)...)}
		s.who = 0
	}
	return &s.more.decided
}

// own reports whether more is a list of the state's own, not nil or a
// sentinel of an inline attempt.
func (s *IPState) own() bool { return s.more != nil && s.more != oneSuccess && s.more != oneFailure }

// oneSuccess and oneFailure mark an IPState's single inline attempt by
// their addresses; their lists are never read, and differ only so that
// reflect.DeepEqual tells the two outcomes apart.
var oneSuccess, oneFailure = &attempts{}, &attempts{list: []Attempt{{Failure: true}}}

// Last returns the time of the address's newest attempt.
func (s *IPState) Last() int64 { return s.last }

// Attempts returns the address's attempts, by time. For an attempt held
// inline it is one in buf; the slice is good until the state next changes.
func (s *IPState) Attempts(buf *[1]Attempt) []Attempt {
	switch s.more {
	case nil:
		return nil
	case oneSuccess, oneFailure:
		buf[0] = Attempt{TS: s.last, Who: s.who, Failure: s.more == oneFailure}
		return buf[:]
	}
	return s.more.list
}

// set makes the state hold last and list, inline when list is a single
// attempt at last and the state holds no decisions. It keeps list itself
// (not a copy) unless it is held inline or beside decisions, so list must
// not be buf of Attempts.
func (s *IPState) set(last int64, list []Attempt) {
	s.last, s.who = last, 0
	switch {
	case s.own() && s.more.decided != nil:
		// A copy: list may be the caller's scratch for one attempt.
		s.more.list = append(s.more.list[:0], list...)
	case len(list) == 0:
		s.more = nil
	case len(list) == 1 && list[0].TS == last:
		s.who, s.more = list[0].Who, oneSuccess
		if list[0].Failure {
			s.more = oneFailure
		}
	case s.own():
		s.more.list = list
	default:
		s.more = &attempts{list: list}
	}
}

// ipStateJSON is IPState as version 1's JSON held it.
type ipStateJSON struct {
	Last     int64     `json:"last"`
	Attempts []Attempt `json:"attempts,omitempty"`
	Decided  Decided   `json:"decided,omitempty"` // not in version 1, which ignores it
}

// MarshalJSON writes the state as version 1 did.
func (s *IPState) MarshalJSON() ([]byte, error) {
	var buf [1]Attempt
	j := ipStateJSON{Last: s.last, Attempts: s.Attempts(&buf)}
	if d := s.Remembered(false); d != nil {
		j.Decided = *d
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads version 1's JSON.
func (s *IPState) UnmarshalJSON(b []byte) error {
	var j ipStateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if err := j.Decided.Check(); err != nil {
		return err
	}
	*s = IPState{}
	s.set(j.Last, j.Attempts)
	if len(j.Decided) > 0 {
		*s.Remembered(true) = j.Decided
	}
	return nil
}
