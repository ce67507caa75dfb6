package event

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestEncodeRoundTrip checks that Decode reads Encode's output back to the
// same event, for every accepted line of the shipped traffic and the
// golden cases (long ids included, already bounded).
func TestEncodeRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../testdata/golden/*/events.jsonl")
	files = append(files, "../testdata/scenarios/traffic.jsonl")
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(data, []byte("\n")) {
			ev, err := Decode(line)
			if err != nil {
				continue
			}
			again, err := Decode(Encode(&ev))
			if err != nil {
				t.Fatalf("%s:%d: Encode's output does not decode: %v\n%s", f, i+1, err, Encode(&ev))
			}
			if !again.TS.Equal(ev.TS) {
				t.Fatalf("%s:%d: ts %v, want %v", f, i+1, again.TS, ev.TS)
			}
			again.TS = ev.TS
			if again != ev {
				t.Fatalf("%s:%d: round trip changed the event:\n got %+v\nwant %+v", f, i+1, again, ev)
			}
			n++
		}
	}
	if n < 10000 {
		t.Errorf("only %d events round-tripped", n)
	}
}
