package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

func parse(t *testing.T, files map[string]string) (*Set, error) {
	t.Helper()
	var paths []string
	src := map[string][]byte{}
	for _, name := range []string{"a.yaml", "b.yaml", "detectors.yaml"} {
		if s, ok := files[name]; ok {
			paths = append(paths, name)
			src[name] = []byte(s)
		}
	}
	return Parse(paths, src)
}

func TestShippedRulesLoad(t *testing.T) {
	set, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) == 0 || len(set.Version) != 12 {
		t.Fatalf("rules=%d version=%q", len(set.Rules), set.Version)
	}
	if r := set.RuleByID("password-spray-lock-ip"); r == nil || r.Stage != IPStage || r.Subject != SubjectIP {
		t.Errorf("the spray rule must run on the ip stage and lock the address: %+v", r)
	}
	disk, err := Load("pack")
	if err != nil {
		t.Fatal(err)
	}
	if disk.Version != set.Version {
		t.Errorf("embedded pack %s differs from rules/ on disk %s", set.Version, disk.Version)
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	const good = `
rules:
  - id: ok
    detector: velocity
    when: velocity.fired
    action: step_up
    subject: user
    score: 10
    expires: 1h
`
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"bad expression", map[string]string{"a.yaml": good + `
  - id: broken
    detector: velocity
    when: velocity.count_1h >
    action: step_up
    subject: user
    expires: 1h
`}, []string{`a.yaml:11: rule "broken": when`}},
		{"unknown feature", map[string]string{"a.yaml": `rules:
  - id: typo
    detector: velocity
    when: velocity.cuont_1h > 3
    action: step_up
    subject: user
    expires: 1h
`}, []string{`a.yaml:2: rule "typo"`, "cuont_1h"}},
		{"unknown key, action and subject", map[string]string{"a.yaml": `rules:
  - id: x
    detector: nope
    when: true
    action: ban
    subject: planet
    expires: 1h
    severity: 3
`}, []string{`a.yaml:8: unknown key "severity"`, `detector "nope"`, `unknown action "ban"`, `subject "planet"`}},
		{"duplicate id across files", map[string]string{"a.yaml": good, "b.yaml": good}, []string{`b.yaml:3: rule id "ok" is already used at a.yaml:3`}},
		{"missing expiry on lockout", map[string]string{"a.yaml": strings.Replace(good, "    expires: 1h\n", "", 1)}, []string{"expires is required"}},
		{"misspelt detector parameter", map[string]string{"a.yaml": good, "detectors.yaml": "detectors:\n  velocity:\n    count_10min: 3\n"}, []string{`detectors.yaml:3: detectors: unknown key "count_10min"`}},
		{"invalid detector parameter", map[string]string{"a.yaml": good, "detectors.yaml": "detectors:\n  failed_login_burst:\n    user_burst: 0\n"}, []string{"failed_login_burst.user_burst"}},
		{"bad duration", map[string]string{"a.yaml": good, "detectors.yaml": "detectors:\n  state:\n    user_ttl: forever\n"}, []string{"detectors.yaml:3: ", "forever"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := parse(t, tt.files)
			if err == nil {
				t.Fatalf("loaded %d rules, want an error", len(set.Rules))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestDetectorParametersOverrideDefaults(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": "rules: []\n", "detectors.yaml": "detectors:\n  velocity:\n    count_10m: 3\n"})
	if err != nil {
		t.Fatal(err)
	}
	def := detectors.Defaults()
	if set.Detectors.Velocity.Count10m != 3 || set.Detectors.Velocity.Count1h != def.Velocity.Count1h {
		t.Errorf("velocity = %+v", set.Detectors.Velocity)
	}
}

func TestEvaluateCombinesPerSubject(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": `rules:
  - id: lock-token
    detector: token_replay
    when: token_replay.fired
    action: lockout
    subject: token
    score: 90
    expires: 1d
  - id: step-user
    detector: token_replay
    when: token_replay.fired
    action: step_up
    subject: user
    score: 50
    expires: 1h
  - id: integrity-user
    detector: device_integrity
    when: device_integrity.fired
    action: step_up
    subject: user
    score: 50
    expires: 2h
  - id: shadow-lock-user
    detector: device_integrity
    when: device_integrity.hooked
    action: lockout
    subject: user
    score: 10
    expires: 3h
    mode: shadow
`})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := &event.Event{ID: "e1", Type: event.TokenUse, TS: ts, UserID: "alice", TokenID: "tok"}
	f := &detectors.Features{}
	f.Token.Fired, f.Token.Summary, f.Token.DeviceMismatch = true, "token_use: device mismatch", true
	f.Integrity.Fired, f.Integrity.Rooted = true, true
	var e Evaluator
	ds := e.Evaluate(set, UserStage, ev, f, false, ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Fatalf("got %d decisions, want one for the user and one for the token: %+v", len(ds), ds)
	}
	u, tok := ds[0], ds[1]
	if u.Subject != (Subject{SubjectUser, "alice"}) || u.Action != StepUp || u.Mode != Enforce || len(u.Reasons) != 2 {
		t.Errorf("user decision %+v", u)
	}
	if u.Score != 75 || !u.ExpiresAt.Equal(ts.Add(2*time.Hour)) {
		t.Errorf("score %v expires %v, want 75 (1-(0.5*0.5)) and the longest step_up expiry", u.Score, u.ExpiresAt)
	}
	if tok.Subject != (Subject{SubjectToken, "tok"}) || tok.Action != Lockout || tok.Reasons[0].Summary != "token_use: device mismatch" {
		t.Errorf("token decision %+v", tok)
	}
	again := e.Evaluate(set, UserStage, ev, f, false, ts.Add(time.Hour), nil)
	if again[0].DecisionID != u.DecisionID || again[1].DecisionID != tok.DecisionID {
		t.Errorf("decision ids are not deterministic")
	}

	t.Run("a shadow rule asking for more leaves the enforced decision in force", func(t *testing.T) {
		f := &detectors.Features{}
		f.Integrity.Fired, f.Integrity.Hooked = true, true
		ds := e.Evaluate(set, UserStage, ev, f, false, ts, nil)
		if len(ds) != 1 || ds[0].Mode != Enforce || ds[0].Action != StepUp || len(ds[0].Reasons) != 2 || ds[0].Reasons[1].Mode != Shadow {
			t.Errorf("got %+v", ds)
		}
	})
	t.Run("a shadow rule alone makes a shadow decision", func(t *testing.T) {
		set, err := parse(t, map[string]string{"a.yaml": strings.Replace(lockRule, "score: 80", "score: 80\n    mode: shadow", 1)})
		if err != nil {
			t.Fatal(err)
		}
		f := &detectors.Features{}
		f.Logins.Fired = true
		ds := e.Evaluate(set, UserStage, ev, f, false, ts, nil)
		if len(ds) != 1 || ds[0].Mode != Shadow || ds[0].Action != Lockout {
			t.Errorf("got %+v", ds)
		}
	})
	t.Run("emit all gives an allow decision", func(t *testing.T) {
		ds := e.Evaluate(set, UserStage, ev, &detectors.Features{}, true, ts, nil)
		if len(ds) != 1 || ds[0].Action != Allow || !ds[0].ExpiresAt.Equal(ts) {
			t.Errorf("got %+v", ds)
		}
	})
}

func TestDecisionJSON(t *testing.T) {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC)
	d := Decision{DecisionID: "d", EventID: "e", UserID: "u", Subject: Subject{"user", "u"}, Action: StepUp, Score: 70,
		TS: ts, DecidedAt: ts, ExpiresAt: ts.Add(time.Hour), Mode: Enforce, RulesVersion: "v",
		Reasons: []Reason{{Rule: "r", Detector: "velocity", Summary: "s", Mode: Enforce, Action: StepUp, Score: 70}}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"action":"step_up"`, `"ts":"2026-03-01T12:00:00.123Z"`, `"expires_at":"2026-03-01T13:00:00.123Z"`, `"subject":{"kind":"user","id":"u"}`, `"reasons":[{"rule":"r","detector":"velocity","summary":"s"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back Decision
	if err := json.Unmarshal(b, &back); err != nil || back.Action != StepUp || !back.ExpiresAt.Equal(d.ExpiresAt) {
		t.Errorf("round trip: %v %+v", err, back)
	}
}
