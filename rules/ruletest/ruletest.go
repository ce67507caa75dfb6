// Package ruletest runs analysts' checks of a rule set through the engine:
// rule unit-test files (`riskd rules test`, the model being `promtool
// test rules`) and the sample run of `riskd rules check` that catches
// conditions that fail at run time.
package ruletest

import (
	"bytes"
	"fmt"
	"os"

	"github.com/riskd/riskd/internal/yamlnode"
	"go.yaml.in/yaml/v3"
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
//	    absent:
//	      - a1                                          # no decision other than allow
//	      - {event_id: a4, rules: [brute-force-lockout]} # these rules do not fire on a4
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
	Absent []Absent   `yaml:"absent"`

	// Line is the case's line in its file; eventsLine is the line of
	// the first event when the events are a literal block (|), so that
	// a rejected event is reported at its own line.
	Line       int `yaml:"-"`
	eventsLine int
}

// Expected is a decision that a Case's events must get.
type Expected struct {
	EventID string   `yaml:"event_id"`
	Subject string   `yaml:"subject"` // kind:id
	Action  string   `yaml:"action"`
	Mode    string   `yaml:"mode"`  // default enforce
	Rules   []string `yaml:"rules"` // must all be among the reasons
	// Expires, when set, is the lifetime the decision must have, from
	// the event's time to expires_at (90m, 2h, 7d): how a test shows an
	// expires_expr escalating.
	Expires string `yaml:"expires"`
	Line    int    `yaml:"-"`
}

// Absent is an event that must not get what a rule would give it. Written
// as a plain event id, the event must get no decision other than allow;
// written as {event_id, rules}, none of those rules may be among the
// reasons of any of its decisions (other rules may fire), which is how a
// test shows that a rule stays quiet on a near miss.
type Absent struct {
	EventID string   `yaml:"event_id"`
	Rules   []string `yaml:"rules"`
	Line    int      `yaml:"-"`
}

// UnmarshalYAML accepts both forms of an Absent. It has the func form,
// which decodes with the file's Decoder and so keeps its KnownFields check
// (a misspelt key is an error, not an expectation silently skipped).
func (a *Absent) UnmarshalYAML(unmarshal func(any) error) error {
	var id string
	if err := unmarshal(&id); err == nil {
		a.EventID = id
		return nil
	}
	type plain Absent // without the method, or this would recurse
	return unmarshal((*plain)(a))
}

// readFile reads and decodes the test file at path. Unknown fields are
// errors, so that a misspelt expectation is not silently skipped.
func readFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (pass a *.test.yaml file or a folder holding some)", err)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a rule test file: %w", err)
	}
	// The strict decode above has no positions; a second one into nodes
	// gives each case and expectation its line for failure messages.
	var root yaml.Node
	if yaml.Unmarshal(data, &root) == nil && len(root.Content) > 0 {
		f.locate(root.Content[0])
	}
	return &f, nil
}

// locate sets the lines of f's cases and expectations from doc, the
// file's document node.
func (f *File) locate(doc *yaml.Node) {
	tests := yamlnode.Value(doc, "tests")
	if tests == nil || tests.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range tests.Content {
		if i >= len(f.Tests) {
			return
		}
		tc := &f.Tests[i]
		tc.Line = item.Line
		if ev := yamlnode.Value(item, "events"); ev != nil && ev.Style&yaml.LiteralStyle != 0 {
			tc.eventsLine = ev.Line + 1
		}
		for j, n := range yamlnode.Seq(item, "expect") {
			if j < len(tc.Expect) {
				tc.Expect[j].Line = n.Line
			}
		}
		for j, n := range yamlnode.Seq(item, "absent") {
			if j < len(tc.Absent) {
				tc.Absent[j].Line = n.Line
			}
		}
	}
}
