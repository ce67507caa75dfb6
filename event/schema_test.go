package event_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
)

var schemaPath = testenv.Path("testdata/schema/event.v1.schema.json")

// schemaVerdict reports whether the schema side accepts line, and why not. The
// validator's own JSON parser (encoding/json) replaces invalid UTF-8 and
// keeps the last of duplicate names, so the schema's verdict is: line
// parses as I-JSON (RFC 7493: valid UTF-8, no unpaired surrogate escapes,
// unique member names, one value; checked with jsontext, whose defaults
// are exactly that) AND the value validates against the schema. The
// schema's own description says the same.
func schemaVerdict(sch *jsonschema.Schema, line []byte) (bool, string) {
	if !jsontext.Value(line).IsValid() {
		return false, "not I-JSON"
	}
	why := testenv.Validate(sch, line)
	return why == "", why
}

// sampleLine is one input line and where it comes from.
type sampleLine struct {
	where string // file:line
	data  []byte
}

// goldenLines returns every line of every golden case, as the golden
// runner reads them: blank lines (only white space) are skipped.
func goldenLines(t *testing.T) []sampleLine {
	t.Helper()
	files, err := filepath.Glob(testenv.Path("testdata/golden/*/events.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events: %v", err)
	}
	var out []sampleLine
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(filepath.Base(filepath.Dir(file)), filepath.Base(file))
		for i, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			out = append(out, sampleLine{fmt.Sprintf("%s:%d", name, i+1), line})
		}
	}
	return out
}

// TestDecoderMatchesSchema runs every golden line, the hostile-fields case
// among them, through Decode and through the JSON Schema, and requires the
// same verdict: the schema describes exactly what the decoder accepts.
// Lines over event.MaxEventBytes are the one exception, a transport limit the
// schema does not state; TestDecodeMessageLimit covers it.
func TestDecoderMatchesSchema(t *testing.T) {
	sch := testenv.Schema(t, "event.v1.schema.json")
	lines := goldenLines(t)
	var accepted, rejected int
	for _, l := range lines {
		_, err := event.Decode(l.data)
		if len(l.data) > event.MaxEventBytes {
			if event.ReasonOf(err) != event.ReasonTooLarge {
				t.Errorf("%s: %d bytes, decoder says %v, want %s", l.where, len(l.data), err, event.ReasonTooLarge)
			}
			continue
		}
		ok, why := schemaVerdict(sch, l.data)
		switch {
		case err == nil && !ok:
			t.Errorf("%s: decoder accepts, schema rejects: %s", l.where, why)
		case err != nil && ok:
			t.Errorf("%s: decoder rejects (%v), schema accepts", l.where, err)
		case ok:
			accepted++
		default:
			rejected++
		}
	}
	if accepted == 0 || rejected < 40 {
		t.Errorf("only %d accepted and %d rejected lines: is the hostile-fields case there?", accepted, rejected)
	}
	t.Logf("%d lines: %d accepted, %d rejected by both", len(lines), accepted, rejected)
}

// boundedFields are the schema paths of the values Decode shortens with
// Bound instead of rejecting: the schema must not limit their length.
var boundedFields = [][]string{
	{"device_id"}, {"session_id"}, {"token_id"}, {"user_agent"}, {"failure_reason"},
	{"refresh", "token_id"}, {"refresh", "family_id"}, {"app", "platform"}, {"app", "version"},
	{"txn", "beneficiary_id"}, {"txn", "kind"}, {"change", "field"},
}

// TestSchemaDoesNotLimitBoundedFields checks that the schema does not
// reject what Decode shortens, and says that it is shortened.
func TestSchemaDoesNotLimitBoundedFields(t *testing.T) {
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range boundedFields {
		node, _ := doc.(map[string]any)
		for _, name := range path {
			props, _ := node["properties"].(map[string]any)
			node, _ = props[name].(map[string]any)
		}
		name := strings.Join(path, ".")
		switch {
		case node == nil:
			t.Errorf("%s: not in the schema", name)
		case node["maxLength"] != nil:
			t.Errorf("%s: has maxLength, but Decode shortens it rather than rejects", name)
		case !strings.Contains(strings.ToLower(fmt.Sprint(node["description"])), "bounded"):
			t.Errorf("%s: description does not say it is bounded", name)
		}
	}
}

// FuzzDecodeMatchesSchema is TestDecoderMatchesSchema on any input: the
// decoder and the schema must give the same verdict on every message
// within event.MaxEventBytes.
func FuzzDecodeMatchesSchema(f *testing.F) {
	data, err := os.ReadFile(testenv.Path("testdata/golden/hostile-fields/events.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		f.Add(line)
	}
	sch := testenv.Schema(f, "event.v1.schema.json")
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > event.MaxEventBytes {
			return
		}
		_, err := event.Decode(line)
		ok, why := schemaVerdict(sch, line)
		if err == nil && !ok {
			t.Fatalf("decoder accepts, schema rejects: %s", why)
		}
		if err != nil && ok {
			t.Fatalf("decoder rejects (%v), schema accepts", err)
		}
	})
}
