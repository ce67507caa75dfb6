package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Rejection reasons, the label values of the rejection metric and the
// dead-letter header.
const (
	ReasonInvalidJSON  = "invalid_json"
	ReasonMissingField = "missing_field"
	ReasonUnknownType  = "unknown_type"
	ReasonBadTS        = "bad_ts"
	ReasonBadIP        = "bad_ip"
	ReasonBadAmount    = "bad_amount"
	ReasonBadValue     = "bad_value"
)

// Error is why an event was rejected: a machine-readable Reason, the Field at
// fault (empty for the whole message) and a human Problem.
type Error struct {
	Reason  string
	Field   string
	Problem string
}

// Error returns "field: problem".
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

func reject(reason, field, format string, args ...any) *Error {
	return &Error{Reason: reason, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the rejection reason of err, or ReasonBadValue for errors
// that are not *Error.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonBadValue
}

type wireTxn struct {
	Amount        json.RawMessage `json:"amount"`
	Currency      string          `json:"currency"`
	BeneficiaryID string          `json:"beneficiary_id"`
	Kind          string          `json:"kind"`
}

type wire struct {
	EventID       *string  `json:"event_id"`
	Type          *string  `json:"type"`
	TS            *string  `json:"ts"`
	UserID        *string  `json:"user_id"`
	Outcome       string   `json:"outcome"`
	FailureReason string   `json:"failure_reason"`
	IP            string   `json:"ip"`
	DeviceID      string   `json:"device_id"`
	SessionID     string   `json:"session_id"`
	TokenID       string   `json:"token_id"`
	Refresh       *Refresh `json:"refresh"`
	UserAgent     string   `json:"user_agent"`
	App           *App     `json:"app"`
	Txn           *wireTxn `json:"txn"`
	Change        *Change  `json:"change"`
}

// Decode parses and validates one contract-v1 event. Unknown fields are
// ignored. The error, when not nil, is an *Error naming the field at fault.
// Decode keeps no reference to data.
func Decode(data []byte) (Event, error) {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return Event{}, decodeError(data, err)
	}
	return w.validate()
}

func decodeError(data []byte, err error) *Error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return reject(ReasonBadValue, typeErr.Field, "expected a JSON %s, got %s", typeErr.Type.Kind(), typeErr.Value)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return reject(ReasonInvalidJSON, "", "empty message")
	}
	if trimmed[0] != '{' {
		return reject(ReasonInvalidJSON, "", "not a JSON object")
	}
	return reject(ReasonInvalidJSON, "", "invalid JSON: %v", err)
}

func required(p *string, field string, maxLen int) (string, *Error) {
	if p == nil || *p == "" {
		return "", reject(ReasonMissingField, field, "required field is missing or empty")
	}
	if len(*p) > maxLen {
		return "", reject(ReasonBadValue, field, "longer than %d characters", maxLen)
	}
	return *p, nil
}

func (w *wire) validate() (Event, error) {
	var ev Event
	var err *Error
	if ev.ID, err = required(w.EventID, "event_id", 128); err != nil {
		return ev, err
	}
	var typ string
	if typ, err = required(w.Type, "type", 64); err != nil {
		return ev, err
	}
	if ev.Type = ParseType(typ); ev.Type == TypeUnknown {
		return ev, reject(ReasonUnknownType, "type", "unknown event type %q", typ)
	}
	var ts string
	if ts, err = required(w.TS, "ts", 64); err != nil {
		return ev, err
	}
	t, perr := time.Parse(time.RFC3339Nano, ts)
	if perr != nil {
		return ev, reject(ReasonBadTS, "ts", "not an RFC 3339 timestamp: %q", ts)
	}
	ev.TS = t.UTC()
	if ev.UserID, err = required(w.UserID, "user_id", 256); err != nil {
		return ev, err
	}
	switch w.Outcome {
	case "":
		if ev.Type == Login || ev.Type == MFA {
			return ev, reject(ReasonMissingField, "outcome", "required for %s events", typ)
		}
	case "success":
		ev.Outcome = Success
	case "failure":
		ev.Outcome = Failure
	default:
		return ev, reject(ReasonBadValue, "outcome", "must be success or failure, got %q", w.Outcome)
	}
	if w.IP != "" {
		addr, aerr := netip.ParseAddr(w.IP)
		if aerr != nil || addr.Zone() != "" {
			return ev, reject(ReasonBadIP, "ip", "not an IPv4 or IPv6 address: %q", w.IP)
		}
		ev.IP = addr.Unmap()
	}
	ev.FailureReason = w.FailureReason
	ev.DeviceID = w.DeviceID
	ev.SessionID = w.SessionID
	ev.TokenID = w.TokenID
	ev.UserAgent = w.UserAgent
	if w.App != nil {
		ev.App = *w.App
	}
	switch ev.Type {
	case TokenIssue, TokenUse, Logout:
		if ev.TokenID == "" {
			return ev, reject(ReasonMissingField, "token_id", "required for %s events", typ)
		}
	case TokenRefresh:
		if w.Refresh == nil || w.Refresh.TokenID == "" {
			return ev, reject(ReasonMissingField, "refresh.token_id", "required for token_refresh events")
		}
		if w.Refresh.FamilyID == "" {
			return ev, reject(ReasonMissingField, "refresh.family_id", "required for token_refresh events")
		}
	case Transaction:
		if w.Txn == nil {
			return ev, reject(ReasonMissingField, "txn", "required for transaction events")
		}
		if ev.Txn, err = w.Txn.validate(); err != nil {
			return ev, err
		}
	case AccountChange:
		if w.Change == nil || w.Change.Field == "" {
			return ev, reject(ReasonMissingField, "change.field", "required for account_change events")
		}
	}
	if w.Refresh != nil {
		ev.Refresh = *w.Refresh
	}
	if w.Change != nil {
		ev.Change = *w.Change
	}
	return ev, nil
}

func (w *wireTxn) validate() (Txn, *Error) {
	raw := bytes.TrimSpace(w.Amount)
	if len(raw) == 0 || string(raw) == "null" {
		return Txn{}, reject(ReasonMissingField, "txn.amount", "required for transaction events")
	}
	if raw[0] == '"' { // a decimal sent as a string, as some producers do for money
		raw = raw[1 : len(raw)-1]
	}
	amount, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return Txn{}, reject(ReasonBadAmount, "txn.amount", "not a decimal number: %s", w.Amount)
	}
	if !(amount > 0) || amount > 1e15 {
		return Txn{}, reject(ReasonBadAmount, "txn.amount", "must be a positive amount, got %s", w.Amount)
	}
	if w.Currency == "" {
		return Txn{}, reject(ReasonMissingField, "txn.currency", "required for transaction events")
	}
	return Txn{Amount: amount, Currency: strings.ToUpper(w.Currency), BeneficiaryID: w.BeneficiaryID, Kind: w.Kind}, nil
}
