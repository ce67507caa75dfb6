package client

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	const good = `{"decision_id":"d1","event_id":"e1","user_id":"alice","subject":{"kind":"user","id":"alice"},"action":"lockout","score":80,` +
		`"ts":"2026-03-01T09:14:00.000Z","decided_at":"2026-03-01T09:14:00.100Z","expires_at":"2026-03-01T09:29:00.000Z",` +
		`"reasons":[{"rule":"brute-force-lockout","detector":"failed_login_burst","summary":"5 failed","evidence":{"failures":5}}],` +
		`"mode":"enforce","rules_version":"51a80acc772d","breaker":{"future":"extension"}}`
	d, err := Decode([]byte(good))
	want := Decision{DecisionID: "d1", EventID: "e1", UserID: "alice", Subject: Subject{"user", "alice"}, Action: Lockout, Mode: Enforce,
		ExpiresAt: time.Date(2026, 3, 1, 9, 29, 0, 0, time.UTC), Reasons: []Reason{{"brute-force-lockout", "failed_login_burst", "5 failed"}}}
	if err != nil || d.DecisionID != want.DecisionID || d.Subject != want.Subject || d.Action != want.Action || d.Mode != want.Mode ||
		!d.ExpiresAt.Equal(want.ExpiresAt) || len(d.Reasons) != 1 || d.Reasons[0] != want.Reasons[0] || d.UserID != want.UserID {
		t.Fatalf("Decode = %+v, %v; want %+v", d, err, want)
	}
	for _, tc := range []struct{ name, in, msg string }{
		{"not JSON", `lockout alice`, "not a decision JSON object"},
		{"an array", `[1]`, "not a decision JSON object"},
		{"no decision_id", strings.Replace(good, `"decision_id":"d1",`, "", 1), "no decision_id"},
		{"no subject", strings.Replace(good, `"subject":{"kind":"user","id":"alice"},`, "", 1), "subject needs both kind and id"},
		{"empty subject id", strings.Replace(good, `"id":"alice"`, `"id":""`, 1), "subject needs both kind and id"},
		{"unknown action", strings.Replace(good, `"action":"lockout"`, `"action":"ban"`, 1), `unknown action "ban"`},
		{"no action", strings.Replace(good, `"action":"lockout",`, "", 1), `unknown action ""`},
		{"unknown mode", strings.Replace(good, `"mode":"enforce"`, `"mode":"maybe"`, 1), `unknown mode "maybe"`},
		{"no expires_at", strings.Replace(good, `"expires_at":"2026-03-01T09:29:00.000Z",`, "", 1), "no expires_at"},
		{"bad expires_at", strings.Replace(good, `"expires_at":"2026-03-01T09:29:00.000Z"`, `"expires_at":"tomorrow"`, 1), `expires_at "tomorrow" is not an RFC 3339 time`},
		{"wrong type", strings.Replace(good, `"action":"lockout"`, `"action":3`, 1), "not a decision JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if !errors.Is(err, ErrBadDecision) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Decode error %v, want ErrBadDecision saying %q", err, tc.msg)
			}
		})
	}
}

// TestDecodeGolden decodes every decision riskd writes in the golden cases:
// the client reads what the engine writes.
func TestDecodeGolden(t *testing.T) {
	files, err := filepath.Glob("../testdata/golden/*/expected.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden decisions found (%v): run from the client folder", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if d, err := Decode(line); err != nil || d.ExpiresAt.IsZero() || len(d.Reasons) == 0 {
				t.Errorf("%s:%d: Decode = %+v, %v", name, i+1, d, err)
			}
		}
	}
}
