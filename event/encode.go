package event

import (
	"encoding/json"
	"strconv"
	"time"
)

// Encode returns e as a contract-v1 JSON object that Decode reads back to
// the same event: the fields riskd keeps, each already bounded (see
// Bound), and no unknown members. The stages forward it in place of the
// original bytes when those are large: an attacker who pads his login
// attempt with a megabyte of unknown members must not push the messages
// that carry it past the broker's size limit, out of the address stage's
// sight.
func Encode(e *Event) []byte {
	w := map[string]any{"event_id": e.ID, "type": e.Type.String(), "ts": e.TS.UTC().Format(time.RFC3339Nano), "user_id": e.UserID}
	put := func(k, v string) {
		if v != "" {
			w[k] = v
		}
	}
	put("outcome", e.Outcome.String())
	put("failure_reason", e.FailureReason)
	if e.IP.IsValid() {
		w["ip"] = e.IP.String()
	}
	put("device_id", e.DeviceID)
	put("session_id", e.SessionID)
	put("token_id", e.TokenID)
	put("user_agent", e.UserAgent)
	if e.Refresh != (Refresh{}) {
		w["refresh"] = e.Refresh
	}
	if e.App != (App{}) {
		w["app"] = e.App
	}
	if e.Type == Transaction {
		txn := map[string]any{"amount": json.Number(strconv.FormatFloat(e.Txn.Amount, 'f', -1, 64)), "currency": e.Txn.Currency}
		if e.Txn.BeneficiaryID != "" {
			txn["beneficiary_id"] = e.Txn.BeneficiaryID
		}
		if e.Txn.Kind != "" {
			txn["kind"] = e.Txn.Kind
		}
		w["txn"] = txn
	}
	if e.Change != (Change{}) {
		w["change"] = e.Change
	}
	b, _ := json.Marshal(w) // strings, numbers and plain structs: cannot fail
	return b
}
