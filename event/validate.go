package event

import (
	"net/netip"
	"unicode/utf8"
)

// Contract limits on the two ids that are not shortened, in characters.
const (
	MaxEventIDChars = 128
	MaxUserIDChars  = 256
	maxIPChars      = 64
)

// validate checks what the JSON types alone do not, in the order of the
// contract's table, and builds the Event.
func (w *wire) validate() (Event, error) {
	var ev Event
	if err := checkLen(w.EventID, "event_id", MaxEventIDChars); err != nil {
		return ev, err
	}
	ev.ID = w.EventID
	if w.Type == "" {
		return ev, reject(ReasonMissingField, "type", "required field is missing or empty")
	}
	if ev.Type = ParseType(w.Type); ev.Type == TypeUnknown {
		return ev, reject(ReasonUnknownType, "type", "unknown event type %s", quoted(w.Type))
	}
	if w.TS == "" {
		return ev, reject(ReasonMissingField, "ts", "required field is missing or empty")
	}
	var err *Error
	if ev.TS, err = parseTS(w.TS); err != nil {
		return ev, err
	}
	if err = checkLen(w.UserID, "user_id", MaxUserIDChars); err != nil {
		return ev, err
	}
	ev.UserID = w.UserID
	if ev.Outcome, err = w.outcome(ev.Type); err != nil {
		return ev, err
	}
	if ev.IP, err = parseIP(w.IP); err != nil {
		return ev, err
	}
	if err = w.App.Integrity.check(); err != nil {
		return ev, err
	}
	if err = w.required(ev.Type); err != nil {
		return ev, err
	}
	if w.Txn != nil {
		if ev.Txn, err = w.Txn.validate(ev.Type == Transaction); err != nil {
			return ev, err
		}
		if ev.Type != Transaction {
			ev.Txn = Txn{} // as before: only a transaction moves money
		}
	}
	w.bound(&ev)
	return ev, nil
}

// outcome returns the outcome of an event of type t: "" or null is none
// (refused for login and mfa, which require one), else success or failure.
func (w *wire) outcome(t Type) (Outcome, *Error) {
	switch w.Outcome {
	case "":
		if t == Login || t == MFA {
			return OutcomeNone, reject(ReasonMissingField, "outcome", "required for %s events", t)
		}
		return OutcomeNone, nil
	case "success":
		return Success, nil
	case "failure":
		return Failure, nil
	}
	return OutcomeNone, reject(ReasonBadValue, "outcome", "must be success or failure, got %s", quoted(w.Outcome))
}

// parseIP reads ip: "" or null is absent; otherwise IPv4 or IPv6 text
// without a zone, as netip.ParseAddr accepts it (so no leading zeros in
// IPv4). An IPv4-mapped IPv6 address becomes the IPv4 address.
func parseIP(s string) (netip.Addr, *Error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	if len(s) > maxIPChars && utf8.RuneCountInString(s) > maxIPChars {
		return netip.Addr{}, reject(ReasonBadIP, "ip", "longer than %d characters, not an address: %s", maxIPChars, quoted(s))
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, reject(ReasonBadIP, "ip", "not an IPv4 or IPv6 address: %s", quoted(s))
	}
	return addr.Unmap(), nil
}

// check refuses an attestation other than pass, fail, unavailable, or ""
// (or null) for not reported.
func (in *Integrity) check() *Error {
	switch in.Attestation {
	case "", "pass", "fail", "unavailable":
		return nil
	}
	return reject(ReasonBadValue, "app.integrity.attestation", "must be pass, fail or unavailable, got %s", quoted(in.Attestation))
}

// required checks the fields each type requires beyond the common four.
func (w *wire) required(t Type) *Error {
	switch t {
	case TokenIssue, TokenUse, Logout:
		if w.TokenID == "" {
			return reject(ReasonMissingField, "token_id", "required for %s events", t)
		}
	case TokenRefresh:
		if w.Refresh.TokenID == "" {
			return reject(ReasonMissingField, "refresh.token_id", "required for token_refresh events")
		}
		if w.Refresh.FamilyID == "" {
			return reject(ReasonMissingField, "refresh.family_id", "required for token_refresh events")
		}
	case Transaction:
		if w.Txn == nil {
			return reject(ReasonMissingField, "txn", "required for transaction events")
		}
	case AccountChange:
		if w.Change.Field == "" {
			return reject(ReasonMissingField, "change.field", "required for account_change events")
		}
	}
	return nil
}

// validate checks txn, present on any event: amount and currency are
// required on a transaction (required true); elsewhere they are checked
// when given.
func (w *wireTxn) validate(required bool) (Txn, *Error) {
	if required && !w.Amount.set {
		return Txn{}, reject(ReasonMissingField, "txn.amount", "required for transaction events")
	}
	if required && w.Currency == "" {
		return Txn{}, reject(ReasonMissingField, "txn.currency", "required for transaction events")
	}
	cur, ok := currency(w.Currency)
	if !ok {
		return Txn{}, reject(ReasonBadValue, "txn.currency", "must be 3 ASCII letters (ISO 4217), got %s", quoted(w.Currency))
	}
	return Txn{Amount: w.Amount.value, Currency: cur, BeneficiaryID: w.BeneficiaryID, Kind: w.Kind}, nil
}

// currency upper-cases s when it is 3 ASCII letters (the shape of an ISO
// 4217 code; whether the code exists is not checked). "" is not given.
func currency(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	if len(s) != 3 {
		return "", false
	}
	var b [3]byte
	for i := range 3 {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		default:
			return "", false
		}
		b[i] = c
	}
	if string(b[:]) == s {
		return s, true
	}
	return string(b[:]), true
}

// bound copies the client-supplied ids and free text into ev, each through
// Bound: these are never rejected for length (see Bound for why).
func (w *wire) bound(ev *Event) {
	ev.FailureReason = Bound(w.FailureReason)
	ev.DeviceID = Bound(w.DeviceID)
	ev.SessionID = Bound(w.SessionID)
	ev.TokenID = Bound(w.TokenID)
	ev.UserAgent = Bound(w.UserAgent)
	ev.Refresh = Refresh{TokenID: Bound(w.Refresh.TokenID), FamilyID: Bound(w.Refresh.FamilyID)}
	ev.App = w.App
	ev.App.Platform = Bound(w.App.Platform)
	ev.App.Version = Bound(w.App.Version)
	ev.Change = Change{Field: Bound(w.Change.Field)}
	ev.Txn.BeneficiaryID = Bound(ev.Txn.BeneficiaryID)
	ev.Txn.Kind = Bound(ev.Txn.Kind)
}
