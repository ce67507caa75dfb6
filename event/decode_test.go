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
		{"transaction", `{"event_id":"e3","type":"transaction","ts":"2026-03-01T10:00:00Z","user_id":"u1","txn":{"amount":12.50,"currency":"eur","beneficiary_id":"b1"}}`,
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
		{"limits met in characters, not bytes", `{"event_id":"` + strings.Repeat("é", 128) + `","type":"logout","ts":"2026-03-01T10:00:00.123456789-00:00","user_id":"` + strings.Repeat("€", 256) + `","token_id":"t"}`,
			func(t *testing.T, ev Event) {
				if len(ev.ID) != 256 || len(ev.UserID) != 768 || ev.TS.Nanosecond() != 123456789 {
					t.Errorf("got id %d bytes, user %d bytes, ts %v", len(ev.ID), len(ev.UserID), ev.TS)
				}
			}},
		{"nulls are absent", `{"event_id":"e5","type":"token_use","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"t","ip":null,"outcome":null,"device_id":null,"app":{"platform":null,"integrity":{"rooted":null,"attestation":null}},"refresh":null,"txn":null,"change":null}`,
			func(t *testing.T, ev Event) {
				if ev.IP.IsValid() || ev.Outcome != OutcomeNone || ev.DeviceID != "" || ev.App != (App{}) {
					t.Errorf("got %+v", ev)
				}
			}},
		{"long client ids are bounded", `{"event_id":"e6","type":"token_use","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"` + strings.Repeat("t", 129) + `","device_id":"` + strings.Repeat("d", 400) + `","user_agent":"` + strings.Repeat("a", 10000) + `"}`,
			func(t *testing.T, ev Event) {
				if ev.TokenID != Bound(strings.Repeat("t", 129)) || ev.DeviceID != Bound(strings.Repeat("d", 400)) || len(ev.UserAgent) > MaxIDBytes {
					t.Errorf("got token %q device %q agent of %d bytes", ev.TokenID, ev.DeviceID, len(ev.UserAgent))
				}
			}},
		{"amount at the bounds", `{"event_id":"e7","type":"transaction","ts":"2026-03-01T10:00:00Z","user_id":"u1","txn":{"amount":1e15,"currency":"usd"}}`,
			func(t *testing.T, ev Event) {
				if ev.Txn.Amount != MaxAmount || ev.Txn.Currency != "USD" {
					t.Errorf("txn = %+v", ev.Txn)
				}
			}},
		{"txn on a login is checked, not kept", `{"event_id":"e8","type":"login","outcome":"success","ts":"2026-03-01T10:00:00+23:59","user_id":"u1","txn":{"amount":5,"currency":"eur"},"Device_ID":"unknown member"}`,
			func(t *testing.T, ev Event) {
				if ev.Txn != (Txn{}) || ev.DeviceID != "" || !ev.TS.Equal(time.Date(2026, 2, 28, 10, 1, 0, 0, time.UTC)) {
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
	const login = `{"type":"login","outcome":"success",` + base
	txn := func(body string) string { return `{"type":"transaction",` + base + `,"txn":{` + body + `}}` }
	tests := []struct {
		name, line, reason, field, problem string
	}{
		{"not json", `{"event_id":`, ReasonInvalidJSON, "", "unexpected end of JSON input"},
		{"not an object", `[1,2]`, ReasonInvalidJSON, "", "not a JSON object"},
		{"null", ` null`, ReasonInvalidJSON, "", "not a JSON object"},
		{"empty", ``, ReasonInvalidJSON, "", "empty message"},
		{"trailing garbage", login + `} x`, ReasonInvalidJSON, "", "after top-level value"},
		{"two objects", login + `}{}`, ReasonInvalidJSON, "", "after top-level value"},
		{"invalid UTF-8", "{\"user_id\":\"probe-\xff\"}", ReasonInvalidJSON, "user_id", "not valid UTF-8"},
		{"invalid UTF-8 in a name", "{\"u\xffser_id\":\"x\"}", ReasonInvalidJSON, "", "member name is not valid UTF-8"},
		{"invalid UTF-8 nested", "{\"app\":{\"platform\":\"\xc0\xaf\"}}", ReasonInvalidJSON, "app.platform", "not valid UTF-8"},
		{"unpaired surrogate", `{"device_id":"\ud800"}`, ReasonInvalidJSON, "device_id", "surrogate"},
		{"duplicate key", `{"user_id":"a","user_id":"b"}`, ReasonInvalidJSON, "", `duplicate key "user_id"`},
		{"duplicate nested key", `{"refresh":{"token_id":"a","token_id":"b"}}`, ReasonInvalidJSON, "refresh", `duplicate key "token_id"`},
		{"case-variant key", `{"type":"logout","token_id":"t","event_id":"e1","ts":"2026-03-01T10:00:00Z","User_ID":"u1"}`, ReasonMissingField, "user_id", ""},
		{"missing event_id", `{"type":"logout","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"t"}`, ReasonMissingField, "event_id", ""},
		{"null event_id", `{"event_id":null,"type":"logout","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"t"}`, ReasonMissingField, "event_id", ""},
		{"event_id too long", `{"event_id":"` + longID + `","type":"logout","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"t"}`, ReasonBadValue, "event_id", "129 characters, longer than 128"},
		{"user_id too long in characters", `{"type":"logout","token_id":"t","event_id":"e","ts":"2026-03-01T10:00:00Z","user_id":"` + strings.Repeat("€", 257) + `"}`, ReasonBadValue, "user_id", "257 characters"},
		{"user_id a number", `{"type":"logout","token_id":"t","event_id":"e","ts":"2026-03-01T10:00:00Z","user_id":7}`, ReasonBadValue, "user_id", "must be a JSON string or null, got number"},
		{"unknown type", `{"type":"teleport",` + base + `}`, ReasonUnknownType, "type", ""},
		{"bad ts", `{"event_id":"e1","type":"logout","ts":"yesterday","user_id":"u1","token_id":"t"}`, ReasonBadTS, "ts", "not an RFC 3339 timestamp"},
		{"year 0000", `{"event_id":"e1","type":"logout","ts":"0000-01-01T00:00:00Z","user_id":"u1","token_id":"t"}`, ReasonBadTS, "ts", "year 0000 outside 1970..9999"},
		{"year 10000", `{"event_id":"e1","type":"logout","ts":"10000-01-01T00:00:00Z","user_id":"u1","token_id":"t"}`, ReasonBadTS, "ts", "year 10000 outside"},
		{"lowercase t", `{"event_id":"e1","type":"logout","ts":"2026-03-01t10:00:00Z","user_id":"u1","token_id":"t"}`, ReasonBadTS, "ts", "upper case"},
		{"leap second", `{"event_id":"e1","type":"logout","ts":"2026-12-31T23:59:60Z","user_id":"u1","token_id":"t"}`, ReasonBadTS, "ts", "leap second"},
		{"offset 24h", `{"event_id":"e1","type":"logout","ts":"2026-03-01T10:00:00+24:00","user_id":"u1","token_id":"t"}`, ReasonBadTS, "ts", "offset"},
		{"no such day", `{"event_id":"e1","type":"logout","ts":"2026-04-31T10:00:00Z","user_id":"u1","token_id":"t"}`, ReasonBadTS, "ts", "no such day"},
		{"missing user", `{"event_id":"e1","type":"logout","ts":"2026-03-01T10:00:00Z","token_id":"t"}`, ReasonMissingField, "user_id", ""},
		{"login without outcome", `{"type":"login",` + base + `}`, ReasonMissingField, "outcome", ""},
		{"bad outcome", `{"type":"mfa","outcome":"maybe",` + base + `}`, ReasonBadValue, "outcome", ""},
		{"bad ip", `{"type":"login","outcome":"success","ip":"300.1.1.1",` + base + `}`, ReasonBadIP, "ip", ""},
		{"ip with zone", `{"type":"login","outcome":"success","ip":"fe80::1%eth0",` + base + `}`, ReasonBadIP, "ip", ""},
		{"ip leading zeros", `{"type":"login","outcome":"success","ip":"01.2.3.4",` + base + `}`, ReasonBadIP, "ip", ""},
		{"ip too long", `{"type":"login","outcome":"success","ip":"` + strings.Repeat("1", 65) + `",` + base + `}`, ReasonBadIP, "ip", "longer than 64"},
		{"ip wrong type", `{"type":"login","outcome":"success","ip":17,` + base + `}`, ReasonBadValue, "ip", ""},
		{"boolean as string", login + `,"app":{"integrity":{"rooted":"true"}}}`, ReasonBadValue, "app.integrity.rooted", "must be true, false or null, got string"},
		{"app an array", login + `,"app":[]}`, ReasonBadValue, "app", "must be a JSON object or null, got array"},
		{"bad attestation", login + `,"app":{"integrity":{"attestation":"PASS"}}}`, ReasonBadValue, "app.integrity.attestation", ""},
		{"token_use without token", `{"type":"token_use",` + base + `}`, ReasonMissingField, "token_id", ""},
		{"refresh without family", `{"type":"token_refresh","refresh":{"token_id":"r"},` + base + `}`, ReasonMissingField, "refresh.family_id", ""},
		{"transaction without txn", `{"type":"transaction",` + base + `}`, ReasonMissingField, "txn", ""},
		{"zero amount", txn(`"amount":0,"currency":"EUR"`), ReasonBadAmount, "txn.amount", ""},
		{"negative amount", txn(`"amount":-5,"currency":"EUR"`), ReasonBadAmount, "txn.amount", ""},
		{"amount as string", txn(`"amount":"12.50","currency":"EUR"`), ReasonBadAmount, "txn.amount", "must be a JSON number, got string"},
		{"amount overflows", txn(`"amount":1e400,"currency":"EUR"`), ReasonBadAmount, "txn.amount", "at most 1e15"},
		{"amount just over 1e15", txn(`"amount":1000000000000000.0000001,"currency":"EUR"`), ReasonBadAmount, "txn.amount", "at most 1e15"},
		{"amount underflows", txn(`"amount":1e-400,"currency":"EUR"`), ReasonBadAmount, "txn.amount", "at least 1e-18"},
		{"amount null", txn(`"amount":null,"currency":"EUR"`), ReasonMissingField, "txn.amount", ""},
		{"currency missing", txn(`"amount":1`), ReasonMissingField, "txn.currency", ""},
		{"currency 4 letters", txn(`"amount":1,"currency":"EURO"`), ReasonBadValue, "txn.currency", ""},
		{"currency not ASCII", txn(`"amount":1,"currency":"€UR"`), ReasonBadValue, "txn.currency", ""},
		{"string amount on a login", login + `,"txn":{"amount":"5"}}`, ReasonBadAmount, "txn.amount", ""},
		{"change without field", `{"type":"account_change","change":{},` + base + `}`, ReasonMissingField, "change.field", ""},
		{"too large", login + `,"x":"` + strings.Repeat("a", MaxEventBytes) + `"}`, ReasonTooLarge, "", "over the 1048576-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.line))
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Decode error = %v (%T), want *Error", err, err)
			}
			if e.Reason != tt.reason || e.Field != tt.field || !strings.Contains(e.Problem, tt.problem) {
				t.Errorf("got reason %q field %q (%v), want %q %q with %q", e.Reason, e.Field, e, tt.reason, tt.field, tt.problem)
			}
		})
	}
}

var longID = strings.Repeat("x", 129)

// TestDecodeKeepsNoReference overwrites the input after Decode: the event
// must not change.
func TestDecodeKeepsNoReference(t *testing.T) {
	data := []byte(`{"event_id":"e1","type":"token_refresh","ts":"2026-03-01T10:00:00Z","user_id":"u1","device_id":"d1","refresh":{"token_id":"r1","family_id":"f1"},"app":{"platform":"ios"}}`)
	ev, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := ev
	for i := range data {
		data[i] = 'X'
	}
	if ev.ID != want.ID || ev.ID != "e1" || ev.UserID != "u1" || ev.DeviceID != "d1" || ev.Refresh != (Refresh{"r1", "f1"}) || ev.App.Platform != "ios" {
		t.Errorf("event changed with its input: %+v", ev)
	}
}

// TestDecodeMessageLimit checks MaxEventBytes, the one limit the schema
// does not state: a message of exactly that size is parsed, one byte more
// is too_large.
func TestDecodeMessageLimit(t *testing.T) {
	head := `{"event_id":"e1","type":"logout","ts":"2026-03-01T10:00:00Z","user_id":"u1","token_id":"t","pad":"`
	pad := func(n int) []byte { return []byte(head + strings.Repeat("p", n-len(head)-2) + `"}`) }
	if _, err := Decode(pad(MaxEventBytes)); err != nil {
		t.Errorf("a message of exactly MaxEventBytes: %v", err)
	}
	if _, err := Decode(pad(MaxEventBytes + 1)); ReasonOf(err) != ReasonTooLarge {
		t.Errorf("a message one byte over MaxEventBytes: %v, want %s", err, ReasonTooLarge)
	}
}

// TestAmountRangeIsExact compares amounts with the bounds on the decimal
// text, as the schema validator does with rationals, not on the rounded
// float64.
func TestAmountRangeIsExact(t *testing.T) {
	zeros := strings.Repeat("0", 3000)
	tests := []struct {
		amount string
		ok     bool
	}{
		{"1e15", true}, {"10e14", true}, {"0.1e16", true}, {"1" + zeros + "e-2985", true},
		{"1000000000000000.0000001", false}, {"0.10000000000000001e16", false}, {"1" + zeros + "1e-2986", false},
		{"1e-18", true}, {"0.000000000000000001", true}, {"0.0000000000000000009999", false}, {"1e-400", false},
		{"-0.0", false}, {"0e5", false}, {"0.000", false}, {"1e999999999999999999999", false}, {"12.5", true},
		{"12345" + strings.Repeat("0", 900) + "e-900", true}, {"1" + strings.Repeat("0", 900) + "1e-896", true},
		{"0." + strings.Repeat("0", 900) + "25e901", true},
		{"1" + strings.Repeat("0", 1<<19) + "e-524273", true}, {"1" + strings.Repeat("0", 1<<19) + "e-524274", true},
		{"1" + strings.Repeat("0", 1<<19) + "e-524271", false}, {"0." + strings.Repeat("0", 1<<19) + "1e9999999999", false},
	}
	values := map[string]float64{"1" + zeros + "e-2985": 1e15, "12345" + strings.Repeat("0", 900) + "e-900": 12345,
		"1" + strings.Repeat("0", 900) + "1e-896": 1e5, "0." + strings.Repeat("0", 900) + "25e901": 2.5, "12.5": 12.5}
	for _, tt := range tests {
		line := `{"event_id":"e","type":"transaction","ts":"2026-03-01T10:00:00Z","user_id":"u","txn":{"amount":` + tt.amount + `,"currency":"EUR"}}`
		ev, err := Decode([]byte(line))
		if (err == nil) != tt.ok {
			t.Errorf("amount %.40s: accepted %v (%v), want %v", tt.amount, err == nil, err, tt.ok)
		}
		if want, ok := values[tt.amount]; ok && ev.Txn.Amount != want {
			t.Errorf("amount %.40s decoded as %v, want %v", tt.amount, ev.Txn.Amount, want)
		}
		if err == nil && !(ev.Txn.Amount >= MinAmount && ev.Txn.Amount <= MaxAmount) {
			t.Errorf("amount %.40s decoded as %v", tt.amount, ev.Txn.Amount)
		}
		if err != nil && ReasonOf(err) != ReasonBadAmount {
			t.Errorf("amount %.40s: reason %s, want %s", tt.amount, ReasonOf(err), ReasonBadAmount)
		}
	}
}
