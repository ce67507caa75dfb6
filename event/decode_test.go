package event

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		check func(t *testing.T, ev Event)
	}{
		{"login with fraction and offset", `{"event_id":"e1","type":"login","ts":"2026-03-01T10:00:00.123+02:00","user_id":"u1","outcome":"failure","failure_reason":"bad_password","ip":"81.2.69.142","extra":{"x":1}}`,
			func(t *testing.T, ev Event) {
				if ev.Type != Login || ev.Outcome != Failure || ev.FailureReason != "bad_password" {
					t.Errorf("got %+v", ev)
				}
				want := time.Date(2026, 3, 1, 8, 0, 0, 123e6, time.UTC)
				if !ev.TS.Equal(want) || ev.TS.Location() != time.UTC {
					t.Errorf("ts = %v, want %v UTC", ev.TS, want)
				}
			}},
		{"ipv6 and ipv4-mapped", `{"event_id":"e2","type":"token_use","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"t1","ip":"::ffff:1.2.3.4"}`,
			func(t *testing.T, ev Event) {
				if ev.IP != netip.MustParseAddr("1.2.3.4") {
					t.Errorf("ip = %v, want unmapped 1.2.3.4", ev.IP)
				}
			}},
		{"transaction amount as string", `{"event_id":"e3","type":"transaction","ts":"2026-03-01T10:00:00Z","user_id":"u1","txn":{"amount":"12.50","currency":"eur","beneficiary_id":"b1"}}`,
			func(t *testing.T, ev Event) {
				if ev.Txn.Amount != 12.5 || ev.Txn.Currency != "EUR" || ev.Txn.BeneficiaryID != "b1" {
					t.Errorf("txn = %+v", ev.Txn)
				}
			}},
		{"refresh and integrity", `{"event_id":"e4","type":"token_refresh","ts":"2026-03-01T10:00:00Z","user_id":"u1","refresh":{"token_id":"r1","family_id":"f1"},"app":{"platform":"android","integrity":{"hooked":true,"attestation":"fail"}}}`,
			func(t *testing.T, ev Event) {
				if ev.Refresh != (Refresh{"r1", "f1"}) || !ev.App.Integrity.Hooked || ev.App.Integrity.Attestation != "fail" {
					t.Errorf("got %+v", ev)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.line))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tt.check(t, ev)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	const base = `"event_id":"e1","ts":"2026-03-01T10:00:00Z","user_id":"u1"`
	tests := []struct {
		name, line, reason, field string
	}{
		{"not json", `{"event_id":`, ReasonInvalidJSON, ""},
		{"not an object", `[1,2]`, ReasonInvalidJSON, ""},
		{"empty", ``, ReasonInvalidJSON, ""},
		{"missing event_id", `{"type":"logout","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"t"}`, ReasonMissingField, "event_id"},
		{"event_id too long", `{"event_id":"` + longID + `","type":"logout","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"t"}`, ReasonBadValue, "event_id"},
		{"unknown type", `{"type":"teleport",` + base + `}`, ReasonUnknownType, "type"},
		{"bad ts", `{"event_id":"e1","type":"logout","ts":"yesterday","user_id":"u1","token_id":"t"}`, ReasonBadTS, "ts"},
		{"missing user", `{"event_id":"e1","type":"logout","ts":"2026-03-01T10:00:00Z","token_id":"t"}`, ReasonMissingField, "user_id"},
		{"login without outcome", `{"type":"login",` + base + `}`, ReasonMissingField, "outcome"},
		{"bad outcome", `{"type":"mfa","outcome":"maybe",` + base + `}`, ReasonBadValue, "outcome"},
		{"bad ip", `{"type":"login","outcome":"success","ip":"300.1.1.1",` + base + `}`, ReasonBadIP, "ip"},
		{"ip wrong type", `{"type":"login","outcome":"success","ip":17,` + base + `}`, ReasonBadValue, "ip"},
		{"token_use without token", `{"type":"token_use",` + base + `}`, ReasonMissingField, "token_id"},
		{"refresh without family", `{"type":"token_refresh","refresh":{"token_id":"r"},` + base + `}`, ReasonMissingField, "refresh.family_id"},
		{"transaction without txn", `{"type":"transaction",` + base + `}`, ReasonMissingField, "txn"},
		{"zero amount", `{"type":"transaction","txn":{"amount":0,"currency":"EUR"},` + base + `}`, ReasonBadAmount, "txn.amount"},
		{"negative amount", `{"type":"transaction","txn":{"amount":-5,"currency":"EUR"},` + base + `}`, ReasonBadAmount, "txn.amount"},
		{"amount not a number", `{"type":"transaction","txn":{"amount":"lots","currency":"EUR"},` + base + `}`, ReasonBadAmount, "txn.amount"},
		{"change without field", `{"type":"account_change","change":{},` + base + `}`, ReasonMissingField, "change.field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.line))
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Decode error = %v (%T), want *Error", err, err)
			}
			if e.Reason != tt.reason || e.Field != tt.field {
				t.Errorf("got reason %q field %q (%v), want %q %q", e.Reason, e.Field, e, tt.reason, tt.field)
			}
		})
	}
}

var longID = strings.Repeat("x", 129)

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"event_id":"e","type":"transaction","ts":"2026-03-01T10:00:00Z","user_id":"u","txn":{"amount":1,"currency":"EUR"}}`))
	f.Add([]byte(`{"event_id":"e","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"u","outcome":"success","ip":"::1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err == nil && (ev.ID == "" || ev.UserID == "" || ev.Type == TypeUnknown || ev.TS.IsZero()) {
			t.Fatalf("accepted an incomplete event: %+v", ev)
		}
	})
}
