package stream

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/record"
	"github.com/riskd/riskd/rules"
)

// obsNow and obsSources are the limits the observation tests decode with:
// a stream of 4 input partitions, on 2026-03-05 (after the shipped traffic).
var (
	obsNow     = time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	obsSources = 4
)

func testObsLimits() obsLimits { return newObsLimits(obsSources, obsNow, 24*time.Hour) }

// userStageObservations returns the repartition records a user-stage
// worker sends for the first logins of the shipped traffic, built as
// decideUser and beat build them, and a heartbeat.
func userStageObservations(t testing.TB) []*record.Observation {
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
	var plain, fired []*record.Observation
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
		o := &record.Observation{Event: ev, Raw: line, Features: *f,
			Source: i % obsSources, Sources: obsSources, Watermark: mark, Caught: i%2 == 0}
		if len(f.Signals()) > 0 {
			fired = append(fired, o)
		} else {
			plain = append(plain, o)
		}
		if len(plain) >= 3 && len(fired) >= 3 {
			break
		}
	}
	out := append(plain[:min(3, len(plain))], fired[:min(3, len(fired))]...)
	if len(out) == 0 {
		t.Fatal("no login attempts in the traffic")
	}
	return append(out, &record.Observation{Heartbeat: true, Source: 1, Sources: obsSources, Watermark: math.MinInt64, Caught: true})
}

func TestDecodeObservation(t *testing.T) {
	valid := userStageObservations(t)
	with := func(edit func(o *record.Observation)) string {
		o := *valid[0]
		edit(&o)
		return string(record.AppendObservation(nil, &o))
	}
	login := with(func(*record.Observation) {})
	future := obsNow.Add(48 * time.Hour).UnixMilli()
	tests := []struct {
		name    string
		msg     string
		reason  string
		problem string // "" when accepted
	}{
		{"a user stage's observation", login, "", ""},
		{"a heartbeat", string(record.AppendObservation(nil, valid[len(valid)-1])), "", ""},
		{"watermark: nothing decided yet", with(func(o *record.Observation) { o.Watermark = math.MinInt64 }), "", ""},
		{"sources 2^31", with(func(o *record.Observation) { o.Sources = 1 << 31 }), ReasonInvalidObservation, "source partition"},
		{"sources other than the input topics'", with(func(o *record.Observation) { o.Sources = 5 }), ReasonInvalidObservation, "sources 5"},
		{"source -1", with(func(o *record.Observation) { o.Source = -1 }), ReasonInvalidObservation, "source partition"},
		{"source = sources", with(func(o *record.Observation) { o.Source = obsSources }), ReasonInvalidObservation, "source partition"},
		{"watermark before any event time", with(func(o *record.Observation) { o.Watermark = -86_400_001 }), ReasonInvalidObservation, "watermark -86400001"},
		{"watermark 48 h ahead", with(func(o *record.Observation) { o.Watermark = future }), ReasonInvalidObservation, "watermark"},
		{"event not an event", with(func(o *record.Observation) { o.Event.Type = 42 }), ReasonInvalidObservation, "event type 42"},
		{"cut short", login[:len(login)-3], ReasonInvalidObservation, "truncated"},
		{"a newer format", "\x03" + login[1:], alerting.ReasonUnknownVersion, "version 3"},
		{"version 1, before the network features", "\x01" + login[1:], alerting.ReasonUnknownVersion, "version 1"},
		{"JSON, the format before records", `{"heartbeat":true,"source":0,"sources":4,"watermark":0}`, alerting.ReasonUnknownVersion, "version 123"},
		{"empty", "", ReasonInvalidObservation, "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := decodeObservation([]byte(tt.msg), testObsLimits())
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				checkObservation(t, o, testObsLimits())
				return
			}
			var e *event.Error
			if !errors.As(err, &e) || e.Reason != tt.reason || !strings.Contains(e.Error(), tt.problem) {
				t.Fatalf("error %v, want %s containing %q", err, tt.reason, tt.problem)
			}
			if o != nil {
				t.Errorf("a refused observation returned data: %+v", o)
			}
		})
	}
}

// checkObservation holds an accepted observation to the invariants that
// the hold and the address stage rely on.
func checkObservation(t testing.TB, o *record.Observation, lim obsLimits) {
	t.Helper()
	if o.Sources != lim.sources || o.Source < 0 || o.Source >= o.Sources {
		t.Fatalf("accepted source %d of %d, limits %d", o.Source, o.Sources, lim.sources)
	}
	if !lim.validMark(o.Watermark) {
		t.Fatalf("accepted watermark %d", o.Watermark)
	}
	if o.Heartbeat {
		if o.Event.ID != "" || o.Raw != nil {
			t.Fatal("a heartbeat came with an event")
		}
		return
	}
	ev := &o.Event
	if ev.ID == "" || ev.UserID == "" || ev.TS.Year() < event.MinYear-1 || ev.TS.Year() > event.MaxYear+1 {
		t.Fatalf("accepted attempt without a valid event: %+v", ev)
	}
}

// FuzzObservation feeds decodeObservation anything: it never panics, and
// whatever it accepts satisfies checkObservation; whatever it refuses is
// an invalid_observation or an unknown_record_version. The seeds are
// records made by the user stage, a heartbeat and garbage.
func FuzzObservation(f *testing.F) {
	for _, o := range userStageObservations(f) {
		f.Add(record.AppendObservation(nil, o))
	}
	lim := testObsLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := decodeObservation(data, lim)
		if err != nil {
			var e *event.Error
			if !errors.As(err, &e) || (e.Reason != ReasonInvalidObservation && e.Reason != alerting.ReasonUnknownVersion) {
				t.Fatalf("refused with %v", err)
			}
			if o != nil {
				t.Fatal("a refused observation returned data")
			}
			return
		}
		checkObservation(t, o, lim)
	})
}
