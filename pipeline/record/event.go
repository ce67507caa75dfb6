package record

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/riskd/riskd/event"
)

// appendEvent writes ev, enrichment included, in this order: id, type
// (byte), ts (Unix seconds varint, nanoseconds uvarint; always UTC),
// user_id, outcome (byte), failure_reason, ip (netip binary form, empty
// when absent), device_id, session_id, token_id, refresh token_id and
// family_id, user_agent, app platform and version, integrity flags (byte:
// rooted 1, hooked 2, debugger 4, emulator 8, repackaged 16), attestation,
// amount, currency, beneficiary_id, kind, change field, then the geo:
// located, country, city, lat, lon, radius_km, asn (uvarint), as_org.
func appendEvent(b []byte, ev *event.Event) []byte {
	b = appendString(b, ev.ID)
	b = append(b, byte(ev.Type))
	b = appendInt(b, ev.TS.Unix())
	b = appendInt(b, int64(ev.TS.Nanosecond()))
	b = appendString(b, ev.UserID)
	b = append(b, byte(ev.Outcome))
	b = appendString(b, ev.FailureReason)
	// A length byte, then the address's binary form, encoded once in
	// place (0, 4 or 16 bytes and its zone).
	at := len(b)
	b, _ = ev.IP.AppendBinary(append(b, 0))
	b[at] = byte(len(b) - at - 1)
	for _, s := range [...]string{ev.DeviceID, ev.SessionID, ev.TokenID, ev.Refresh.TokenID, ev.Refresh.FamilyID,
		ev.UserAgent, ev.App.Platform, ev.App.Version} {
		b = appendString(b, s)
	}
	in := &ev.App.Integrity
	b = append(b, flags(in.Rooted, in.Hooked, in.Debugger, in.Emulator, in.Repackaged))
	b = appendString(b, in.Attestation)
	b = appendFloat(b, ev.Txn.Amount)
	for _, s := range [...]string{ev.Txn.Currency, ev.Txn.BeneficiaryID, ev.Txn.Kind, ev.Change.Field} {
		b = appendString(b, s)
	}
	g := &ev.Geo
	b = appendBool(b, g.Located)
	b = appendString(b, g.Country)
	b = appendString(b, g.City)
	b = appendFloat(b, g.Lat)
	b = appendFloat(b, g.Lon)
	b = appendFloat(b, g.RadiusKM)
	b = appendInt(b, int64(g.ASN))
	return appendString(b, g.ASOrg)
}

func flags(bits ...bool) byte {
	var f byte
	for i, v := range bits {
		if v {
			f |= 1 << i
		}
	}
	return f
}

// readEvent reads what appendEvent wrote into ev and checks it (see
// checkEvent); errors stick in r.
func readEvent(r *reader, ev *event.Event) {
	ev.ID = r.string()
	ev.Type = event.Type(r.byte())
	sec, nsec := r.int(), r.int()
	ev.TS = time.Unix(sec, nsec).UTC()
	ev.UserID = r.string()
	ev.Outcome = event.Outcome(r.byte())
	ev.FailureReason = r.string()
	if ipb := r.fixed(int(r.byte())); len(ipb) > 0 && ev.IP.UnmarshalBinary(ipb) != nil {
		r.fail("a bad ip")
	}
	for _, s := range [...]*string{&ev.DeviceID, &ev.SessionID, &ev.TokenID, &ev.Refresh.TokenID, &ev.Refresh.FamilyID,
		&ev.UserAgent, &ev.App.Platform, &ev.App.Version} {
		*s = r.string()
	}
	in := &ev.App.Integrity
	f := r.byte()
	in.Rooted, in.Hooked, in.Debugger, in.Emulator, in.Repackaged = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0, f&16 != 0
	in.Attestation = r.string()
	ev.Txn.Amount = r.float()
	for _, s := range [...]*string{&ev.Txn.Currency, &ev.Txn.BeneficiaryID, &ev.Txn.Kind, &ev.Change.Field} {
		*s = r.string()
	}
	g := &ev.Geo
	g.Located = r.bool()
	g.Country, g.City = r.string(), r.string()
	g.Lat, g.Lon, g.RadiusKM = r.float(), r.float(), r.float()
	asn := r.int()
	g.ASN = uint32(asn)
	g.ASOrg = r.string()
	if r.err == nil {
		if err := checkEvent(ev, f, nsec, asn); err != nil {
			r.fail(err.Error())
		}
	}
}

// fixed returns the next n bytes, aliasing the record.
func (r *reader) fixed(n int) []byte {
	if n > len(r.b) {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n:n]
	r.b, r.off = r.b[n:], r.off+n
	return v
}

// Limits of a decoded event: what event.Decode lets through, so that a
// record from anyone but a riskd stage is refused rather than acted on.
var (
	minTS = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) // 1970-01-01 less a day of offset
	maxTS = time.Date(10000, 1, 2, 0, 0, 0, 0, time.UTC)  // 9999-12-31 plus a day of offset
)

// maxGeoBytes bounds the enrichment's strings (GeoIP names).
const maxGeoBytes = 1024

// checkEvent refuses an event that event.Decode cannot have produced: an
// unknown type or outcome, a time outside the years 1970..9999, ids
// longer than the decoder's limits, unbounded client-chosen strings, bad
// flags or a non-finite number.
func checkEvent(ev *event.Event, integrity byte, nsec, asn int64) error {
	switch {
	case ev.Type == event.TypeUnknown || ev.Type > event.Logout:
		return fmt.Errorf("event type %d", ev.Type)
	case ev.Outcome > event.Failure:
		return fmt.Errorf("outcome %d", ev.Outcome)
	case nsec < 0 || nsec > 999_999_999 || ev.TS.Before(minTS) || !ev.TS.Before(maxTS):
		return fmt.Errorf("ts %s outside the years 1970..9999", ev.TS.Format(time.RFC3339Nano))
	case !validID(ev.ID, 128) || !validID(ev.UserID, 256):
		return fmt.Errorf("event_id or user_id empty, too long or not UTF-8")
	case integrity >= 32 || asn < 0 || asn > math.MaxUint32:
		return fmt.Errorf("integrity flags %#x or asn %d", integrity, asn)
	case math.IsNaN(ev.Txn.Amount) || math.IsInf(ev.Txn.Amount, 0) || ev.Txn.Amount < 0 || ev.Txn.Amount > 1e15:
		return fmt.Errorf("amount %v", ev.Txn.Amount)
	}
	for _, s := range [...]string{ev.FailureReason, ev.DeviceID, ev.SessionID, ev.TokenID, ev.Refresh.TokenID, ev.Refresh.FamilyID,
		ev.UserAgent, ev.App.Platform, ev.App.Version, ev.App.Integrity.Attestation, ev.Txn.Currency,
		ev.Txn.BeneficiaryID, ev.Txn.Kind, ev.Change.Field} {
		if len(s) > event.MaxIDBytes {
			return fmt.Errorf("a field of %d bytes, over the %d-byte bound", len(s), event.MaxIDBytes)
		}
	}
	for _, s := range [...]string{ev.Geo.Country, ev.Geo.City, ev.Geo.ASOrg} {
		if len(s) > maxGeoBytes {
			return fmt.Errorf("a geo name of %d bytes", len(s))
		}
	}
	return nil
}

// validID reports whether s is 1..max characters of UTF-8.
func validID(s string, max int) bool {
	return s != "" && len(s) <= 4*max && utf8.ValidString(s) && utf8.RuneCountInString(s) <= max
}
