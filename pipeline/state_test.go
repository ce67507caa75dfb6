package pipeline_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// TestStateSurvivesChangelog decides the first half of the shipped traffic
// with one engine, carries its state over to a new engine the way the
// changelog does (the latest change of each key, tombstones included) and
// requires the second half to be decided exactly as one engine decides it.
func TestStateSurvivesChangelog(t *testing.T) {
	set := testenv.LoadRules(t, testenv.Rules)
	db, _ := geoip.Open(testenv.City, testenv.ASN)
	data, _ := testenv.ShippedTraffic(t)
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	half := len(lines) / 2
	newEngine := func() *pipeline.Engine {
		e := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 4096), pipeline.WithEmitAll(true))
		e.TrackChanges(rules.UserStage)
		e.TrackChanges(rules.IPStage)
		return e
	}
	decide := func(e *pipeline.Engine, lines [][]byte) []byte {
		var out bytes.Buffer
		for _, l := range lines {
			ev, err := event.Decode(l)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := e.Decide(&ev, testenv.Now(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ds {
				ds[i].DecidedAt = ds[i].TS
				b, _ := json.Marshal(&ds[i])
				out.Write(append(b, '\n'))
			}
		}
		return out.Bytes()
	}
	one := newEngine()
	decide(one, lines[:half])
	changelog := map[rules.Stage]map[string][]byte{rules.UserStage: {}, rules.IPStage: {}}
	for stage, log := range changelog {
		if err := one.Changes(stage, func(key string, value []byte) { log[key] = value }); err != nil {
			t.Fatal(err)
		}
	}
	want := decide(one, lines[half:])

	two := newEngine()
	keys := 0
	for stage, log := range changelog {
		for key, value := range log {
			if err := two.Restore(stage, key, value); err != nil {
				t.Fatal(err)
			}
			keys++
		}
	}
	if got := decide(two, lines[half:]); !bytes.Equal(got, want) {
		t.Errorf("decisions after a restore of %d keys differ from an engine that kept its state", keys)
	}
	if st := two.Stats(); st.Users == 0 || st.IPs == 0 {
		t.Errorf("restored engine holds %+v", st)
	}

	newer := append([]byte{99}, []byte("{}")...)
	if err := two.Restore(rules.UserStage, "u-newer", newer); !errors.Is(err, detectors.ErrStateVersion) {
		t.Errorf("a newer encoding: %v, want ErrStateVersion", err)
	}
}
