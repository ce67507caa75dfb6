package event

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// knownReasons are the reasons an *Error from Decode may carry.
var knownReasons = map[string]bool{
	ReasonInvalidJSON: true, ReasonMissingField: true, ReasonUnknownType: true, ReasonBadTS: true,
	ReasonBadIP: true, ReasonBadAmount: true, ReasonBadValue: true, ReasonTooLarge: true,
}

// FuzzDecode feeds Decode anything: it must not panic, every error must be
// an *Error with a known reason and a bounded one-line message, and every
// accepted event must keep the decoder's promises (checkAccepted). The seeds
// are every golden line plus testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"event_id":"e","type":"transaction","ts":"2026-03-01T10:00:00Z","user_id":"u","txn":{"amount":1,"currency":"EUR"}}`))
	f.Add([]byte(`{"event_id":"e","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"u","outcome":"success","ip":"::1"}`))
	if data, err := os.ReadFile("../testdata/golden/hostile-fields/events.jsonl"); err == nil {
		for _, line := range bytes.Split(data, []byte("\n")) {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		ev, err := Decode(data)
		if err != nil {
			checkError(t, err)
			return
		}
		checkAccepted(t, &ev, len(data))
		for i := range data { // Decode must keep no reference to data
			data[i] = 'X'
		}
		if again, _ := Decode(in); !reflect.DeepEqual(ev, again) {
			t.Fatalf("decoding again gives %+v, first %+v (a reference to the input kept?)", again, ev)
		}
	})
}

// checkError checks that err is an *Error fit for a log line.
func checkError(t *testing.T, err error) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v is a %T, not an *Error", err, err)
	}
	if !knownReasons[e.Reason] || e.Problem == "" {
		t.Fatalf("error %#v: unknown reason or no problem", e)
	}
	msg := e.Error()
	if !utf8.ValidString(msg) || strings.ContainsAny(msg, "\n\r") || len(msg) > 512 {
		t.Fatalf("error message %q: not one bounded line of valid UTF-8", msg)
	}
}

// checkAccepted checks the invariants of an accepted event.
func checkAccepted(t *testing.T, ev *Event, size int) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("accepted %+v: "+format, append([]any{*ev}, args...)...)
	}
	if size > MaxEventBytes || ev.Type == TypeUnknown {
		fail("size %d or unknown type", size)
	}
	if n := utf8.RuneCountInString(ev.ID); n < 1 || n > MaxEventIDChars || !utf8.ValidString(ev.ID) {
		fail("event_id of %d characters", n)
	}
	if n := utf8.RuneCountInString(ev.UserID); n < 1 || n > MaxUserIDChars || !utf8.ValidString(ev.UserID) {
		fail("user_id of %d characters", n)
	}
	// The year as written is 1970..9999; an offset moves the instant by
	// less than a day either way.
	lo, hi := time.Date(MinYear, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(MaxYear+1, 1, 1, 0, 0, 0, 0, time.UTC)
	if ev.TS.Location() != time.UTC || ev.TS.Before(lo.Add(-24*time.Hour)) || !ev.TS.Before(hi.Add(24*time.Hour)) {
		fail("ts %v", ev.TS)
	}
	for _, s := range []string{ev.FailureReason, ev.DeviceID, ev.SessionID, ev.TokenID, ev.Refresh.TokenID,
		ev.Refresh.FamilyID, ev.UserAgent, ev.App.Platform, ev.App.Version, ev.Txn.BeneficiaryID, ev.Txn.Kind, ev.Change.Field} {
		if len(s) > MaxIDBytes || !utf8.ValidString(s) || Bound(s) != s {
			fail("unbounded or invalid %q", s)
		}
	}
	if ev.IP.IsValid() && (ev.IP.Zone() != "" || ev.IP.Is4In6()) {
		fail("ip %v", ev.IP)
	}
	switch ev.App.Integrity.Attestation {
	case "", "pass", "fail", "unavailable":
	default:
		fail("attestation")
	}
	if (ev.Type == Login || ev.Type == MFA) && ev.Outcome == OutcomeNone {
		fail("no outcome")
	}
	checkTxn(t, ev)
}

// checkTxn checks the txn of an accepted event: kept on transactions only,
// with an amount in range and an upper-case 3-letter currency.
func checkTxn(t *testing.T, ev *Event) {
	t.Helper()
	if ev.Type != Transaction {
		if ev.Txn != (Txn{}) {
			t.Fatalf("txn kept on a %s event: %+v", ev.Type, ev.Txn)
		}
		return
	}
	c := ev.Txn.Currency
	if !(ev.Txn.Amount >= MinAmount && ev.Txn.Amount <= MaxAmount) || len(c) != 3 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		t.Fatalf("accepted txn %+v", ev.Txn)
	}
}
