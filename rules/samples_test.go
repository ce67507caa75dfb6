package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/event"
)

var updateSamples = flag.Bool("update-samples", false, "rewrite samples.jsonl from the shipped traffic and golden inputs")

// Where the built-in samples come from, relative to rules/, and how many of
// them are picked.
const (
	samplesFile    = "samples.jsonl"
	trafficFile    = "../testdata/scenarios/traffic.jsonl"
	labelsFile     = "../testdata/scenarios/labels.json"
	goldenGlob     = "../testdata/golden/*/events.jsonl"
	extraFile      = "testdata/samples-extra.jsonl" // hand-written: what the rest lacks (mfa)
	attacksPerKind = 3                              // attacks of each kind (id without its number)
	benignEvery    = 20                             // one benign user in this many
)

// sampleLabels is the part of testdata/scenarios/labels.json the selection
// reads.
type sampleLabels struct {
	Attacks []struct {
		ID     string   `json:"id"`
		Class  string   `json:"class"`
		UserID string   `json:"user_id"`
		IP     string   `json:"ip"`
		Events []string `json:"events"`
	} `json:"attacks"`
	Benign []string `json:"benign_users"`
}

// buildSamples makes samples.jsonl: every valid line of the golden inputs
// and of the hand-written extras, then the whole event streams, in file
// order, of some users and addresses of the shipped traffic: of each attack
// kind the first attacksPerKind attacks and the one with the most events
// (the victim's stream, or for a password spray the attacking address's),
// and one benign user in benignEvery. Lines are copied byte for byte; lines
// the decoder rejects are left out, and so are events dated after the
// traffic's last one, which the engine may refuse as forged.
func buildSamples() ([]byte, error) {
	traffic, err := os.ReadFile(trafficFile)
	if err != nil {
		return nil, err
	}
	var newest time.Time
	eachEvent(traffic, func(_ []byte, ev *event.Event) {
		if ev.TS.After(newest) {
			newest = ev.TS
		}
	})
	var out bytes.Buffer
	keep := func(line []byte) { out.Write(line); out.WriteByte('\n') }
	golden, err := filepath.Glob(goldenGlob)
	if err != nil || len(golden) == 0 {
		return nil, fmt.Errorf("no golden inputs at %s", goldenGlob)
	}
	for _, path := range append(golden, extraFile) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		eachEvent(data, func(line []byte, ev *event.Event) {
			if !ev.TS.After(newest) {
				keep(line)
			}
		})
	}
	users, ips, err := pickStreams()
	if err != nil {
		return nil, err
	}
	eachEvent(traffic, func(line []byte, ev *event.Event) {
		if users[ev.UserID] || (ev.IP.IsValid() && ips[ev.IP.String()]) {
			keep(line)
		}
	})
	return out.Bytes(), nil
}

// pickStreams chooses the users and addresses whose streams are sampled.
func pickStreams() (users, ips map[string]bool, err error) {
	var l sampleLabels
	data, err := os.ReadFile(labelsFile)
	if err == nil {
		err = json.Unmarshal(data, &l)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", labelsFile, err)
	}
	users, ips = map[string]bool{}, map[string]bool{}
	perKind, largest := map[string]int{}, map[string]int{}
	for i, a := range l.Attacks {
		kind := strings.TrimRight(strings.TrimRight(a.ID, "0123456789"), "-")
		if j, ok := largest[kind]; !ok || len(a.Events) > len(l.Attacks[j].Events) {
			largest[kind] = i
		}
		if perKind[kind]++; perKind[kind] <= attacksPerKind {
			pick(users, ips, a.UserID, a.IP)
		}
	}
	for _, i := range largest {
		pick(users, ips, l.Attacks[i].UserID, l.Attacks[i].IP)
	}
	for i := 0; i < len(l.Benign); i += benignEvery {
		users[l.Benign[i]] = true
	}
	return users, ips, nil
}

// pick adds an attack's victim to users, or when it has none (a password
// spray), its address to ips.
func pick(users, ips map[string]bool, user, ip string) {
	if user != "" {
		users[user] = true
	} else if ip != "" {
		ips[ip] = true
	}
}

// eachEvent calls f with every line of JSON Lines data that decodes.
func eachEvent(data []byte, f func(line []byte, ev *event.Event)) {
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if ev, err := event.Decode(line); err == nil {
			f(line, &ev)
		}
	}
}

// TestSamplesUpToDate fails when samples.jsonl (and so the copy embedded
// in the binary) is not what buildSamples makes from the current testdata.
// Run with -update-samples to rewrite it, then read the diff.
func TestSamplesUpToDate(t *testing.T) {
	want, err := buildSamples()
	if err != nil {
		t.Fatal(err)
	}
	if *updateSamples {
		if err := os.WriteFile(samplesFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d events, %d bytes", samplesFile, bytes.Count(want, []byte("\n")), len(want))
		return
	}
	if !bytes.Equal(Samples(), want) {
		t.Errorf("%s is stale (%d bytes, generator makes %d): run go test ./rules -run TestSamplesUpToDate -update-samples",
			samplesFile, len(Samples()), len(want))
	}
}

// TestSamplesCover checks the built-in samples hold every event type, both
// outcomes of logins and mfa, and an event of every attack class.
func TestSamplesCover(t *testing.T) {
	var l sampleLabels
	data, err := os.ReadFile(labelsFile)
	if err == nil {
		err = json.Unmarshal(data, &l)
	}
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]int{}
	n := 0
	eachEvent(Samples(), func(_ []byte, ev *event.Event) {
		n++
		have[ev.Type.String()]++
		have[ev.Type.String()+"/"+ev.Outcome.String()]++
		have["event:"+ev.ID]++
	})
	if lines := bytes.Count(Samples(), []byte("\n")); n != lines || n < 300 || n > 2000 {
		t.Errorf("%d valid events of %d lines; want every line valid and 300..2000 of them", n, lines)
	}
	var want []string
	for _, typ := range event.Types() {
		want = append(want, typ.String())
	}
	want = append(want, "login/success", "login/failure", "mfa/success", "mfa/failure")
	for _, k := range want {
		if have[k] == 0 {
			t.Errorf("no %s event in the samples", k)
		}
	}
	var classes []string
	for _, a := range l.Attacks {
		if slices.ContainsFunc(a.Events, func(id string) bool { return have["event:"+id] > 0 }) && !slices.Contains(classes, a.Class) {
			classes = append(classes, a.Class)
		}
	}
	for _, a := range l.Attacks {
		if !slices.Contains(classes, a.Class) {
			t.Errorf("no event of attack class %s in the samples", a.Class)
			classes = append(classes, a.Class)
		}
	}
}
