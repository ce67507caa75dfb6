package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Action is what a decision asks the enforcing service to do, weakest first.
type Action uint8

// Actions of contract §2.
const (
	Allow Action = iota
	StepUp
	Lockout
)

var actionNames = [...]string{"allow", "step_up", "lockout"}

// String returns the contract name of a.
func (a Action) String() string { return actionNames[a] }

// MarshalText writes the contract name.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads the contract name.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	*a = v
	return err
}

// ParseAction reads an action name.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), nil
		}
	}
	return Allow, fmt.Errorf("unknown action %q: want allow, step_up or lockout", s)
}

// Mode says whether a decision is to be enforced or only recorded.
type Mode string

// Modes of contract §2.
const (
	Enforce Mode = "enforce"
	Shadow  Mode = "shadow"
)

// Subject kinds of contract §2.
const (
	SubjectUser   = "user"
	SubjectIP     = "ip"
	SubjectDevice = "device"
	SubjectToken  = "token"
	// SubjectNetwork is the optional extension of contract §2: a decision
	// against a whole network, its IPv4 /24 or IPv6 /48 in CIDR form.
	SubjectNetwork = "network"
)

// Subject is what a decision applies to.
type Subject struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Reason is one fired rule and its evidence. Mode, Action, Score and
// Evidence extend the contract's {rule, detector, summary}. Mode is the
// mode the rule decided in: shadow for an enforced rule the lockout
// breaker demoted (the decision's Breaker says why).
type Reason struct {
	Rule     string  `json:"rule"`
	Detector string  `json:"detector"`
	Summary  string  `json:"summary"`
	Mode     Mode    `json:"mode"`
	Action   Action  `json:"action"`
	Score    float64 `json:"score"`
	Evidence any     `json:"evidence,omitempty"`
}

// Demoted is a rule of a decision that the lockout breaker demoted to
// shadow: the contract's optional `breaker` field lists them.
type Demoted struct {
	Rule  string    `json:"rule"`
	Why   string    `json:"why"`   // the ceiling it passed, with the counts
	Since time.Time `json:"since"` // event time of the lockout that tripped it
}

// Decision is one risk decision (contract §2).
type Decision struct {
	DecisionID   string
	EventID      string
	UserID       string
	Subject      Subject
	Action       Action
	Score        float64
	TS           time.Time
	DecidedAt    time.Time
	ExpiresAt    time.Time
	Reasons      []Reason
	Mode         Mode
	RulesVersion string
	// Breaker lists the rules of Reasons the lockout breaker demoted to
	// shadow (an extension of contract §2); empty when none was.
	Breaker []Demoted
}

// TimeFormat is RFC 3339 with milliseconds, as decisions are written.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

type wireDecision struct {
	DecisionID   string    `json:"decision_id"`
	EventID      string    `json:"event_id"`
	UserID       string    `json:"user_id"`
	Subject      Subject   `json:"subject"`
	Action       Action    `json:"action"`
	Score        float64   `json:"score"`
	TS           string    `json:"ts"`
	DecidedAt    string    `json:"decided_at"`
	ExpiresAt    string    `json:"expires_at"`
	Reasons      []Reason  `json:"reasons"`
	Mode         Mode      `json:"mode"`
	RulesVersion string    `json:"rules_version"`
	Breaker      []Demoted `json:"breaker,omitempty"`
}

// MarshalJSON writes the contract §2 object.
func (d Decision) MarshalJSON() ([]byte, error) {
	reasons := d.Reasons
	if reasons == nil {
		reasons = []Reason{}
	}
	return json.Marshal(wireDecision{
		DecisionID: d.DecisionID, EventID: d.EventID, UserID: d.UserID, Subject: d.Subject, Action: d.Action,
		Score: d.Score, TS: d.TS.UTC().Format(TimeFormat), DecidedAt: d.DecidedAt.UTC().Format(TimeFormat),
		ExpiresAt: d.ExpiresAt.UTC().Format(TimeFormat), Reasons: reasons, Mode: d.Mode, RulesVersion: d.RulesVersion,
		Breaker: d.Breaker,
	})
}

// UnmarshalJSON reads the contract §2 object (evidence stays generic).
func (d *Decision) UnmarshalJSON(b []byte) error {
	var w wireDecision
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = Decision{DecisionID: w.DecisionID, EventID: w.EventID, UserID: w.UserID, Subject: w.Subject, Action: w.Action,
		Score: w.Score, Reasons: w.Reasons, Mode: w.Mode, RulesVersion: w.RulesVersion, Breaker: w.Breaker}
	for _, t := range []struct {
		s   string
		dst *time.Time
	}{{w.TS, &d.TS}, {w.DecidedAt, &d.DecidedAt}, {w.ExpiresAt, &d.ExpiresAt}} {
		v, err := time.Parse(time.RFC3339Nano, t.s)
		if err != nil {
			return fmt.Errorf("decision %s: %w", w.DecisionID, err)
		}
		*t.dst = v
	}
	return nil
}

// DecisionID derives a decision's id from the event id, the subject, the
// rules version, the stage that decided and what was decided (action, mode,
// expiry and the rules that fired). A redelivered event decided the same way
// yields the same id, two stages never share one, and an event decided again
// differently (after state was lost, say) gets a new id: consumers that
// deduplicate on the id never keep a stale decision in place of a new one.
func DecisionID(d *Decision, stage Stage) string {
	h := sha256.New()
	for _, part := range []string{d.EventID, d.Subject.Kind, d.Subject.ID, d.RulesVersion} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	if stage != UserStage {
		h.Write([]byte(stage.String()))
	}
	// The content is hashed after the fields above so that the ids of
	// decisions with no content of their own would still differ by event.
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(d.ExpiresAt.UnixNano()))
	h.Write([]byte{1, byte(d.Action)})
	h.Write([]byte(d.Mode))
	h.Write([]byte{0})
	h.Write(buf[:])
	for _, r := range d.Reasons {
		h.Write([]byte(r.Rule))
		h.Write([]byte{0})
		h.Write([]byte(r.Mode))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
