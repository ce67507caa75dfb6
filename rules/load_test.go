package rules

import (
	"errors"
	"strings"
	"testing"
)

const ruleKeys = "(known: id, description, detector, when, action, subject, score, expires, expires_expr, mode, breaker)"

// TestUnknownKeysEveryOne checks that every unknown key of a file, at any
// depth, is one problem at its line naming the key and the keys it could
// have been, and that the rules beside them are still compiled.
func TestUnknownKeysEveryOne(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // each problem starts with one of these, in order
	}{
		{"top level and rules", map[string]string{"a.yaml": `rules:
  - id: a
    detector: velocity
    when: velocity.fired
    action: allow
    subject: user
    thresold: 3
  - id: b
    detector: nope
    when: velocity.fired
    action: allow
    subject: user
    severity: 1
    sevrity: 2
extra: 1
`}, []string{
			`a.yaml:7: unknown key "thresold" ` + ruleKeys,
			`a.yaml:13: unknown key "severity" ` + ruleKeys,
			`a.yaml:14: unknown key "sevrity" ` + ruleKeys,
			`a.yaml:15: unknown key "extra" (known: detectors, decisions, rules)`,
			`a.yaml:8: rule "b": detector "nope" is not one of`,
		}},
		{"detector sections", map[string]string{"detectors.yaml": `detectors:
  velocity:
    count_10min: 3
  state: {max_user: 1, max_ips: many}
  nope: {}
`}, []string{
			`detectors.yaml:3: detectors: unknown key "count_10min" (known: max_entries, count_10m,`,
			`detectors.yaml:4: detectors: unknown key "max_user" (known: max_users, max_ips, max_networks, user_ttl,`,
			"detectors.yaml:4: detectors: cannot unmarshal !!str `many` into int",
			`detectors.yaml:5: detectors: unknown key "nope" (known: state, impossible_travel,`,
		}},
		{"a key under an anchor is one problem", map[string]string{"a.yaml": `rules:
  - &r {id: a, detector: velocity, when: 'true', action: allow, subject: user, bogus: 1}
  - *r
  - *r
`}, []string{
			`a.yaml:2: unknown key "bogus" ` + ruleKeys,
			`a.yaml:3: rule id "a" is already used at a.yaml:2`,
			`a.yaml:4: rule id "a" is already used at a.yaml:2`,
		}},
		{"a key that reads like yaml's message", map[string]string{"a.yaml": "rules:\n  - {id: a, detector: velocity, when: 'true', action: allow, subject: user, \"x not found in type rules.ruleSpec\": 1}\n"}, []string{
			`a.yaml:2: unknown key "x not found in type rules.ruleSpec" ` + ruleKeys,
		}},
		{"wrong types stop the rules of the file", map[string]string{"a.yaml": `rules:
  - id: a
    detector: nope
    when: velocity.fired
    action: allow
    subject: user
    score: high
    bogus: 1
`}, []string{
			"a.yaml:7: cannot unmarshal !!str `high` into float64",
			`a.yaml:8: unknown key "bogus" ` + ruleKeys,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := parse(t, tt.files)
			var le *LoadError
			if set != nil || !errors.As(err, &le) {
				t.Fatalf("want a *LoadError and no set, got %v", err)
			}
			if len(le.Problems) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(le.Problems), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(le.Problems[i], w) {
					t.Errorf("problem %d is\n  %s\nwant it to start with\n  %s", i, le.Problems[i], w)
				}
			}
		})
	}
}

// TestMergeKeys checks that yaml merge keys (<<) are read as yaml defines
// them, and that a rule merged in at the top of a file still has a line.
func TestMergeKeys(t *testing.T) {
	set, err := parse(t, map[string]string{
		"a.yaml": `rules:
  - &base
    id: a
    detector: velocity
    when: velocity.fired
    action: allow
    subject: user
  - <<: *base
    id: b
`,
		"b.yaml": "<<: {rules: [{id: c, detector: velocity, when: 'true', action: allow, subject: user}]}\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	b, c := set.RuleByID("b"), set.RuleByID("c")
	if b == nil || b.Detector != "velocity" || b.When != "velocity.fired" || b.Line != 8 {
		t.Errorf("rule b = %+v, want the fields of a and line 8", b)
	}
	if c == nil || c.File != "b.yaml" || c.Line != 1 {
		t.Errorf("rule c = %+v, want b.yaml line 1", c)
	}
}
