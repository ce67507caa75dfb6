package scenario_test

import (
	"testing"
	"time"

	"github.com/riskd/riskd/internal/scenario"
)

func lookalikes(tr *traffic, class string) []scenario.Lookalike {
	var out []scenario.Lookalike
	for _, l := range tr.labels.Lookalikes {
		if l.Class == class {
			out = append(out, l)
		}
	}
	return out
}

// TestSharedAddressLookalikes: the CGNAT pool and the VPN egress each
// carry a hundred users or more, some of them mistyping, while their
// failure ratio stays far under a spray's.
func TestSharedAddressLookalikes(t *testing.T) {
	tr, cfg := shapedOnce(), packLimits(t).FailedLoginBurst
	for _, class := range []string{"cgnat", "company_vpn"} {
		for _, l := range lookalikes(tr, class) {
			where, ok := prefixOf(l.IP)
			if !ok {
				t.Fatalf("%s: address %q", l.ID, l.IP)
			}
			logins := tr.where(func(e ev) bool { return e.Type == "login" && e.IP != "" && where.Contains(mustAddr(e.IP)) })
			users := distinct(logins, func(e ev) string { return e.User })
			fails := tr.where(func(e ev) bool { return failures(e) && e.IP != "" && where.Contains(mustAddr(e.IP)) })
			if len(users) < 100 || len(fails) == 0 || float64(len(fails)) >= cfg.SprayFailureRatio*float64(len(logins))/2 {
				t.Errorf("%s: %d users, %d failures of %d logins; want 100 or more users, some typos, a low failure ratio", l.ID, len(users), len(fails), len(logins))
			}
		}
	}
}

// TestForgetfulLookalikes: about a dozen failures over the day, never a
// burst, then a success.
func TestForgetfulLookalikes(t *testing.T) {
	tr, cfg := shapedOnce(), packLimits(t).FailedLoginBurst
	for _, l := range lookalikes(tr, "forgetful_user") {
		logins := tr.where(func(e ev) bool { return e.User == l.UserIDs[0] && e.Type == "login" })
		last := logins[len(logins)-1]
		fails := tr.where(func(e ev) bool {
			return e.User == l.UserIDs[0] && failures(e) && e.TS.After(last.TS.Add(-24*time.Hour))
		})
		if len(fails) < 8 || maxIn(fails, time.Duration(cfg.Window)) >= cfg.UserBurst || last.Outcome != "success" {
			t.Errorf("%s: %d failures in the last day (most %d in %s), last login %s; want 8 or more, under the burst, then a success",
				l.ID, len(fails), maxIn(fails, time.Duration(cfg.Window)), time.Duration(cfg.Window), last.Outcome)
		}
	}
}

// TestPayrollLookalikes: the same staff paid in four months, never 10
// payments in 10 minutes (velocity-extreme-lockout's count_10m >= 10).
func TestPayrollLookalikes(t *testing.T) {
	tr := shapedOnce()
	for _, l := range lookalikes(tr, "payroll") {
		txns := tr.where(func(e ev) bool { return e.User == l.UserIDs[0] && e.Type == "transaction" })
		months := map[string]map[time.Month]bool{}
		for _, x := range txns {
			if months[x.Payee] == nil {
				months[x.Payee] = map[time.Month]bool{}
			}
			months[x.Payee][x.TS.Month()] = true
		}
		monthly := 0
		for _, ms := range months {
			if len(ms) == 4 {
				monthly++
			}
		}
		if monthly < 12 || maxIn(txns, 10*time.Minute) >= 10 {
			t.Errorf("%s: %d payees paid in each of four months, %d payments in 10 minutes; want 12 or more, under 10", l.ID, monthly, maxIn(txns, 10*time.Minute))
		}
	}
}
