// Package ruletest runs analysts' checks of a rule set through the engine:
// rule unit-test files (`riskd rules test`, the model being `promtool
// test rules`) and the sample run of `riskd rules check` that catches
// conditions that fail at run time.
package ruletest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// File is a rules unit-test file, the model being `promtool test
// rules`: events go in, the decisions that must (and must not) come out are
// listed.
//
//	rules: ../          # rule folder, relative to this file; default: the shipped pack
//	geoip_city: ../../testdata/geoip/riskd-test-City.mmdb
//	tests:
//	  - name: brute force locks the user
//	    events: |
//	      {"event_id":"a1","type":"login",...}
//	    expect:
//	      - {event_id: a5, subject: "user:alice", action: lockout, rules: [brute-force-lockout]}
//	    absent: [a1, a2]  # events that must get no decision other than allow
type File struct {
	Rules     string `yaml:"rules"`
	GeoIPCity string `yaml:"geoip_city"`
	GeoIPASN  string `yaml:"geoip_asn"`
	Tests     []Case `yaml:"tests"`
}

// Case is one test of a File: its events, and the decisions they must
// and must not get.
type Case struct {
	Name   string     `yaml:"name"`
	Events string     `yaml:"events"`
	Expect []Expected `yaml:"expect"`
	Absent []string   `yaml:"absent"`
}

// Expected is a decision that a Case's events must get.
type Expected struct {
	EventID string   `yaml:"event_id"`
	Subject string   `yaml:"subject"` // kind:id
	Action  string   `yaml:"action"`
	Mode    string   `yaml:"mode"`  // default enforce
	Rules   []string `yaml:"rules"` // must all be among the reasons
}

// Run runs the tests of the file at path and returns one line per failed
// expectation (none when all pass) and how many tests ran.
func Run(path string) (failures []string, ran int, err error) {
	f, err := readFile(path)
	if err != nil {
		return nil, 0, err
	}
	set, db, err := f.open(path)
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	for _, tc := range f.Tests {
		ran++
		failures = append(failures, tc.run(path, set, db)...)
	}
	return failures, ran, nil
}

// readFile reads and decodes the test file at path. Unknown fields are
// errors, so that a misspelt expectation is not silently skipped.
func readFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// open loads the rules and the GeoIP databases that f, read from path,
// names. A GeoIP database that cannot be read is an error here, unlike in
// the engine, so that a wrong path is reported as such rather than as
// failed expectations.
func (f *File) open(path string) (*rules.Set, *geoip.DB, error) {
	// Paths in the file are relative to it, not to the working directory.
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	var set *rules.Set
	var err error
	if f.Rules == "" {
		set, err = rules.Shipped()
	} else {
		set, err = rules.Load(rel(f.Rules))
	}
	if err != nil {
		return nil, nil, err
	}
	db, warns := geoip.Open(rel(f.GeoIPCity), rel(f.GeoIPASN))
	if len(warns) > 0 {
		return nil, nil, fmt.Errorf("%s: %v", path, warns[0])
	}
	return set, db, nil
}

// failf records a failed expectation, in the manner of fmt.Printf.
type failf func(format string, args ...any)

// run replays the case's events through an engine of its own with set and
// db, so that no case sees another's state, and returns one line per failed expectation, each naming the file
// path and the case.
func (tc *Case) run(path string, set *rules.Set, db *geoip.DB) []string {
	var failures []string
	fail := func(format string, args ...any) {
		failures = append(failures, fmt.Sprintf("%s: %s: %s", path, tc.Name, fmt.Sprintf(format, args...)))
	}
	var got []rules.Decision
	_, err := pipeline.Replay(context.Background(), pipeline.ReplayConfig{
		Engine:   pipeline.NewEngine(set, pipeline.WithGeoCache(db, 1024)),
		Input:    strings.NewReader(tc.Events),
		Output:   func(ds []rules.Decision) error { got = append(got, ds...); return nil },
		Rejected: func(line int, err error) { fail("events line %d rejected: %v", line, err) },
		// The wall clock, as in replay and run: an event dated far in
		// the future is refused here too, with the reason.
		Now: time.Now,
	})
	if err != nil {
		fail("%v", err)
		return failures
	}
	for _, want := range tc.Expect {
		want.check(got, fail)
	}
	checkAbsent(got, tc.Absent, fail)
	return failures
}

// check reports to fail how got misses want: no decision for its event
// and subject, another action or mode, or a rule missing from the reasons.
func (want *Expected) check(got []rules.Decision, fail failf) {
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
		return
	}
	d := got[i]
	if d.Action.String() != want.Action || d.Mode != mode {
		fail("event %s on %s: got %s (%s), want %s (%s)", want.EventID, want.Subject, d.Action, d.Mode, want.Action, mode)
	}
	for _, r := range want.Rules {
		if !slices.ContainsFunc(d.Reasons, func(x rules.Reason) bool { return x.Rule == r }) {
			fail("event %s on %s: rule %s is not among the reasons %v", want.EventID, want.Subject, r, ruleIDs(d))
		}
	}
}

// checkAbsent reports to fail each decision in got other than allow on
// one of the events absent.
func checkAbsent(got []rules.Decision, absent []string, fail failf) {
	for _, id := range absent {
		for _, d := range got {
			if d.EventID == id && d.Action != rules.Allow {
				fail("event %s must get no decision, got %s on %s:%s by %v", id, d.Action, d.Subject.Kind, d.Subject.ID, ruleIDs(d))
			}
		}
	}
}

// ruleIDs returns the ids of the rules that are d's reasons.
func ruleIDs(d rules.Decision) []string {
	var ids []string
	for _, r := range d.Reasons {
		ids = append(ids, r.Rule)
	}
	return ids
}

// describe lists the decisions in ds on the event eventID, for a failure
// message, or says there are none.
func describe(ds []rules.Decision, eventID string) string {
	var s []string
	for _, d := range ds {
		if d.EventID == eventID {
			s = append(s, fmt.Sprintf("%s on %s:%s", d.Action, d.Subject.Kind, d.Subject.ID))
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
