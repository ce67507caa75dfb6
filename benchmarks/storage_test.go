package benchmarks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/storage"
	"github.com/riskd/riskd/storage/sink"
)

// BenchmarkClickHouseWrite compares, on the same feature rows of the
// shipped traffic (13,755 events plus the address stage's rows), in one
// run against the test ClickHouse:
//
//   - Plain: a plain clickhouse-go batch insert of prepared values;
//   - Table: storage.Table.Insert, the sink's insert (explicit columns,
//     retries), rows made from the feature records;
//   - Sink: the whole sink, from the features topic on the embedded broker
//     to rows in ClickHouse with offsets committed (four copies of the
//     rows, from starting the sink, group join included).
//
// One op is all the rows; rows/s is reported.
func BenchmarkClickHouseWrite(b *testing.B) {
	dsn, _ := chtest.DSN(b)
	conn, db := chtest.Open(b, dsn)
	fx := chtest.NewFixture(b, "../")
	table := storage.Features(conn, db)
	rows := make([][]any, len(fx.Features))
	for i, m := range fx.Features {
		r, err := table.Row(m)
		if err != nil {
			b.Fatal(err)
		}
		rows[i] = r
	}
	ctx := context.Background()
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
	}

	b.Run("Plain", func(b *testing.B) {
		insert := "INSERT INTO " + db + ".risk_features (" + strings.Join(storage.FeatureColumns(), ", ") + ")"
		for i := 0; i < b.N; i++ {
			batch, err := conn.PrepareBatch(ctx, insert)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rows {
				if err := batch.Append(r...); err != nil {
					b.Fatal(err)
				}
			}
			if err := batch.Send(); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("Table", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			made := make([][]any, len(fx.Features))
			for j, m := range fx.Features {
				made[j], _ = table.Row(m)
			}
			if err := table.Insert(ctx, made, nil); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("Sink", func(b *testing.B) {
		br := streamtest.Embedded(b)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			topic := streamtest.Names("sink", "features")[0]
			streamtest.CreateTopics(b, br, 4, topic)
			// Four copies, so that joining the group (about a second) is a
			// small part of the op; the copies fold in the table.
			var recs []*kgo.Record
			for c := 0; c < sinkCopies; c++ {
				for _, m := range fx.Features {
					recs = append(recs, &kgo.Record{Topic: topic, Value: m})
				}
			}
			streamtest.Produce(b, br, recs)
			metrics := sink.NewMetrics(nil)
			sctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			b.StartTimer()
			go func() {
				done <- sink.Run(sctx, sink.Config{
					Brokers: br.Addrs, Group: "bench-" + topic, FeaturesTopic: topic,
					Features: table, Log: zerolog.Nop(), Metrics: metrics,
				})
			}()
			// The sink's own count of rows inserted: the table's count()
			// folds the copies as ClickHouse merges them.
			waitInserted(b, metrics, sinkCopies*len(rows), done)
			b.StopTimer()
			stop()
			<-done
		}
		b.ReportMetric(float64(b.N*sinkCopies*len(rows))/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("SinkSteady", func(b *testing.B) { sinkSteady(b, table, fx.Features, len(rows)) })
}

// sinkSteady is the sink once it runs: started on an empty features topic
// (embedded broker) and through its first insert, then one op is
// steadyCopies copies of the rows produced and all of them inserted,
// offsets committed. The last insert of an op waits for the sink's
// interval (a second) like any partial batch; with 16 copies (about
// 260,000 rows) that is a small part of the op.
func sinkSteady(b *testing.B, table *storage.Table, features [][]byte, rows int) {
	br := streamtest.Embedded(b)
	topic := streamtest.Names("sink", "steady")[0]
	streamtest.CreateTopics(b, br, 4, topic)
	metrics := sink.NewMetrics(nil)
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sink.Run(sctx, sink.Config{Brokers: br.Addrs, Group: "bench-" + topic, FeaturesTopic: topic,
			Features: table, Log: zerolog.Nop(), Metrics: metrics})
	}()
	defer func() { stop(); <-done }()
	streamtest.Produce(b, br, []*kgo.Record{{Topic: topic, Value: features[0]}})
	waitInserted(b, metrics, 1, done)
	want := 1
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var recs []*kgo.Record
		for c := 0; c < steadyCopies; c++ {
			for _, m := range features {
				recs = append(recs, &kgo.Record{Topic: topic, Value: m})
			}
		}
		b.StartTimer()
		streamtest.Produce(b, br, recs)
		want += steadyCopies * rows
		waitInserted(b, metrics, want, done)
	}
	b.ReportMetric(float64(b.N*steadyCopies*rows)/b.Elapsed().Seconds(), "rows/s")
}

const steadyCopies = 16

// waitInserted waits until the sink has inserted n rows in all, failing
// when it ends first or takes over two minutes.
func waitInserted(b *testing.B, m *sink.Metrics, n int, done <-chan error) {
	deadline := time.Now().Add(2 * time.Minute)
	for inserted(m) < n {
		select {
		case err := <-done:
			b.Fatalf("the sink ended with %d of %d rows inserted: %v", inserted(m), n, err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d rows inserted after two minutes", inserted(m), n)
		}
	}
}

const sinkCopies = 4

// inserted sums riskd_sink_rows_total over the tables.
func inserted(m *sink.Metrics) int {
	ch := make(chan prometheus.Metric, 16)
	go func() { m.Rows.Collect(ch); close(ch) }()
	total := 0.0
	for c := range ch {
		var d dto.Metric
		_ = c.Write(&d)
		total += d.GetCounter().GetValue()
	}
	return int(total)
}
