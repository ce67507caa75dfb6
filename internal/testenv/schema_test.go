package testenv_test

import (
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/testenv"
)

// decisionLine is a valid contract §2 decision with edit applied to its
// text (a strings.Replacer's pairs).
func decisionLine(edit ...string) []byte {
	const base = `{"decision_id":"d1","event_id":"e1","user_id":"carol","subject":{"kind":"user","id":"carol"},` +
		`"action":"step_up","score":60,"ts":"2026-03-01T11:00:00.000Z","decided_at":"2026-11-01T00:00:00.000Z",` +
		`"expires_at":"2026-03-01T12:00:00.000Z","reasons":[{"rule":"r","detector":"token_replay","summary":"s"}],` +
		`"mode":"enforce","rules_version":"51a80acc772d"}`
	return []byte(strings.NewReplacer(edit...).Replace(base))
}

// TestDecisionSchema checks testdata/schema/decision.v1.schema.json
// against contract §2: what the contract allows (its optional extensions
// included) validates, and what it rules out fails at the field that is
// wrong.
func TestDecisionSchema(t *testing.T) {
	sch := testenv.DecisionSchema(t)
	network := func(id string) []string {
		return []string{`"subject":{"kind":"user","id":"carol"}`, `"subject":{"kind":"network","id":"` + id + `"}`}
	}
	for _, tt := range []struct {
		name string
		line []byte
		want string // in the failure (its instance location), "" when valid
	}{
		{"contract decision", decisionLine(), ""},
		{"shadow lockout of a device", decisionLine(`"mode":"enforce"`, `"mode":"shadow"`, `"step_up"`, `"lockout"`, `"kind":"user","id":"carol"`, `"kind":"device","id":"dev-1"`), ""},
		{"network /24", decisionLine(network("81.2.69.0/24")...), ""},
		{"network /48", decisionLine(network("2a01:e00:1::/48")...), ""},
		{"network AS", decisionLine(network("AS64496")...), ""},
		{"breaker extension", decisionLine(`"rules_version"`, `"breaker":[{"rule":"r","why":"4 lockouts in one minute","since":"2026-03-01T11:00:00Z"}],"rules_version"`), ""},
		{"breaker without why", decisionLine(`"rules_version"`, `"breaker":[{"rule":"r","since":"2026-03-01T11:00:00Z"}],"rules_version"`), "/breaker/0"},
		{"unknown field ignored", decisionLine(`"mode"`, `"x-next":[1],"mode"`), ""},
		{"network address not a prefix", decisionLine(network("81.2.69.142")...), "at '/subject/id'"},
		{"network /16", decisionLine(network("81.2.0.0/16")...), "at '/subject/id'"},
		{"unknown subject kind", decisionLine(`"kind":"user"`, `"kind":"planet"`), "at '/subject/kind'"},
		{"unknown action", decisionLine(`"step_up"`, `"block"`), "at '/action'"},
		{"score over 100", decisionLine(`"score":60`, `"score":101`), "at '/score'"},
		{"ts not RFC 3339", decisionLine(`"ts":"2026-03-01T11:00:00.000Z"`, `"ts":"yesterday"`), "at '/ts'"},
		{"expires_at missing", decisionLine(`"expires_at":"2026-03-01T12:00:00.000Z",`, ``), "missing property 'expires_at'"},
		{"unknown detector", decisionLine(`"token_replay"`, `"magic"`), "at '/reasons/0/detector'"},
		{"unknown mode", decisionLine(`"mode":"enforce"`, `"mode":"dry-run"`), "at '/mode'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			why := testenv.Validate(sch, tt.line)
			switch {
			case tt.want == "" && why != "":
				t.Errorf("refused: %s", why)
			case tt.want != "" && !strings.Contains(why, tt.want):
				t.Errorf("got %q, want a failure %s", why, tt.want)
			}
		})
	}
}
