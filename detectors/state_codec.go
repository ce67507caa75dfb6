package detectors

import (
	"encoding/json"
	"fmt"
)

// jsonStateVersion is the first encoding of both states, JSON behind the
// version byte; changelogs written by older builds hold it, so it stays
// readable.
const jsonStateVersion = 1

// MarshalBinary encodes s behind a version byte: UserStateVersion, or
// version 2 when s remembers no decision. The fields of a nil UserExtra
// are written as empty and zero: the encoding is that of version 2's
// single struct, byte for byte.
func (s *UserState) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 128))
}

// noExtra stands for a nil UserExtra when encoding: all of it empty.
var noExtra UserExtra

// AppendBinary appends MarshalBinary's encoding of s to b
// (encoding.BinaryAppender), so that a changelog can encode a batch's
// states into one buffer rather than allocate one per state.
func (s *UserState) AppendBinary(b []byte) ([]byte, error) {
	x := s.UserExtra
	if x == nil {
		x = &noExtra
	}
	e := encoder{b: append(b, pickVersion(len(x.Decided) > 0, UserStateVersion, userStateV2))}
	e.int(s.First)
	e.int(s.Last)
	for i := range recentLen {
		e.uint(s.recentAt(i))
	}
	e.uint(uint64(s.RecentPos))
	encodeSlice(&e, s.Points(), putPoint)
	encodeSlice(&e, x.Failures, putAttempt)
	encodeSlice(&e, x.Txns, func(e *encoder, t *TxnEntry) {
		e.int(t.TS)
		e.float(t.Amount)
		e.str(t.Currency)
		e.str(t.Payee)
		e.str(t.Device)
	})
	e.int(x.TxnCount)
	e.float(x.TxnTotal)
	e.int(x.TxnFirst)
	encodeSlice(&e, x.Payees, putFamiliar)
	for k := range kinds {
		encodeSlice(&e, ofKind(s.familiar, k), putFamiliar)
	}
	encodeSlice(&e, x.Tokens, func(e *encoder, t *TokenEntry) {
		e.str(t.ID)
		e.str(t.Device)
		e.uint(uint64(t.ASN))
		e.int(t.Issued)
		e.bool(t.Issue)
		e.int(t.Revoked)
		e.int(t.LastUse)
		putPoint(e, &t.Where)
		e.bool(t.Located)
	})
	encodeSlice(&e, x.Refreshes, func(e *encoder, r *RefreshEntry) {
		e.str(r.TokenID)
		e.str(r.Family)
		e.int(r.TS)
		e.uint(r.Event)
	})
	encodeSlice(&e, x.Families, func(e *encoder, f *FamilyEntry) {
		e.str(f.ID)
		e.str(f.Device)
		e.int(f.First)
		e.int(f.Last)
		e.int(f.Revoked)
	})
	if len(x.Decided) > 0 {
		encodeSlice(&e, x.Decided, putInForce)
	}
	return e.b, nil
}

// pickVersion returns v3 when the state holds what only version 3 encodes,
// else v2.
func pickVersion(new bool, v3, v2 byte) byte {
	if new {
		return v3
	}
	return v2
}

// UnmarshalBinary decodes what MarshalBinary wrote (version 3 or 2), or
// the JSON of version 1. Another version is an error wrapping ErrStateVersion. The
// state comes out as the detectors would have built it: Recent holds no
// zeros at its end, and UserExtra is nil when empty. A state of more than
// maxPoints points is corrupt: no build held one.
func (s *UserState) UnmarshalBinary(b []byte) error {
	d, err := body(b, UserStateVersion, userStateV2, s)
	if err != nil {
		return err
	}
	if d == nil {
		if s.UserExtra != nil && s.UserExtra.empty() {
			s.UserExtra = nil
		}
		return nil
	}
	*s = UserState{First: d.int(), Last: d.int()}
	var recent [recentLen]uint64
	for i := range recent {
		recent[i] = d.uint()
	}
	s.setRecent(recent[:])
	// Every build wrote a position within the ring (seen keeps it there):
	// one beyond is corrupt, not a position to reduce.
	if pos := d.uint(); pos < recentLen {
		s.RecentPos = uint8(pos)
	} else {
		d.fail()
	}
	points := decodeSlice(d, 27, getPoint)
	if len(points) > maxPoints {
		d.fail() // no build held more: the largest history
		points = nil
	}
	s.setPoints(points)
	x := &UserExtra{}
	x.Failures = decodeSlice(d, 3, getAttempt)
	x.Txns = decodeSlice(d, 12, func(d *decoder, t *TxnEntry) {
		*t = TxnEntry{TS: d.int(), Amount: d.float(), Currency: d.str(), Payee: d.str(), Device: d.str()}
	})
	x.TxnCount, x.TxnTotal, x.TxnFirst = d.int(), d.float(), d.int()
	x.Payees = decodeSlice(d, 4, getFamiliar)
	var fam [kinds][]Familiar
	for k := range fam {
		fam[k] = decodeSlice(d, 4, getFamiliar)
	}
	s.familiar = joinKinds(fam[0], fam[1], fam[2])
	x.Tokens = decodeSlice(d, 35, func(d *decoder, t *TokenEntry) {
		*t = TokenEntry{ID: d.str(), Device: d.str(), ASN: d.uint32(), Issued: d.int(), Issue: d.bool(), Revoked: d.int(), LastUse: d.int()}
		getPoint(d, &t.Where)
		t.Located = d.bool()
	})
	x.Refreshes = decodeSlice(d, 4, func(d *decoder, r *RefreshEntry) {
		*r = RefreshEntry{TokenID: d.str(), Family: d.str(), TS: d.int(), Event: d.uint()}
	})
	x.Families = decodeSlice(d, 5, func(d *decoder, f *FamilyEntry) {
		*f = FamilyEntry{ID: d.str(), Device: d.str(), First: d.int(), Last: d.int(), Revoked: d.int()}
	})
	if b[0] == UserStateVersion {
		// Version 3 writes the list only when it holds something.
		if x.Decided = decodeDecided(d); len(x.Decided) == 0 {
			d.fail()
		}
	}
	if !x.empty() {
		s.UserExtra = x
	}
	return d.done()
}

// MarshalBinary encodes s behind a version byte: IPStateVersion, or
// version 2 when s remembers no decision (as UserState does).
func (s *IPState) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 32))
}

// AppendBinary appends MarshalBinary's encoding of s to b
// (encoding.BinaryAppender).
func (s *IPState) AppendBinary(b []byte) ([]byte, error) {
	dec := s.Remembered(false)
	e := encoder{b: append(b, pickVersion(dec != nil && len(*dec) > 0, IPStateVersion, ipStateV2))}
	var one [1]Attempt
	e.int(s.last)
	encodeSlice(&e, s.Attempts(&one), putAttempt)
	if dec != nil && len(*dec) > 0 {
		encodeSlice(&e, *dec, putInForce)
	}
	return e.b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote (version 3 or 2), or
// the JSON of version 1. Another version is an error wrapping ErrStateVersion.
func (s *IPState) UnmarshalBinary(b []byte) error {
	d, err := body(b, IPStateVersion, ipStateV2, s)
	if err != nil || d == nil {
		return err
	}
	*s = IPState{}
	last := d.int()
	s.set(last, decodeSlice(d, 3, getAttempt))
	if b[0] == IPStateVersion {
		dec := decodeDecided(d)
		if len(dec) == 0 {
			d.fail()
		}
		*s.Remembered(true) = dec
	}
	return d.done()
}

// body checks b's version byte: for version or v2, it returns a decoder of
// the rest; for the JSON version, it decodes into v and returns a nil
// decoder.
func body(b []byte, version, v2 byte, v any) (*decoder, error) {
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("detectors: empty state")
	case b[0] == version || b[0] == v2:
		return &decoder{b: b[1:]}, nil
	case b[0] == jsonStateVersion:
		return nil, json.Unmarshal(b[1:], v)
	}
	return nil, fmt.Errorf("detectors: state version %d, this build reads %d, %d and %d: %w", b[0], version, v2, jsonStateVersion, ErrStateVersion)
}

// done reports a decoding error, or bytes left over (also corrupt).
func (d *decoder) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = errCorrupt
	}
	return d.err
}

func putPoint(e *encoder, p *GeoPoint) {
	e.int(p.TS)
	e.float(p.Lat)
	e.float(p.Lon)
	e.float(p.RadiusKM)
	e.str(p.Country)
	e.str(p.City)
}

func getPoint(d *decoder, p *GeoPoint) {
	*p = GeoPoint{TS: d.int(), Lat: d.float(), Lon: d.float(), RadiusKM: d.float(), Country: d.str(), City: d.str()}
}

func putAttempt(e *encoder, a *Attempt) {
	e.int(a.TS)
	e.uint(a.Who)
	e.bool(a.Failure)
}

func getAttempt(d *decoder, a *Attempt) { *a = Attempt{TS: d.int(), Who: d.uint(), Failure: d.bool()} }

func putFamiliar(e *encoder, f *Familiar) {
	e.str(f.Key)
	e.int(f.First)
	e.int(f.Last)
	e.bool(f.Fresh)
}

func getFamiliar(d *decoder, f *Familiar) {
	*f = Familiar{Key: d.str(), First: d.int(), Last: d.int(), Fresh: d.bool()}
}
