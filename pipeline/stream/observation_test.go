package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// obsNow and obsSources are the limits the observation tests decode with:
// a stream of 4 input partitions, on 2026-03-05 (after the shipped traffic).
var (
	obsNow     = time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	obsSources = 4
)

func testObsLimits() obsLimits { return newObsLimits(obsSources, obsNow, 24*time.Hour) }

// userStageObservations returns the repartition messages a user-stage
// worker sends for the first logins of the shipped traffic, built as
// decideUser and beat build them, and a heartbeat.
func userStageObservations(t testing.TB) [][]byte {
	t.Helper()
	data, err := os.ReadFile(testenv.Traffic)
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	eng := pipeline.NewEngine(set)
	var plain, fired [][]byte
	mark := int64(math.MinInt64)
	for i, line := range bytes.Split(data, []byte("\n")) {
		ev, err := event.Decode(line)
		if err != nil {
			continue
		}
		_, toIP, err := eng.DecideUser(&ev, obsNow, nil)
		if err != nil || !toIP {
			continue
		}
		f := eng.Features()
		mark = max(mark, ev.TS.UnixMilli())
		v, _ := json.Marshal(observation{Event: line, Features: *f, Signals: f.Signals(),
			Source: i % obsSources, Sources: obsSources, Watermark: mark, Caught: i%2 == 0})
		if len(f.Signals()) > 0 {
			fired = append(fired, v)
		} else {
			plain = append(plain, v)
		}
		if len(plain) >= 3 && len(fired) >= 3 {
			break
		}
	}
	out := append(plain[:min(3, len(plain))], fired[:min(3, len(fired))]...)
	if len(out) == 0 {
		t.Fatal("no login attempts in the traffic")
	}
	hb, _ := json.Marshal(observation{Heartbeat: true, Source: 1, Sources: obsSources, Watermark: math.MinInt64, Caught: true})
	return append(out, hb)
}

func TestDecodeObservation(t *testing.T) {
	valid := userStageObservations(t)
	login := valid[0]
	var base map[string]any
	if err := json.Unmarshal(login, &base); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) string {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	future := obsNow.Add(48 * time.Hour).UnixMilli()
	tests := []struct {
		name    string
		msg     string
		problem string // "" when accepted
	}{
		{"a user stage's observation", string(login), ""},
		{"a heartbeat", string(valid[len(valid)-1]), ""},
		{"watermark: nothing decided yet", with("watermark", json.Number("-9223372036854775808")), ""},
		{"sources 2^31", with("sources", 1<<31), "sources 2147483648"},
		{"sources 0", with("sources", 0), "sources 0"},
		{"sources other than the input topics'", with("sources", 5), "sources 5"},
		{"source -1", with("source", -1), "source partition -1"},
		{"source = sources", with("source", obsSources), "source partition 4"},
		{"source too large for an int", with("source", json.Number("1e40")), "not an observation"},
		{"watermark before any event time", with("watermark", -86_400_001), "watermark -86400001"},
		{"watermark 48 h ahead", with("watermark", future), "watermark"},
		{"no event", with("event", nil), "no event"},
		{"event not an event", with("event", map[string]any{"type": "teleport"}), "repartition message: event:"},
		{"heartbeat carrying an event", with("heartbeat", true), "heartbeat carrying an event"},
		{"not JSON", "\x00\x01garbage", "not an observation"},
		{"a JSON array", "[1,2,3]", "not an observation"},
		{"empty", "", "not an observation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, feats, o, err := decodeObservation([]byte(tt.msg), testObsLimits())
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				checkObservation(t, ev, feats, o, testObsLimits())
				return
			}
			var e *event.Error
			if !errors.As(err, &e) || e.Reason != ReasonInvalidObservation || !strings.Contains(e.Error(), tt.problem) {
				t.Fatalf("error %v, want %s containing %q", err, ReasonInvalidObservation, tt.problem)
			}
			if feats != nil || ev.ID != "" || o.Sources != 0 {
				t.Errorf("a refused observation returned data: %v %+v", feats, o)
			}
		})
	}
}

// checkObservation holds an accepted observation to the invariants that
// the hold and the address stage rely on.
func checkObservation(t testing.TB, ev event.Event, feats *detectors.Features, o observation, lim obsLimits) {
	t.Helper()
	if o.Sources != lim.sources || o.Source < 0 || o.Source >= o.Sources {
		t.Fatalf("accepted source %d of %d, limits %d", o.Source, o.Sources, lim.sources)
	}
	if !lim.validMark(o.Watermark) {
		t.Fatalf("accepted watermark %d", o.Watermark)
	}
	if o.Heartbeat {
		if feats != nil || ev.ID != "" {
			t.Fatal("a heartbeat came with an event")
		}
		return
	}
	if feats == nil || ev.ID == "" || ev.UserID == "" || ev.TS.Year() < event.MinYear || ev.TS.Year() > event.MaxYear {
		t.Fatalf("accepted attempt without a valid event: %+v, features %v", ev, feats != nil)
	}
}

// FuzzObservation feeds decodeObservation anything: it never panics, and
// whatever it accepts satisfies checkObservation; whatever it refuses is
// an invalid_observation. The seeds under testdata/fuzz/FuzzObservation
// are observations made by the user stage, a heartbeat and garbage.
func FuzzObservation(f *testing.F) {
	for _, o := range userStageObservations(f) {
		f.Add(o)
	}
	f.Add([]byte(`{"heartbeat":true,"source":0,"sources":2147483647,"watermark":0}`))
	lim := testObsLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, feats, o, err := decodeObservation(data, lim)
		if err != nil {
			var e *event.Error
			if !errors.As(err, &e) || e.Reason != ReasonInvalidObservation {
				t.Fatalf("refused with %v, not an %s", err, ReasonInvalidObservation)
			}
			if feats != nil || ev.ID != "" {
				t.Fatal("a refused observation returned data")
			}
			return
		}
		checkObservation(t, ev, feats, o, lim)
	})
}
