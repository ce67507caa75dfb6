package rules

import (
	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// Env is what a rule condition can read: the event, its enrichment and the
// detectors' features. Every name here is stored in risk_features, so a
// backtest over stored rows sees exactly what the live rule saw.
type Env struct {
	Event     EventView                    `expr:"event"`
	Geo       event.Geo                    `expr:"geo"`
	Travel    *detectors.TravelFeatures    `expr:"impossible_travel"`
	Token     *detectors.TokenFeatures     `expr:"token_replay"`
	Velocity  *detectors.VelocityFeatures  `expr:"velocity"`
	Logins    *detectors.LoginFeatures     `expr:"failed_login_burst"`
	Novelty   *detectors.NoveltyFeatures   `expr:"new_device"`
	Integrity *detectors.IntegrityFeatures `expr:"device_integrity"`
	IP        *detectors.IPFeatures        `expr:"ip"`
	Network   *detectors.NetworkFeatures   `expr:"network"`
	Stream    *detectors.StreamFeatures    `expr:"stream"`
}

// EventView is the event as rules see it: flat strings and numbers.
type EventView struct {
	ID             string  `expr:"id"`               // event_id, the producer's unique id
	Type           string  `expr:"type"`             // login, mfa, token_issue, token_use, token_refresh, transaction, account_change or logout
	UserID         string  `expr:"user_id"`          // the account; for a failed login on an unknown account, the submitted username
	Outcome        string  `expr:"outcome"`          // success or failure for login and mfa, empty otherwise
	FailureReason  string  `expr:"failure_reason"`   // e.g. bad_password, unknown_user, bad_otp
	IP             string  `expr:"ip"`               // client address as the edge saw it, empty when absent
	DeviceID       string  `expr:"device_id"`        // stable app-install or device identifier
	SessionID      string  `expr:"session_id"`       // the producer's session id
	TokenID        string  `expr:"token_id"`         // access token id (its jti or a hash), for token_issue, token_use and logout
	RefreshTokenID string  `expr:"refresh_token_id"` // the refresh token presented, on token_refresh
	FamilyID       string  `expr:"family_id"`        // its rotation family, on token_refresh
	UserAgent      string  `expr:"user_agent"`       // the client's user agent
	Platform       string  `expr:"platform"`         // app platform, e.g. android or ios
	AppVersion     string  `expr:"app_version"`      // app version
	Attestation    string  `expr:"attestation"`      // platform attestation as the app reports it: pass, fail or unavailable
	Amount         float64 `expr:"amount"`           // transaction amount, in currency; 0 for other events
	Currency       string  `expr:"currency"`         // ISO 4217 code of the transaction
	BeneficiaryID  string  `expr:"beneficiary_id"`   // who receives the money
	TxnKind        string  `expr:"txn_kind"`         // the producer's kind of transaction, e.g. card or transfer
	ChangeField    string  `expr:"change_field"`     // what an account_change changed: email, phone, password, mfa or payee
	Authenticated  bool    `expr:"authenticated"`    // successful login/MFA, or any token or money event
	Sensitive      bool    `expr:"sensitive"`        // transaction or account change
}

// NewEnv builds the environment of ev and f; it keeps pointers into f.
func NewEnv(ev *event.Event, f *detectors.Features) Env {
	var ip string
	if ev.IP.IsValid() {
		ip = ev.IP.String()
	}
	return newEnv(ev, f, ip)
}

func newEnv(ev *event.Event, f *detectors.Features, ip string) Env {
	v := EventView{
		ID: ev.ID, Type: ev.Type.String(), UserID: ev.UserID, Outcome: ev.Outcome.String(),
		FailureReason: ev.FailureReason, DeviceID: ev.DeviceID, SessionID: ev.SessionID, TokenID: ev.TokenID,
		RefreshTokenID: ev.Refresh.TokenID, FamilyID: ev.Refresh.FamilyID, UserAgent: ev.UserAgent,
		Platform: ev.App.Platform, AppVersion: ev.App.Version, Attestation: ev.App.Integrity.Attestation,
		Amount: ev.Txn.Amount, Currency: ev.Txn.Currency, BeneficiaryID: ev.Txn.BeneficiaryID, TxnKind: ev.Txn.Kind,
		ChangeField: ev.Change.Field, Authenticated: ev.Authenticated(), Sensitive: ev.Sensitive(),
	}
	v.IP = ip
	return Env{
		Event: v, Geo: ev.Geo, Travel: &f.Travel, Token: &f.Token, Velocity: &f.Velocity, Logins: &f.Logins,
		Novelty: &f.Novelty, Integrity: &f.Integrity, IP: &f.IP, Network: &f.Network, Stream: &f.Stream,
	}
}
