// Package event holds the contract-v1 input event, its decoder and validator,
// and the enrichment attached to it.
//
// The input is written by attackers, so Decode is strict and accepts exactly
// what the JSON Schema testdata/schema/event.v1.schema.json describes (a
// test holds the two to the same verdict on every golden line): I-JSON text
// (valid UTF-8, no duplicate member names, names matched case-sensitively),
// amounts as JSON numbers in [MinAmount, MaxAmount], ts as RFC 3339 with the
// year 1970..9999, event_id and user_id limited in characters, enums checked,
// and no message over MaxEventBytes. Unknown members are ignored.
//
// Ids and free text that come from the client and that the detectors track
// (device_id, session_id, token_id, refresh.token_id, refresh.family_id,
// txn.beneficiary_id, user_agent, failure_reason, app.platform, app.version,
// txn.kind, change.field) are never rejected for their length: a value over
// MaxIDBytes is replaced by Bound(value), a readable prefix and a hash of the
// whole, so it stays distinct, deterministic and small. Rejecting them would
// let an attacker hide his own events from every detector.
//
// Event is the one type every stage shares (pipeline, detectors, rules,
// storage), which is why it lives in a package of its own rather than in
// pipeline: detectors must not import pipeline.
package event

import (
	"net/netip"
	"time"
)

// Type is the kind of an event.
type Type uint8

// The event types of contract §1.
const (
	TypeUnknown Type = iota
	Login
	MFA
	TokenIssue
	TokenUse
	TokenRefresh
	Transaction
	AccountChange
	Logout
)

var typeNames = [...]string{"unknown", "login", "mfa", "token_issue", "token_use", "token_refresh", "transaction", "account_change", "logout"}

// String returns the contract name of t.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "unknown"
}

// ParseType returns the Type named s, or TypeUnknown.
func ParseType(s string) Type {
	for i, n := range typeNames[1:] {
		if n == s {
			return Type(i + 1)
		}
	}
	return TypeUnknown
}

// Types lists every valid event type in contract order.
func Types() []Type {
	return []Type{Login, MFA, TokenIssue, TokenUse, TokenRefresh, Transaction, AccountChange, Logout}
}

// Outcome is the result of a login or mfa attempt.
type Outcome uint8

// Outcomes of contract §1; OutcomeNone for events that carry none.
const (
	OutcomeNone Outcome = iota
	Success
	Failure
)

// String returns the contract name of o, or "" for OutcomeNone.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return ""
}

// Event is one validated contract-v1 event. Times are UTC.
type Event struct {
	ID            string
	Type          Type
	TS            time.Time
	UserID        string
	Outcome       Outcome
	FailureReason string
	IP            netip.Addr // zero when absent
	DeviceID      string
	SessionID     string
	TokenID       string
	Refresh       Refresh
	UserAgent     string
	App           App
	Txn           Txn
	Change        Change

	// Geo is filled by enrichment; zero until then.
	Geo Geo
}

// Refresh is the refresh token presented in a token_refresh event.
type Refresh struct {
	TokenID  string `json:"token_id"`
	FamilyID string `json:"family_id"`
}

// App describes the client application and its self-reported integrity.
type App struct {
	Platform  string    `json:"platform"`
	Version   string    `json:"version"`
	Integrity Integrity `json:"integrity"`
}

// Integrity is the app's runtime-integrity report.
type Integrity struct {
	Rooted      bool   `json:"rooted"`
	Hooked      bool   `json:"hooked"`
	Debugger    bool   `json:"debugger"`
	Emulator    bool   `json:"emulator"`
	Repackaged  bool   `json:"repackaged"`
	Attestation string `json:"attestation"` // pass, fail, unavailable or ""
}

// Txn is the money movement of a transaction event.
type Txn struct {
	Amount        float64
	Currency      string
	BeneficiaryID string
	Kind          string
}

// Change is the account field changed by an account_change event.
type Change struct {
	Field string `json:"field"`
}

// Authenticated reports whether e proves the user (or someone holding their
// credentials) acted from e.IP: what impossible travel compares.
func (e *Event) Authenticated() bool {
	switch e.Type {
	case Login, MFA:
		return e.Outcome == Success
	case TokenIssue, TokenUse, TokenRefresh, Transaction, AccountChange:
		return true
	}
	return false
}

// Sensitive reports whether e moves money or changes the account.
func (e *Event) Sensitive() bool {
	return e.Type == Transaction || e.Type == AccountChange
}

// Geo is the enrichment of an event's IP address. Located is false for
// missing, private, reserved or unknown addresses; detectors that need a
// place then abstain.
type Geo struct {
	Located  bool    `json:"located" expr:"located"`
	Country  string  `json:"country" expr:"country"`
	City     string  `json:"city" expr:"city"`
	Lat      float64 `json:"lat" expr:"lat"`
	Lon      float64 `json:"lon" expr:"lon"`
	RadiusKM float64 `json:"radius_km" expr:"radius_km"`
	ASN      uint32  `json:"asn" expr:"asn"`
	ASOrg    string  `json:"as_org" expr:"as_org"`
}

// Place returns "City, CC" or the best part of it for summaries.
func (g Geo) Place() string {
	switch {
	case !g.Located:
		return "unknown place"
	case g.City != "" && g.Country != "":
		return g.City + ", " + g.Country
	case g.Country != "":
		return g.Country
	}
	return "unnamed place"
}
