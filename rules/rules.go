// Package rules loads the analysts' rule files, compiles their conditions
// once against a typed environment (Env), and turns the rules that fire on
// an event into at most one decision per subject and stage.
//
// A Set is immutable after Load and safe for concurrent use; reloading means
// loading a new Set and swapping the pointer. Evaluator holds per-worker
// scratch and is not safe for concurrent use.
package rules

import (
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// Stage is where a rule runs: on the user-keyed stage, or on the
// address-keyed stage when it reads ip.* features (which only exist there).
type Stage uint8

// Stages.
const (
	UserStage Stage = iota
	IPStage
)

// String names the stage.
func (s Stage) String() string {
	if s == IPStage {
		return "ip"
	}
	return "user"
}

// Rule is one compiled rule.
type Rule struct {
	ID          string
	Description string
	Detector    string
	When        string
	Action      Action
	Subject     string
	Score       float64
	Expires     time.Duration
	// ExpiresExpr, when set, computes the lifetime from the subject's
	// earlier offences (see ExpiresEnv); Expires is its base and fallback.
	ExpiresExpr string
	Mode        Mode
	Stage       Stage
	// Breaker holds the ceilings of the rule's lockouts (see Breaker).
	Breaker BreakerLimits
	File    string
	Line    int
	// Fingerprint hashes the rule's definition: a reload that changes it
	// resets the rule's breaker.
	Fingerprint string

	program *vm.Program
	expires *vm.Program
	breaker *breakerSpec
}

// Set is a loaded, validated rule set with the detector parameters that
// came with it.
type Set struct {
	Rules     []*Rule
	Detectors detectors.Config
	Policy    Policy
	Version   string   // content hash of every file read
	Files     []string // the files read, in order
}

// subjectID is the id a decision about kind carries for ev. For a token
// subject on a token_refresh event it is the refresh family, the unit that
// rotation-reuse revokes.
func subjectID(kind string, ev *event.Event) (string, bool) {
	switch kind {
	case SubjectUser:
		return ev.UserID, true
	case SubjectIP:
		if !ev.IP.IsValid() {
			return "", false
		}
		return ev.IP.String(), true
	case SubjectNetwork:
		if !ev.IP.IsValid() {
			return "", false
		}
		return detectors.NetworkOf(ev.IP).String(), true
	case SubjectDevice:
		return ev.DeviceID, ev.DeviceID != ""
	case SubjectToken:
		if ev.Type == event.TokenRefresh {
			return ev.Refresh.FamilyID, ev.Refresh.FamilyID != ""
		}
		return ev.TokenID, ev.TokenID != ""
	}
	return "", false
}
