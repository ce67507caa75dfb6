package event_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

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

// FuzzDecodeMatchesSchema is TestDecoderMatchesSchema and
// TestRejectedSameField on any input: the decoder and the schema must give
// the same verdict on every message within event.MaxEventBytes, and refuse
// an I-JSON one at the same field.
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
		// Only the schema's own refusals: where a syntax error lies
		// (a truncated member, say) is jsontext's guess, and the decoder
		// names no field for most of them.
		var e *event.Error
		if errors.As(err, &e) && jsontext.Value(line).IsValid() && !schemaRefusal(sch, line).names(e.Field) {
			t.Fatalf("decoder rejects at field %q (%v), schema side %v", e.Field, err, schemaRefusal(sch, line))
		}
	})
}

// refusal is where the schema side refuses a line, as dotted paths ("" for
// the whole event).
type refusal struct {
	at      []string // values that are wrong
	missing []string // required members that are absent
}

// names reports whether field, the decoder's event.Error Field, is where r
// lies: one of its wrong values or missing members, or a member of a
// missing object (the decoder names change.field when change is absent).
func (r refusal) names(field string) bool {
	if slices.Contains(r.at, field) {
		return true
	}
	for _, m := range r.missing {
		if field == m || strings.HasPrefix(field, m+".") {
			return true
		}
	}
	return false
}

func (r refusal) String() string {
	return fmt.Sprintf("wrong %q, missing %q", r.at, r.missing)
}

// schemaRefusal returns where the schema side refuses line: the JSON
// Pointer of an I-JSON error (for a duplicate name, the object that
// repeats it, which is where the decoder reports it), else the instance
// location of every innermost validation error, with the property a
// "required" misses.
func schemaRefusal(sch *jsonschema.Schema, line []byte) refusal {
	dec := jsontext.NewDecoder(bytes.NewReader(line))
	_, err := dec.ReadValue()
	if err == nil {
		if _, err = dec.ReadToken(); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errors.New("more than one value")
		}
	}
	if err != nil {
		var se *jsontext.SyntacticError
		if !errors.As(err, &se) {
			return refusal{at: []string{""}}
		}
		p := se.JSONPointer
		if errors.Is(se.Err, jsontext.ErrDuplicateName) {
			p = p.Parent()
		}
		return refusal{at: []string{strings.Join(slices.Collect(p.Tokens()), ".")}}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return refusal{at: []string{""}}
	}
	var ve *jsonschema.ValidationError
	if !errors.As(sch.Validate(inst), &ve) {
		return refusal{}
	}
	var r refusal
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		for _, c := range e.Causes {
			walk(c)
		}
		if req, ok := e.ErrorKind.(*kind.Required); ok && len(e.Causes) == 0 {
			for _, m := range req.Missing {
				r.missing = append(r.missing, strings.Join(append(slices.Clone(e.InstanceLocation), m), "."))
			}
		} else if len(e.Causes) == 0 {
			r.at = append(r.at, strings.Join(e.InstanceLocation, "."))
		}
	}
	walk(ve)
	return r
}

// fuzzSeeds returns the inputs of the seed corpus of the fuzz target name
// (testdata/fuzz/NAME, one []byte per file).
func fuzzSeeds(t *testing.T, name string) []sampleLine {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus for %s: %v", name, err)
	}
	var out []sampleLine
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")")
		text, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: not one []byte seed (%v)", file, err)
		}
		out = append(out, sampleLine{filepath.Join(name, filepath.Base(file)), []byte(text)})
	}
	return out
}

// missingObjects are rejected samples the golden cases lack: an object
// that the type requires is absent, which the schema reports as the object
// and the decoder as the member it needed (FuzzDecodeMatchesSchema found
// the first).
var missingObjects = []sampleLine{
	{"account_change without change", []byte(`{"event_id":"m1","type":"account_change","ts":"2026-03-01T10:00:00Z","user_id":"u1"}`)},
	{"transaction without txn", []byte(`{"event_id":"m2","type":"transaction","ts":"2026-03-01T10:00:00Z","user_id":"u1"}`)},
	{"token_refresh without refresh", []byte(`{"event_id":"m3","type":"token_refresh","ts":"2026-03-01T10:00:00Z","user_id":"u1"}`)},
}

// TestRejectedSameField holds every rejected sample (the golden lines the
// decoder refuses, the FuzzDecode seed corpus, missingObjects) to the same
// field on both sides: the decoder's event.Error Field is a field where
// the schema side refuses the line (see schemaRefusal), so a producer
// reading either learns the same thing about what to fix.
func TestRejectedSameField(t *testing.T) {
	sch := testenv.Schema(t, "event.v1.schema.json")
	checked := 0
	samples := append(append(goldenLines(t), fuzzSeeds(t, "FuzzDecode")...), missingObjects...)
	for _, l := range samples {
		_, err := event.Decode(l.data)
		if err == nil || len(l.data) > event.MaxEventBytes {
			continue
		}
		checked++
		var e *event.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: decoder rejects with %T, not *event.Error: %v", l.where, err, err)
			continue
		}
		if r := schemaRefusal(sch, l.data); !r.names(e.Field) {
			t.Errorf("%s: decoder rejects at field %q (%v), schema side %v", l.where, e.Field, err, r)
		}
	}
	if checked < 60 {
		t.Errorf("only %d rejected samples: is the hostile-fields case there?", checked)
	}
	t.Logf("%d rejected samples, each at the same field on both sides", checked)
}
