package benchmarks

import (
	"testing"

	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/record"
	"github.com/riskd/riskd/storage"
)

// featureRecords returns the feature records the user stage writes for the
// shipped traffic, as the features topic carries them.
func featureRecords(b *testing.B) [][]byte {
	b.Helper()
	lines := loadLines(b)
	evs := loadEvents(b, lines)
	eng := pipeline.NewEngine(shippedRules(b))
	out := make([][]byte, 0, len(evs))
	for i := range evs {
		if _, _, err := eng.DecideUser(&evs[i], testenv.Now(), nil); err != nil {
			continue
		}
		out = append(out, record.AppendFeature(nil, &record.Feature{Stage: record.StageUser,
			RulesVersion: "v", Event: evs[i], Raw: lines[i], Features: *eng.Features()}))
	}
	return out
}

// BenchmarkFeatureRow is the sink's row making per record: a feature
// record of the features topic to the values of a risk_features row.
func BenchmarkFeatureRow(b *testing.B) {
	recs := featureRecords(b)
	t := storage.Features(nil, "bench")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := t.Row(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObservation is the repartition hop per login attempt: the
// user stage's record encoded, and decoded by the address stage.
func BenchmarkObservation(b *testing.B) {
	recs := featureRecords(b)
	obs := make([]record.Observation, len(recs))
	for i, r := range recs {
		var f record.Feature
		if err := record.DecodeFeature(r, &f); err != nil {
			b.Fatal(err)
		}
		obs[i] = record.Observation{Sources: 4, Event: f.Event, Raw: f.Raw, Features: f.Features}
	}
	var buf []byte
	var o record.Observation
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = record.AppendObservation(buf[:0], &obs[i%len(obs)])
		if err := record.DecodeObservation(buf, &o); err != nil {
			b.Fatal(err)
		}
	}
}
