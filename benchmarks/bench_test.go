// Package benchmarks measures riskd's hot path per event: decoding,
// enrichment, the detector stages, the rules, and all of it end to end as
// `riskd replay` runs it. Figures and the commands that produced them are in
// README.md beside this file.
package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

func loadLines(b *testing.B) [][]byte {
	b.Helper()
	data, err := os.ReadFile(testenv.Traffic)
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	return lines
}

func loadEvents(b *testing.B, lines [][]byte) []event.Event {
	b.Helper()
	db, _ := geoip.Open(testenv.City, testenv.ASN)
	evs := make([]event.Event, len(lines))
	for i, l := range lines {
		ev, err := event.Decode(l)
		if err != nil {
			b.Fatal(err)
		}
		ev.Geo = db.Lookup(ev.IP)
		evs[i] = ev
	}
	return evs
}

func shippedRules(b *testing.B) *rules.Set {
	b.Helper()
	set, err := rules.Load(testenv.Rules)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// BenchmarkDecode is decoding and validating one event.
func BenchmarkDecode(b *testing.B) {
	lines := loadLines(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := event.Decode(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDecodeFloorMap is the floor Decode is measured against in the
// same run: encoding/json into a generic map, with no validation at all.
func BenchmarkDecodeFloorMap(b *testing.B) {
	lines := loadLines(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(lines[i%len(lines)], &m); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUserStage is the user-keyed detectors on one enriched event.
// State carries across iterations, as in a stream; each pass over the file
// shifts time by a week so the replayed events are new events, not
// duplicates.
func BenchmarkUserStage(b *testing.B) {
	evs := loadEvents(b, loadLines(b))
	u := detectors.NewUsers(detectors.Defaults())
	var f detectors.Features
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := shifted(evs, i)
		f = detectors.Features{}
		u.Process(&ev, &f)
		i++
	}
}

func shifted(evs []event.Event, i int) event.Event {
	ev := evs[i%len(evs)]
	if pass := i / len(evs); pass > 0 {
		ev.TS = ev.TS.Add(time.Duration(pass) * 7 * 24 * time.Hour)
		ev.ID = ev.ID + "#" + string(rune('a'+pass%26))
	}
	return ev
}

// BenchmarkRules is the shipped rules on one event's features.
func BenchmarkRules(b *testing.B) {
	evs := loadEvents(b, loadLines(b))
	set := shippedRules(b)
	u := detectors.NewUsers(set.Detectors)
	feats := make([]detectors.Features, len(evs))
	for i := range evs {
		u.Process(&evs[i], &feats[i])
	}
	var e rules.Evaluator
	var out []rules.Decision
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(evs)
		out = e.Evaluate(set, rules.UserStage, &evs[k], &feats[k], false, now, out[:0])
		i++
	}
}

// BenchmarkReplay is one event end to end: read, decode, enrich (cached),
// both stages, rules, and decisions written as JSON Lines to io.Discard.
func BenchmarkReplay(b *testing.B) {
	lines := loadLines(b)
	set := shippedRules(b)
	db, _ := geoip.Open(testenv.City, testenv.ASN)
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	data := buf.Bytes()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	events := 0
	for b.Loop() {
		eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 100_000))
		sink := alerting.NewJSONLines(io.Discard)
		_, err := pipeline.Replay(context.Background(), pipeline.ReplayConfig{
			Engine: eng, Input: bytes.NewReader(data), Output: sink.Write,
		})
		if err != nil {
			b.Fatal(err)
		}
		sink.Flush()
		events += len(lines)
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(events), "allocs/event")
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
