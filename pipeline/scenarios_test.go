package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/pipeline/scenario"
	"github.com/riskd/riskd/rules"
)

const (
	testCity = "../testdata/geoip/riskd-test-City.mmdb"
	testASN  = "../testdata/geoip/riskd-test-ASN.mmdb"
)

func replayAll(t testing.TB, data []byte, emitAll bool) ([]rules.Decision, pipeline.Summary) {
	t.Helper()
	set, err := rules.Load("../rules")
	if err != nil {
		t.Fatal(err)
	}
	db, warns := geoip.Open(testCity, testASN)
	if len(warns) > 0 {
		t.Fatal(warns)
	}
	eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 4096), pipeline.WithEmitAll(emitAll))
	var ds []rules.Decision
	sum, err := pipeline.Replay(context.Background(), pipeline.ReplayConfig{
		Engine: eng, Input: bytes.NewReader(data),
		Output:   func(d []rules.Decision) error { ds = append(ds, d...); return nil },
		Rejected: func(line int, err error) { t.Logf("line %d rejected: %v", line, err) },
		Now:      func() time.Time { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return ds, sum
}

func checkReport(t *testing.T, r scenario.Report) {
	t.Helper()
	t.Logf("\n%s", r)
	for class, total := range r.Total {
		if r.Caught[class] != total {
			t.Errorf("%s: caught %d of %d", class, r.Caught[class], total)
		}
	}
	if len(r.Missed) > 0 {
		t.Errorf("missed attacks: %v", r.Missed)
	}
	if len(r.BenignLockedOut) > 0 {
		t.Errorf("benign users locked out: %v", r.BenignLockedOut)
	}
	for _, d := range scenario.ConstrainedDetectors {
		if n := r.BenignFired[d]; float64(n) > 0.005*float64(r.BenignUsers) {
			t.Errorf("%s fired on %d of %d benign users (limit 0.5%%)", d, n, r.BenignUsers)
		}
	}
}

// TestShippedScenarios replays the shipped labelled traffic: every attack is
// caught with its detector and at least its action, and no benign user is
// locked out.
func TestShippedScenarios(t *testing.T) {
	data, labels := shippedTraffic(t)
	ds, sum := replayAll(t, data, false)
	if sum.Rejected != 0 {
		t.Errorf("%d shipped events rejected", sum.Rejected)
	}
	checkReport(t, scenario.Score(labels, ds))
}

// shippedTraffic returns the shipped labelled traffic and its labels.
func shippedTraffic(t testing.TB) ([]byte, scenario.Labels) {
	t.Helper()
	data, err := os.ReadFile("../testdata/scenarios/traffic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var labels scenario.Labels
	lb, _ := os.ReadFile("../testdata/scenarios/labels.json")
	if err := json.Unmarshal(lb, &labels); err != nil {
		t.Fatal(err)
	}
	return data, labels
}

// TestGeneratedScenarios checks other seeds of the generator, so the
// defaults are not tuned to one file.
func TestGeneratedScenarios(t *testing.T) {
	for _, seed := range []uint64{2, 3, 4} {
		t.Run("seed"+string(rune('0'+seed)), func(t *testing.T) {
			o := scenario.DefaultOptions()
			o.Seed, o.BenignUsers = seed, 400
			events, labels := scenario.Generate(o)
			data, err := scenario.MarshalLines(events)
			if err != nil {
				t.Fatal(err)
			}
			ds, _ := replayAll(t, data, false)
			checkReport(t, scenario.Score(labels, ds))
		})
	}
}

// TestShippedTrafficIsCurrent fails when the generator and the shipped file
// have drifted apart: run `make scenarios` and commit.
func TestShippedTrafficIsCurrent(t *testing.T) {
	events, labels := scenario.Generate(scenario.DefaultOptions())
	data, err := scenario.MarshalLines(events)
	if err != nil {
		t.Fatal(err)
	}
	shipped, _ := os.ReadFile("../testdata/scenarios/traffic.jsonl")
	lb, _ := json.MarshalIndent(labels, "", "  ")
	shippedLabels, _ := os.ReadFile("../testdata/scenarios/labels.json")
	if !bytes.Equal(data, shipped) || !bytes.Equal(append(lb, '\n'), shippedLabels) {
		t.Error("testdata/scenarios is stale: run `make scenarios` and commit it")
	}
}
