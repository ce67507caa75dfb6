package testenv_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
)

// shippedEvents returns every event line the project ships for use (not
// the golden cases, whose malformed lines are rejected on purpose): the
// labelled traffic, the rule samples and the events of the shipped rule
// pack's unit tests, each with its file:line.
func shippedEvents(t *testing.T) (where []string, lines [][]byte) {
	t.Helper()
	add := func(file string, first int, data []byte) {
		name, _ := filepath.Rel(testenv.Path("."), file)
		for i, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				where = append(where, fmt.Sprintf("%s:%d", name, first+i))
				lines = append(lines, bytes.TrimSpace(l))
			}
		}
	}
	for _, pattern := range []string{"testdata/scenarios/traffic.jsonl", "rules/samples.jsonl", "rules/testdata/*.jsonl"} {
		w, ls := testenv.Lines(t, pattern)
		where = append(where, w...)
		for _, l := range ls {
			lines = append(lines, bytes.TrimSpace(l))
		}
	}
	tests, _ := filepath.Glob(filepath.Join(testenv.Rules, "tests", "*.test.yaml"))
	if len(tests) == 0 {
		t.Fatal("no rule unit tests under rules/pack/tests")
	}
	for _, f := range tests {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tests []struct {
				Events yaml.Node `yaml:"events"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range doc.Tests {
			// A literal block starts on the line after its key.
			add(f, tc.Events.Line+1, []byte(tc.Events.Value))
		}
	}
	return where, lines
}

// TestShippedEventsValid holds every shipped event to the event schema
// and the decoder: each validates and decodes. (pipeline's
// TestShippedEventsMatchSchema only asks for the same verdict.)
func TestShippedEventsValid(t *testing.T) {
	sch := testenv.Schema(t, "event.v1.schema.json")
	where, lines := shippedEvents(t)
	for i, l := range lines {
		if why := testenv.Validate(sch, l); why != "" {
			t.Errorf("%s: not valid against event.v1.schema.json: %s", where[i], why)
		}
		if _, err := event.Decode(l); err != nil {
			t.Errorf("%s: decoder rejects it: %v", where[i], err)
		}
	}
	if len(lines) < 10000 {
		t.Errorf("only %d shipped events: is the traffic there?", len(lines))
	}
	t.Logf("%d shipped events checked", len(lines))
}
