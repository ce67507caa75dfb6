package rules

import (
	"testing"
	"time"
)

// TestDecisionIDNamesOneDecision holds the id's two promises: the same
// decision of the same event always has the same id (redelivery is
// idempotent), and any change in what was decided gives a new id, so a
// consumer deduplicating on it never keeps a stale decision.
func TestDecisionIDNamesOneDecision(t *testing.T) {
	ts := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	base := func() Decision {
		return Decision{
			EventID: "e1", UserID: "alice", Subject: Subject{SubjectUser, "alice"}, Action: StepUp,
			TS: ts, ExpiresAt: ts.Add(time.Hour), Mode: Enforce, RulesVersion: "v1",
			Reasons: []Reason{{Rule: "new-device", Mode: Enforce}},
		}
	}
	ref := base()
	id := DecisionID(&ref, UserStage)
	again := base()
	again.DecidedAt = ts.Add(time.Minute) // wall clock is not part of the decision
	again.Score = 50                      // follows from the rules, which are hashed
	if got := DecisionID(&again, UserStage); got != id {
		t.Fatalf("same decision, different id: %s and %s", id, got)
	}
	changes := []struct {
		name  string
		stage Stage
		edit  func(*Decision)
	}{
		{"event", UserStage, func(d *Decision) { d.EventID = "e2" }},
		{"subject kind", UserStage, func(d *Decision) { d.Subject.Kind = SubjectDevice }},
		{"subject id", UserStage, func(d *Decision) { d.Subject.ID = "bob" }},
		{"rules version", UserStage, func(d *Decision) { d.RulesVersion = "v2" }},
		{"stage", IPStage, func(d *Decision) {}},
		{"action", UserStage, func(d *Decision) { d.Action = Allow }},
		{"mode", UserStage, func(d *Decision) { d.Mode = Shadow }},
		{"expiry", UserStage, func(d *Decision) { d.ExpiresAt = ts.Add(2 * time.Hour) }},
		{"no reasons", UserStage, func(d *Decision) { d.Reasons = nil }},
		{"other rule", UserStage, func(d *Decision) { d.Reasons[0].Rule = "new-country" }},
		{"rule mode", UserStage, func(d *Decision) { d.Reasons[0].Mode = Shadow }},
		{"extra rule", UserStage, func(d *Decision) { d.Reasons = append(d.Reasons, Reason{Rule: "x", Mode: Enforce}) }},
	}
	seen := map[string]string{id: "reference"}
	for _, c := range changes {
		d := base()
		c.edit(&d)
		got := DecisionID(&d, c.stage)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: id %s already names %s", c.name, got, prev)
		}
		seen[got] = c.name
	}
}
