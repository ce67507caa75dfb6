package ruletest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// CaseFailure is an expectation of a test case that did not hold, at the
// line of the test file that states it.
type CaseFailure struct {
	File    string
	Line    int
	Test    string
	Message string
}

// String formats f as promtool does, file:line first, so that editors
// jump to it.
func (f CaseFailure) String() string {
	return fmt.Sprintf("%s:%d: test %q: %s", f.File, f.Line, f.Test, f.Message)
}

// caseRun is what running one case produced: its failures, and the rules
// it showed firing and staying quiet, each with where the test says so.
type caseRun struct {
	failures []CaseFailure
	fired    map[string]string // rule id → file:line of the passing expect naming it
	quiet    map[string]string // rule id → file:line of the passing absent naming it
}

// run replays the case's events through an engine of its own with set and
// db, so that no case sees another's state, and checks its expectations.
func (tc *Case) run(path string, set *rules.Set, db *geoip.DB) caseRun {
	res := caseRun{fired: map[string]string{}, quiet: map[string]string{}}
	failAt := func(line int, format string, args ...any) {
		if line == 0 {
			line = tc.Line
		}
		res.failures = append(res.failures, CaseFailure{path, line, tc.Name, fmt.Sprintf(format, args...)})
	}
	var got []rules.Decision
	errs := map[string]error{} // "rule id\x00event id" → the rule's run-time error there
	eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 1024), pipeline.WithRuleErrors(func(r *rules.Rule, ev *event.Event, err error) {
		errs[r.ID+"\x00"+ev.ID] = err
	}))
	_, err := pipeline.Replay(context.Background(), pipeline.ReplayConfig{
		Engine: eng,
		Input:  strings.NewReader(tc.Events),
		Output: func(ds []rules.Decision) error { got = append(got, ds...); return nil },
		Rejected: func(line int, err error) {
			at := 0
			if tc.eventsLine > 0 {
				at = tc.eventsLine + line - 1
			}
			failAt(at, "event on line %d of events rejected: %v (fix the event: the engine refuses it too)", line, err)
		},
		// The wall clock, as in replay and run: an event dated far in
		// the future is refused here too, with the reason.
		Now: time.Now,
	})
	if err != nil {
		failAt(0, "%v", err)
		return res
	}
	// A rule that fails at run time is skipped by the engine and so
	// protects nothing; a test must not pass (or count it quiet) because
	// of that.
	for _, key := range slices.Sorted(maps.Keys(errs)) {
		id, ev, _ := strings.Cut(key, "\x00")
		failAt(0, "rule %s failed on event %s and was skipped: %v (fix its condition)", id, ev, errs[key])
	}
	for _, want := range tc.Expect {
		fail := func(format string, args ...any) { failAt(want.Line, format, args...) }
		if want.check(set, got, fail) {
			for _, r := range want.Rules {
				res.fired[r] = fmt.Sprintf("%s:%d", path, want.Line)
			}
		}
	}
	ids := eventIDs(tc.Events)
	for _, a := range tc.Absent {
		fail := func(format string, args ...any) { failAt(a.Line, format, args...) }
		if a.check(set, got, ids, errs, fail) {
			for _, r := range a.Rules {
				res.quiet[r] = fmt.Sprintf("%s:%d", path, a.Line)
			}
		}
	}
	return res
}

// eventIDs returns the event ids of the JSON Lines events; a line
// without one is left out (the engine rejects it, and that is reported).
func eventIDs(events string) map[string]bool {
	ids := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(events))
	sc.Buffer(nil, event.MaxEventBytes)
	for sc.Scan() {
		var ev struct {
			ID string `json:"event_id"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.ID != "" {
			ids[ev.ID] = true
		}
	}
	return ids
}

// failf records a failed expectation, in the manner of fmt.Printf.
type failf func(format string, args ...any)

// unknownRules reports to fail each of ids that is not a rule of set, so
// that a misspelt rule id fails rather than covering nothing, and reports
// whether all are known.
func unknownRules(set *rules.Set, ids []string, fail failf) bool {
	ok := true
	for _, id := range ids {
		if set.RuleByID(id) == nil {
			fail("rule %s is not in the rule set (its rules: %s); check the id", id, strings.Join(setIDs(set), ", "))
			ok = false
		}
	}
	return ok
}

// check reports to fail how got misses want: no decision for its event
// and subject, another action or mode, or a rule missing from the
// reasons. It reports whether want holds.
func (want *Expected) check(set *rules.Set, got []rules.Decision, fail failf) bool {
	ok := unknownRules(set, want.Rules, fail)
	kind, id, _ := strings.Cut(want.Subject, ":")
	mode := rules.Mode(want.Mode)
	if mode == "" {
		mode = rules.Enforce
	}
	i := slices.IndexFunc(got, func(d rules.Decision) bool {
		return d.EventID == want.EventID && d.Subject.Kind == kind && d.Subject.ID == id
	})
	if i < 0 {
		fail("no decision for event %s on %s; got %s", want.EventID, want.Subject, describe(got, want.EventID))
		return false
	}
	d := got[i]
	if d.Action.String() != want.Action || d.Mode != mode {
		fail("event %s on %s: got %s (%s), want %s (%s)", want.EventID, want.Subject, d.Action, d.Mode, want.Action, mode)
		ok = false
	}
	for _, r := range want.Rules {
		if !slices.ContainsFunc(d.Reasons, func(x rules.Reason) bool { return x.Rule == r }) {
			fail("event %s on %s: rule %s is not among the reasons %v", want.EventID, want.Subject, r, ruleIDs(d))
			ok = false
		}
	}
	if want.Expires != "" {
		life, err := detectors.ParseDuration(want.Expires)
		switch got := d.ExpiresAt.Sub(d.TS); {
		case err != nil:
			fail("expires: %v", err)
			ok = false
		case got != life:
			fail("event %s on %s: expires after %s, want %s", want.EventID, want.Subject, detectors.Duration(got), want.Expires)
			ok = false
		}
	}
	return ok
}

// check reports to fail a decision on a's event that a forbids, and an
// event that is not among the case's events (ids), where a would hold
// without showing anything. A rule that failed on the event (errs) did
// not stay quiet: the engine skipped it. It reports whether a holds.
func (a *Absent) check(set *rules.Set, got []rules.Decision, ids map[string]bool, errs map[string]error, fail failf) bool {
	if !ids[a.EventID] {
		fail("event %s is not among the test's events; check the id", a.EventID)
		return false
	}
	ok := unknownRules(set, a.Rules, fail)
	for _, d := range got {
		if d.EventID != a.EventID {
			continue
		}
		if len(a.Rules) == 0 && d.Action != rules.Allow {
			fail("event %s must get no decision, got %s on %s:%s by %v", a.EventID, d.Action, d.Subject.Kind, d.Subject.ID, ruleIDs(d))
			ok = false
		}
		for _, r := range a.Rules {
			if slices.ContainsFunc(d.Reasons, func(x rules.Reason) bool { return x.Rule == r }) {
				fail("event %s: rule %s must not fire, got %s on %s:%s by %v", a.EventID, r, d.Action, d.Subject.Kind, d.Subject.ID, ruleIDs(d))
				ok = false
			}
		}
	}
	for _, r := range a.Rules {
		if errs[r+"\x00"+a.EventID] != nil {
			ok = false // reported with the run's failures
		}
	}
	return ok
}

// ruleIDs returns the ids of the rules that are d's reasons.
func ruleIDs(d rules.Decision) []string {
	var ids []string
	for _, r := range d.Reasons {
		ids = append(ids, r.Rule)
	}
	return ids
}

// setIDs returns the ids of set's rules, in order.
func setIDs(set *rules.Set) []string {
	var ids []string
	for _, r := range set.Rules {
		ids = append(ids, r.ID)
	}
	return ids
}

// describe lists the decisions in ds on the event eventID, for a failure
// message, or says there are none.
func describe(ds []rules.Decision, eventID string) string {
	var s []string
	for _, d := range ds {
		if d.EventID == eventID {
			s = append(s, fmt.Sprintf("%s on %s:%s by %v", d.Action, d.Subject.Kind, d.Subject.ID, ruleIDs(d)))
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
