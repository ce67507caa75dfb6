package pipeline_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// TestAddressKeysThroughChangelog: the address stage keys its state by an
// address's bytes, and its changelog keys are the address's text as the
// event's validation leaves it, IPv4 and IPv6 alike (an IPv4-mapped
// address is its IPv4 address), which a restore reads back to the same
// state. A key no event can make is refused, and nothing is held for it.
func TestAddressKeysThroughChangelog(t *testing.T) {
	set := testenv.LoadRules(t, testenv.Rules)
	one := pipeline.NewEngine(set)
	one.TrackChanges(rules.IPStage)
	for i, ip := range []string{"192.0.2.7", "2001:db8::7", "::ffff:198.51.100.7", "::c000:207"} {
		line := fmt.Sprintf(`{"event_id":"e%d","type":"login","user_id":"u%d","ts":"2026-03-01T00:00:0%dZ","outcome":"failure","ip":%q}`, i, i, i, ip)
		ev, err := event.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := one.Decide(&ev, testenv.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	log := map[string][]byte{}
	if err := one.Changes(rules.IPStage, func(key string, value []byte) { log[key] = value }); err != nil {
		t.Fatal(err)
	}
	// Each address, and its network (the stage counts per /24 and /48).
	if want := []string{"192.0.2.7", "198.51.100.7", "2001:db8::7", "::c000:207", "192.0.2.0/24", "198.51.100.0/24", "2001:db8::/48", "::/48"}; !slices.Equal(slices.Sorted(maps.Keys(log)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("changelog keys %v, want %v", slices.Sorted(maps.Keys(log)), want)
	}

	two := pipeline.NewEngine(set)
	for key, value := range log {
		if err := two.Restore(rules.IPStage, key, value); err != nil {
			t.Errorf("restore %s: %v", key, err)
		}
	}
	two.TrackChanges(rules.IPStage)
	for key := range log {
		if err := two.Restore(rules.IPStage, key, nil); err != nil {
			t.Errorf("tombstone %s: %v", key, err)
		}
	}
	if st := two.Stats(); st.IPs != 0 || st.Networks != 0 {
		t.Errorf("%d addresses and %d networks held after their tombstones", st.IPs, st.Networks)
	}

	for _, key := range []string{"::ffff:192.0.2.7", "2001:DB8::7", "2001:db8:0::7", "fe80::1%eth0", "192.0.2.07", "alice"} {
		if err := two.Restore(rules.IPStage, key, log["192.0.2.7"]); err == nil {
			t.Errorf("restore of address key %q: no error", key)
		}
	}
	for _, key := range []string{"192.0.2.0/25", "192.0.2.7/24", "2001:db8::/64", "2001:DB8::/48", "::ffff:192.0.2.0/120", "192.0.2.0/"} {
		if err := two.Restore(rules.IPStage, key, log["192.0.2.0/24"]); err == nil {
			t.Errorf("restore of network key %q: no error", key)
		}
	}
	if st := two.Stats(); st.IPs != 0 || st.Networks != 0 {
		t.Errorf("%d addresses and %d networks held for keys no event makes", st.IPs, st.Networks)
	}
}
