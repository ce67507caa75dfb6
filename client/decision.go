package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Action is what riskd asks a service to do about a subject, weakest
// first: Allow, StepUp (demand stronger authentication), Lockout (refuse
// the subject until the expiry).
type Action string

// The actions of the decision contract (§2).
const (
	Allow   Action = "allow"
	StepUp  Action = "step_up"
	Lockout Action = "lockout"
)

// Mode says whether a decision is to be acted on (Enforce) or was only
// recorded to try a rule out (Shadow).
type Mode string

// The modes of the decision contract.
const (
	Enforce Mode = "enforce"
	Shadow  Mode = "shadow"
)

// Subject is what a decision applies to: Kind is user, ip, device or
// token (or network, an optional extension), ID its identifier as riskd
// wrote it.
type Subject struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Reason is one rule that fired for a decision.
type Reason struct {
	Rule     string `json:"rule"`
	Detector string `json:"detector"`
	Summary  string `json:"summary"`
}

// Decision is the part of a riskd decision (contract §2, version 1) that
// a service enforces. Fields the client does not use (score, times of the
// event and of the decision, evidence, extensions) are not kept.
type Decision struct {
	DecisionID string    `json:"decision_id"`
	EventID    string    `json:"event_id"`
	UserID     string    `json:"user_id"`
	Subject    Subject   `json:"subject"`
	Action     Action    `json:"action"`
	ExpiresAt  time.Time `json:"-"`
	Reasons    []Reason  `json:"reasons"`
	Mode       Mode      `json:"mode"`
}

// ErrBadDecision is wrapped by every error about a decision message the
// client cannot use; the message is counted and skipped.
var ErrBadDecision = errors.New("bad decision message")

// Decode reads one decision message's value and checks the fields the
// client relies on. Unknown fields are ignored, as the contract allows.
func Decode(b []byte) (Decision, error) {
	var w struct {
		Decision
		ExpiresAt *string `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Decision{}, fmt.Errorf("%w: not a decision JSON object: %v", ErrBadDecision, err)
	}
	d := w.Decision
	switch {
	case d.DecisionID == "":
		return d, fmt.Errorf("%w: no decision_id", ErrBadDecision)
	case d.Subject.Kind == "" || d.Subject.ID == "":
		return d, fmt.Errorf("%w %s: subject needs both kind and id", ErrBadDecision, d.DecisionID)
	case d.Action != Allow && d.Action != StepUp && d.Action != Lockout:
		return d, fmt.Errorf("%w %s: unknown action %q (want allow, step_up or lockout)", ErrBadDecision, d.DecisionID, d.Action)
	case d.Mode != Enforce && d.Mode != Shadow:
		return d, fmt.Errorf("%w %s: unknown mode %q (want enforce or shadow)", ErrBadDecision, d.DecisionID, d.Mode)
	case w.ExpiresAt == nil:
		return d, fmt.Errorf("%w %s: no expires_at", ErrBadDecision, d.DecisionID)
	}
	t, err := time.Parse(time.RFC3339Nano, *w.ExpiresAt)
	if err != nil {
		return d, fmt.Errorf("%w %s: expires_at %q is not an RFC 3339 time", ErrBadDecision, d.DecisionID, *w.ExpiresAt)
	}
	d.ExpiresAt = t
	return d, nil
}
