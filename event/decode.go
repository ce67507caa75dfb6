package event

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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
	ReasonTooLarge     = "too_large"
)

// MaxEventBytes is the largest message Decode parses; a larger one is
// rejected with ReasonTooLarge before any parsing. A real event is well
// under 2 KiB, but the limit is Kafka's default message size (1 MiB), not
// less: an attacker who pads his own event (a 400 KB device id on a stolen
// token) must not make it invisible, so everything a broker can carry is
// decoded, and Bound keeps the ids small. This is a transport limit,
// outside the JSON Schema.
const MaxEventBytes = 1 << 20

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

// reject returns the *Error of reason at field, its problem formatted.
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

// wire is the event as sent. Strings that are null or absent stay "", which
// every rule below reads as "not given"; nested objects that are null or
// absent stay zero.
type wire struct {
	EventID       string   `json:"event_id"`
	Type          string   `json:"type"`
	TS            string   `json:"ts"`
	UserID        string   `json:"user_id"`
	Outcome       string   `json:"outcome"`
	FailureReason string   `json:"failure_reason"`
	IP            string   `json:"ip"`
	DeviceID      string   `json:"device_id"`
	SessionID     string   `json:"session_id"`
	TokenID       string   `json:"token_id"`
	Refresh       Refresh  `json:"refresh"`
	UserAgent     string   `json:"user_agent"`
	App           App      `json:"app"`
	Txn           *wireTxn `json:"txn"`
	Change        Change   `json:"change"`
}

// wireTxn is txn as sent.
type wireTxn struct {
	Amount        wireAmount `json:"amount"`
	Currency      string     `json:"currency"`
	BeneficiaryID string     `json:"beneficiary_id"`
	Kind          string     `json:"kind"`
}

// strict spells out what the JSON v2 defaults already are, because the
// decoder's safety rests on them: invalid UTF-8 and duplicate member names
// are errors, names match case-sensitively, unknown members are ignored.
var strict = json.JoinOptions(
	jsontext.AllowInvalidUTF8(false),
	jsontext.AllowDuplicateNames(false),
	json.MatchCaseInsensitiveNames(false),
	json.RejectUnknownMembers(false),
)

// Decode parses and validates one contract-v1 event, exactly as the JSON
// Schema testdata/schema/event.v1.schema.json describes it, plus the
// MaxEventBytes limit. Unknown fields are ignored. The error, when not nil,
// is an *Error naming the field at fault. Decode keeps no reference to data.
func Decode(data []byte) (Event, error) {
	if len(data) > MaxEventBytes {
		return Event{}, reject(ReasonTooLarge, "", "message of %d bytes is over the %d-byte limit", len(data), MaxEventBytes)
	}
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	switch {
	case i == len(data):
		return Event{}, reject(ReasonInvalidJSON, "", "empty message")
	case data[i] == 0xEF && bytes.HasPrefix(data[i:], utf8BOM):
		return Event{}, reject(ReasonInvalidJSON, "", "not a JSON object: starts with a byte order mark")
	case data[i] != '{':
		return Event{}, reject(ReasonInvalidJSON, "", "not a JSON object")
	}
	var w wire
	if err := json.Unmarshal(data, &w, strict); err != nil {
		return Event{}, decodeError(data, err)
	}
	return w.validate()
}

// decodeError turns a JSON v2 error into an *Error naming the field.
func decodeError(data []byte, err error) *Error {
	var own *Error
	if errors.As(err, &own) {
		return own
	}
	var sem *json.SemanticError
	if errors.As(err, &sem) {
		return typeError(sem)
	}
	var syn *jsontext.SyntacticError
	if !errors.As(err, &syn) {
		return reject(ReasonInvalidJSON, "", "invalid JSON: %s", printable(err.Error()))
	}
	switch {
	case errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return reject(ReasonInvalidJSON, fieldName(syn.JSONPointer.Parent()), "duplicate key %s", quoted(syn.JSONPointer.LastToken()))
	case errors.Is(syn.Err, io.ErrUnexpectedEOF):
		return reject(ReasonInvalidJSON, "", "invalid JSON: unexpected end of JSON input")
	case invalidUTF8At(data, syn.ByteOffset) && inName(data, syn.ByteOffset):
		return reject(ReasonInvalidJSON, fieldName(syn.JSONPointer), "a member name is not valid UTF-8")
	case invalidUTF8At(data, syn.ByteOffset):
		return reject(ReasonInvalidJSON, fieldName(syn.JSONPointer), "not valid UTF-8")
	}
	return reject(ReasonInvalidJSON, fieldName(syn.JSONPointer), "invalid JSON: %s", printable(syn.Err.Error()))
}

// typeError returns the *Error of a member of the wrong JSON type.
func typeError(sem *json.SemanticError) *Error {
	field := fieldName(sem.JSONPointer)
	if field == "" {
		return reject(ReasonInvalidJSON, "", "not a JSON object")
	}
	got := kindName(sem.JSONKind)
	if sem.GoType == nil {
		return reject(ReasonBadValue, field, "unexpected JSON %s", got)
	}
	switch sem.GoType.Kind() {
	case reflect.String:
		return reject(ReasonBadValue, field, "must be a JSON string or null, got %s", got)
	case reflect.Bool:
		return reject(ReasonBadValue, field, "must be true, false or null, got %s", got)
	case reflect.Struct, reflect.Pointer:
		return reject(ReasonBadValue, field, "must be a JSON object or null, got %s", got)
	}
	return reject(ReasonBadValue, field, "unexpected JSON %s", got)
}

// invalidUTF8At reports whether data holds an invalid UTF-8 sequence at off,
// where the JSON decoder stopped.
func invalidUTF8At(data []byte, off int64) bool {
	if off < 0 || off >= int64(len(data)) {
		return false
	}
	r, size := utf8.DecodeRune(data[off:])
	return r == utf8.RuneError && size == 1
}

// inName reports whether the string holding offset off of data is an
// object member name: the next unescaped quote is followed by a colon.
func inName(data []byte, off int64) bool {
	i := int(off)
	for i < len(data) && data[i] != '"' {
		if data[i] == '\\' {
			i++
		}
		i++
	}
	for i++; i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'); i++ {
	}
	return i < len(data) && data[i] == ':'
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// maxFieldBytes bounds a field path in an error; paths into unknown members
// are the sender's text.
const maxFieldBytes = 64

// fieldName turns a JSON pointer into the dotted path errors use
// ("/txn/amount" is "txn.amount"). A name that is not a plain identifier
// is quoted, and the path is bounded, so it cannot break a log line.
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if b.Len() >= maxFieldBytes {
			b.WriteString("...")
			break
		}
		if plainName(tok) {
			b.WriteString(tok)
		} else {
			b.WriteString(quoted(tok))
		}
	}
	return b.String()
}

// plainName reports whether s, a member name, can stand unquoted in a path.
func plainName(s string) bool {
	if s == "" || len(s) > maxFieldBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// printable bounds a JSON library message and replaces what a log line
// must not hold (the message may quote a few bytes of the input).
func printable(s string) string {
	if len(s) > 2*maxQuotedBytes {
		s = s[:2*maxQuotedBytes] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// checkLen rejects s, a contract-limited id, when empty or over max
// characters (Unicode code points, as JSON Schema's maxLength counts).
func checkLen(s, field string, max int) *Error {
	if s == "" {
		return reject(ReasonMissingField, field, "required field is missing or empty")
	}
	if len(s) > max { // a code point is at least one byte
		if n := utf8.RuneCountInString(s); n > max {
			return reject(ReasonBadValue, field, "%d characters, longer than %d", n, max)
		}
	}
	return nil
}
