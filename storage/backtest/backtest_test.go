package backtest_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/storage/backtest"
)

// candidateRules copies the shipped rules to a folder and applies edit to
// the text of each file.
func candidateRules(t *testing.T, edit func(name, text string) string) *rules.Set {
	t.Helper()
	return testenv.LoadRules(t, testenv.EditedRules(t, edit, nil))
}

// TestBacktest stores the shipped traffic's features and decisions in
// ClickHouse and backtests candidate rules against them.
func TestBacktest(t *testing.T) {
	dsn, _ := chtest.DSN(t)
	conn, db := chtest.Open(t, dsn)
	fx := chtest.NewFixture(t, testenv.Path("")+"/")
	fx.Store(t, conn, db)
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	run := func(set *rules.Set) *backtest.Report {
		t.Helper()
		r, err := backtest.Run(context.Background(), backtest.Config{Conn: conn, DB: db, Rules: set, From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		r.WriteText(&b, 5)
		t.Logf("\n%s", b.String())
		return r
	}
	byRule := func(r *backtest.Report) map[string]backtest.RuleResult {
		m := map[string]backtest.RuleResult{}
		for _, x := range r.Rules {
			m[x.Rule] = x
		}
		return m
	}

	same := run(candidateRules(t, func(_, s string) string { return s }))
	if same.Events != fx.Events || same.Added+same.Removed+same.Changed != 0 || same.Stored != len(fx.DecisionIDs) {
		t.Errorf("the rules that decided, backtested: %d events (want %d), %d stored decisions (want %d), %d added, %d removed, %d changed (want none)",
			same.Events, fx.Events, same.Stored, len(fx.DecisionIDs), same.Added, same.Removed, same.Changed)
	}
	if byRule(same)["password-spray-lock-ip"].Hits == 0 {
		t.Error("no hits for the address-stage rule: the address features were not restored")
	}

	// Brute force asks for a step-up instead of a lockout; the spray rule
	// is gone.
	edited := run(candidateRules(t, func(name, s string) string {
		if name != "logins.yaml" {
			return s
		}
		s = strings.Replace(s, "when: failed_login_burst.fired && event.outcome == \"failure\"\n    action: lockout", "when: failed_login_burst.fired && event.outcome == \"failure\"\n    action: step_up", 1)
		i := strings.Index(s, "  - id: password-spray-lock-ip")
		j := strings.Index(s[i+1:], "  - id: ") + 1 // the next rule
		return s[:i] + s[i+j:]
	}))
	rs := byRule(edited)
	if _, ok := rs["password-spray-lock-ip"]; ok {
		t.Fatal("the edit did not remove the spray rule")
	}
	ipDecisions := byRule(same)["password-spray-lock-ip"].Hits
	if edited.Removed != ipDecisions {
		t.Errorf("removed %d decisions, want the %d of the deleted spray rule", edited.Removed, ipDecisions)
	}
	if rs["brute-force-lockout"].Changed == 0 {
		t.Errorf("brute-force-lockout as step_up: %+v", rs["brute-force-lockout"])
	}
	// The decisions added are repeats the changed and removed lockouts no
	// longer cover: a step-up is repeated sooner than a lockout (after half
	// its lifetime), and the patient rules decide where the lockouts in
	// force had left their repeats out.
	for id, r := range rs {
		if r.Added > 0 && id != "brute-force-lockout" && id != "patient-brute-force-lockout" && id != "patient-spray-lock-ip" {
			t.Errorf("%s added %d decisions; want only brute-force-lockout and the patient rules to", id, r.Added)
		}
	}
	if edited.Added == 0 || rs["brute-force-lockout"].Added == 0 {
		t.Errorf("added %d decisions, %d by brute-force-lockout: want its step-ups repeated", edited.Added, rs["brute-force-lockout"].Added)
	}
	if len(edited.UsersAffected) == 0 {
		t.Error("no users affected")
	}
}
