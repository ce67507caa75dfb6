package scenario_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
)

// ev is one generated event, read back as the engine would see it.
type ev struct {
	ID, Type, User, IP, Outcome, Reason string
	TS                                  time.Time
	Amount                              float64
	Payee                               string
}

// traffic is ShapedOptions' traffic for seed 1, indexed.
type traffic struct {
	events []ev
	byID   map[string]ev
	labels scenario.Labels
}

var shapedOnce = sync.OnceValue(func() *traffic { return index(scenario.Generate(scenario.ShapedOptions())) })

func index(events []scenario.Event, labels scenario.Labels) *traffic {
	tr := &traffic{byID: map[string]ev{}, labels: labels}
	for _, e := range events {
		x := ev{ID: e["event_id"].(string), Type: e["type"].(string), User: e["user_id"].(string)}
		x.TS, _ = time.Parse(time.RFC3339, e["ts"].(string))
		x.IP, _ = e["ip"].(string)
		x.Outcome, _ = e["outcome"].(string)
		x.Reason, _ = e["failure_reason"].(string)
		if t, ok := e["txn"].(scenario.Event); ok {
			x.Amount, x.Payee = t["amount"].(float64), t["beneficiary_id"].(string)
		}
		tr.events = append(tr.events, x)
		tr.byID[x.ID] = x
	}
	return tr
}

// where returns the events that match keep.
func (tr *traffic) where(keep func(ev) bool) []ev {
	var out []ev
	for _, e := range tr.events {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func (tr *traffic) attacks(class string) []scenario.Attack {
	var out []scenario.Attack
	for _, a := range tr.labels.Attacks {
		if a.Class == class {
			out = append(out, a)
		}
	}
	return out
}

func failures(e ev) bool { return e.Type == "login" && e.Outcome == "failure" }

// maxIn is the most of evs (in time order) in any closed window of
// length w, the way the detectors count ([t-w, t]).
func maxIn(evs []ev, w time.Duration) int {
	most := 0
	for i := range evs {
		n := 0
		for j := i; j >= 0 && !evs[j].TS.Before(evs[i].TS.Add(-w)); j-- {
			n++
		}
		most = max(most, n)
	}
	return most
}

// maxUsersIn is the most distinct users of evs in any closed window of w.
func maxUsersIn(evs []ev, w time.Duration) int {
	most := 0
	for i := range evs {
		users := map[string]bool{}
		for j := i; j >= 0 && !evs[j].TS.Before(evs[i].TS.Add(-w)); j-- {
			users[evs[j].User] = true
		}
		most = max(most, len(users))
	}
	return most
}

// packLimits are the detector parameters of the shipped rule pack.
func packLimits(t *testing.T) detectors.Config {
	t.Helper()
	set, err := rules.Load(testenv.Rules)
	if err != nil {
		t.Fatal(err)
	}
	return set.Detectors
}

// TestShapedDeterministic: a seed gives the same traffic and labels every
// time, another seed other traffic, and the shaped classes change nothing
// of the default traffic but add to it.
func TestShapedDeterministic(t *testing.T) {
	gen := func(o scenario.Options) ([]byte, []byte) {
		events, labels := scenario.Generate(o)
		data, err := scenario.MarshalLines(events)
		if err != nil {
			t.Fatal(err)
		}
		lb, _ := json.Marshal(labels)
		return data, lb
	}
	a, la := gen(scenario.ShapedOptions())
	b, lb := gen(scenario.ShapedOptions())
	if !bytes.Equal(a, b) || !bytes.Equal(la, lb) {
		t.Error("seed 1 gave two different traffic files")
	}
	o := scenario.ShapedOptions()
	o.Seed = 2
	if c, _ := gen(o); bytes.Equal(a, c) {
		t.Error("seeds 1 and 2 gave the same traffic")
	}
	plain, lplain := gen(scenario.DefaultOptions())
	if bytes.Contains(lplain, []byte(`"benign":`)) || len(plain) >= len(a) {
		t.Error("the default traffic has look-alikes, or the shaped traffic is no bigger")
	}
}

// TestShapedLabels: every label names events and users the traffic has,
// ids are unique, every shaped class and look-alike is there, and the
// look-alikes' users are benign users.
func TestShapedLabels(t *testing.T) {
	tr := shapedOnce()
	users := map[string]bool{}
	for _, e := range tr.events {
		users[e.User] = true
	}
	seen := map[string]bool{}
	for _, a := range tr.labels.Attacks {
		if seen[a.ID] || len(a.Events) == 0 {
			t.Errorf("attack %s: a second label with its id, or no events", a.ID)
		}
		seen[a.ID] = true
		for _, id := range a.Events {
			if _, ok := tr.byID[id]; !ok {
				t.Errorf("attack %s: event %s is not in the traffic", a.ID, id)
			}
		}
		if a.UserID != "" && !users[a.UserID] {
			t.Errorf("attack %s: user %s has no events", a.ID, a.UserID)
		}
	}
	for _, class := range []string{"patient_brute_force", "distributed_spray", "credential_stuffing", "stuffing_takeover", "patient_payment_fraud", "brute_force", "password_spray"} {
		if len(tr.attacks(class)) == 0 {
			t.Errorf("no %s attack", class)
		}
	}
	benign := map[string]bool{}
	for _, u := range tr.labels.Benign {
		benign[u] = true
	}
	classes := map[string]int{}
	for _, l := range tr.labels.Lookalikes {
		classes[l.Class]++
		if l.Expect != scenario.ExpectAllow && l.Expect != scenario.ExpectStepUpOK {
			t.Errorf("look-alike %s: expect %q", l.ID, l.Expect)
		}
		for _, u := range l.UserIDs {
			if !users[u] || !benign[u] {
				t.Errorf("look-alike %s: user %s has no events or is not a benign user", l.ID, u)
			}
		}
	}
	want := map[string]int{"cgnat": 1, "company_vpn": 1, "forgetful_user": 10, "payroll": 5}
	for c, n := range want {
		if classes[c] != n {
			t.Errorf("%d %s look-alikes, want %d", classes[c], c, n)
		}
	}
}

// TestPatientBruteForceShape: never user_burst failures in the burst
// window, but 30 or more in 12 hours (Keycloak's default lockout), from
// one address.
func TestPatientBruteForceShape(t *testing.T) {
	tr, cfg := shapedOnce(), packLimits(t).FailedLoginBurst
	for _, a := range tr.attacks("patient_brute_force") {
		fails := tr.where(func(e ev) bool { return e.User == a.UserID && failures(e) })
		if n := maxIn(fails, time.Duration(cfg.Window)); n >= cfg.UserBurst {
			t.Errorf("%s: %d failures in %s (burst at %d)", a.ID, n, time.Duration(cfg.Window), cfg.UserBurst)
		}
		if n := maxIn(fails, 12*time.Hour); n < 30 {
			t.Errorf("%s: only %d failures in 12 hours, want 30 or more", a.ID, n)
		}
		if ips := distinct(labelled(tr, a.Events), func(e ev) string { return e.IP }); len(ips) != 1 {
			t.Errorf("%s: from %d addresses, want 1", a.ID, len(ips))
		}
	}
}

func distinct(evs []ev, key func(ev) string) []string {
	var out []string
	for _, e := range evs {
		if k := key(e); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
