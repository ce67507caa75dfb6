package scenario_test

import (
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/rules"
)

func decision(event, user, kind, id string, action rules.Action, detector string) rules.Decision {
	return rules.Decision{EventID: event, UserID: user, Subject: rules.Subject{Kind: kind, ID: id}, Action: action, Mode: rules.Enforce,
		Reasons: []rules.Reason{{Detector: detector}}}
}

// TestScoreSubjects: a spray's label is caught only by a decision about an
// address or a network; a takeover's by its detector or one of Also.
func TestScoreSubjects(t *testing.T) {
	spray := scenario.Attack{ID: "s", Class: "distributed_spray", Detector: "failed_login_burst", Action: "lockout", Subject: "network", Events: []string{"e1"}}
	takeover := scenario.Attack{ID: "t", Class: "stuffing_takeover", Detector: "new_device", Also: []string{"failed_login_burst"}, Action: "step_up", Subject: "user", Events: []string{"e1"}}
	tests := []struct {
		name   string
		attack scenario.Attack
		d      rules.Decision
		caught bool
	}{
		{"spray, network lockout", spray, decision("e1", "u1", "network", "5.188.10.0/24", rules.Lockout, "failed_login_burst"), true},
		{"spray, address lockout", spray, decision("e1", "u1", rules.SubjectIP, "5.188.10.2", rules.Lockout, "failed_login_burst"), true},
		{"spray, sprayed user locked", spray, decision("e1", "u1", rules.SubjectUser, "u1", rules.Lockout, "failed_login_burst"), false},
		{"spray, network step-up", spray, decision("e1", "u1", "network", "AS64750", rules.StepUp, "failed_login_burst"), false},
		{"takeover, new_device", takeover, decision("e1", "u1", rules.SubjectUser, "u1", rules.StepUp, "new_device"), true},
		{"takeover, also failed_login_burst", takeover, decision("e1", "u1", rules.SubjectUser, "u1", rules.StepUp, "failed_login_burst"), true},
		{"takeover, velocity", takeover, decision("e1", "u1", rules.SubjectUser, "u1", rules.StepUp, "velocity"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := scenario.Score(scenario.Labels{Attacks: []scenario.Attack{tt.attack}}, []rules.Decision{tt.d})
			if got := r.Caught[tt.attack.Class] == 1; got != tt.caught {
				t.Errorf("caught %v, want %v", got, tt.caught)
			}
		})
	}
}

// TestScoreLookalikes: a look-alike's outcome is the strongest enforced
// action on its users, its address or a network holding it; shadow
// decisions and other users' do not count.
func TestScoreLookalikes(t *testing.T) {
	cgnat := scenario.Lookalike{ID: "c", Class: "cgnat", UserIDs: []string{"a", "b"}, IP: "31.94.17.0/24", ASN: "AS64760", Expect: scenario.ExpectAllow}
	payroll := scenario.Lookalike{ID: "p", Class: "payroll", UserIDs: []string{"biz"}, Expect: scenario.ExpectStepUpOK}
	shadow := decision("e", "a", rules.SubjectUser, "a", rules.Lockout, "velocity")
	shadow.Mode = rules.Shadow
	tests := []struct {
		name      string
		l         scenario.Lookalike
		ds        []rules.Decision
		outcome   string
		ok        bool
		addrLock  bool
		stepped   int
		lockedOut int
	}{
		{"nothing", cgnat, nil, "allow", true, false, 0, 0},
		{"another user", cgnat, []rules.Decision{decision("e", "z", rules.SubjectUser, "z", rules.Lockout, "velocity")}, "allow", true, false, 0, 0},
		{"shadow", cgnat, []rules.Decision{shadow}, "allow", true, false, 0, 0},
		{"a user stepped up", cgnat, []rules.Decision{decision("e", "a", rules.SubjectUser, "a", rules.StepUp, "new_device")}, "step_up", false, false, 1, 0},
		{"address in the pool locked", cgnat, []rules.Decision{decision("e", "x", rules.SubjectIP, "31.94.17.2", rules.Lockout, "failed_login_burst")}, "lockout", false, true, 0, 0},
		{"address outside the pool", cgnat, []rules.Decision{decision("e", "x", rules.SubjectIP, "31.94.18.2", rules.Lockout, "failed_login_burst")}, "allow", true, false, 0, 0},
		{"its AS locked", cgnat, []rules.Decision{decision("e", "x", "network", "AS64760", rules.Lockout, "failed_login_burst")}, "lockout", false, true, 0, 0},
		{"a wider network locked", cgnat, []rules.Decision{decision("e", "x", "network", "31.94.0.0/16", rules.Lockout, "failed_login_burst")}, "lockout", false, true, 0, 0},
		{"payroll stepped up", payroll, []rules.Decision{decision("e", "biz", rules.SubjectUser, "biz", rules.StepUp, "velocity")}, "step_up", true, false, 1, 0},
		{"payroll locked", payroll, []rules.Decision{decision("e", "biz", rules.SubjectUser, "biz", rules.Lockout, "velocity")}, "lockout", false, false, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := scenario.Score(scenario.Labels{Benign: tt.l.UserIDs, Lookalikes: []scenario.Lookalike{tt.l}}, tt.ds)
			got := r.Lookalikes[0]
			want := scenario.LookalikeResult{ID: tt.l.ID, Class: tt.l.Class, Expect: tt.l.Expect, Users: len(tt.l.UserIDs), Outcome: tt.outcome,
				SteppedUp: tt.stepped, LockedOut: tt.lockedOut, AddressLocked: tt.addrLock, OK: tt.ok}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if !strings.Contains(r.String(), "benign look-alikes failing") {
				t.Errorf("report has no look-alike lines:\n%s", r)
			}
		})
	}
}

// TestScoreSteppedUp: benign users with an enforced step-up on themselves
// are counted once; a step-up of an attacked user or of an address is not.
func TestScoreSteppedUp(t *testing.T) {
	ds := []rules.Decision{
		decision("e1", "a", rules.SubjectUser, "a", rules.StepUp, "new_device"),
		decision("e2", "a", rules.SubjectUser, "a", rules.StepUp, "velocity"),
		decision("e3", "b", rules.SubjectIP, "1.2.3.4", rules.StepUp, "failed_login_burst"),
		decision("e4", "v", rules.SubjectUser, "v", rules.StepUp, "new_device"),
	}
	r := scenario.Score(scenario.Labels{Benign: []string{"a", "b"}}, ds)
	if len(r.BenignSteppedUp) != 1 || r.BenignSteppedUp[0] != "a" {
		t.Errorf("benign stepped up %v, want [a]", r.BenignSteppedUp)
	}
	if !strings.Contains(r.String(), "benign users stepped up: 1\n") || strings.Contains(r.String(), "look-alikes") {
		t.Errorf("report:\n%s", r)
	}
}
