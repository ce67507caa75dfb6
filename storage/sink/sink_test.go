package sink_test

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/storage"
	"github.com/riskd/riskd/storage/sink"
)

// TestSinkSurvivesClickHouseOutage streams the labelled traffic with the
// ClickHouse sink on, stops ClickHouse in the middle, keeps producing (and
// checks that decisions keep coming), starts it again, and checks that
// every event and every decision has exactly one row after OPTIMIZE FINAL.
func TestSinkSurvivesClickHouseOutage(t *testing.T) {
	dsn, _ := chtest.DSN(t)
	conn, db := chtest.Open(t, dsn)
	b := streamtest.Embedded(t)
	tp := streamtest.NewTopics(t, b)
	features := streamtest.Names(b.Name, "features")[0]
	recs, data := streamtest.TrafficRecords(t, tp)
	want, sum := testenv.ReplayAll(t, data, false)

	s := streamtest.NewMemberWith(t, b, tp, "riskd-"+tp.Auth, false, func(c *stream.Config) { c.FeaturesTopic = features })
	stopStream := streamtest.Run(s)
	sinkCtx, stopSink := context.WithCancel(context.Background())
	sinkDone := make(chan error, 1)
	go func() {
		sinkDone <- sink.Run(sinkCtx, sink.Config{
			Brokers: b.Addrs, Group: "sink-" + tp.Auth, FeaturesTopic: features, DecisionsTopic: tp.Decisions,
			Features: storage.Features(conn, db), Decisions: storage.Decisions(conn, db),
			Interval: 200 * time.Millisecond, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
	}()

	half := len(recs) / 2
	streamtest.Produce(t, b, recs[:half])
	waitRows(t, conn, db, "risk_features", 1, 15*time.Second)

	chtest.Server(t, "stop")
	t.Log("ClickHouse stopped")
	for i := half; i < len(recs); i += 200 {
		streamtest.Produce(t, b, recs[i:min(i+200, len(recs))])
	}
	// Decisions do not wait for ClickHouse. (Produced live in chunks, the
	// two topics arrive with some skew, so a few decisions may differ from
	// replay's; the rows must match the topic exactly.)
	all, quiet := streamtest.HaveAll(want), streamtest.Quiet(3*time.Second)
	got := streamtest.Consume(t, b, tp.Decisions, time.Minute, func(r []*kgo.Record) bool { return all(r) || quiet(r) })
	byID, _ := streamtest.DecisionIDs(t, got)
	if len(byID) < len(want)*9/10 {
		t.Fatalf("during the outage only %d decisions reached the topic; replay makes %d", len(byID), len(want))
	}
	t.Logf("%d decisions on the topic during the outage (replay: %d)", len(byID), len(want))
	time.Sleep(2 * time.Second) // the sink fails and retries
	chtest.Server(t, "restart")
	t.Log("ClickHouse started again")

	waitRows(t, conn, db, "risk_features", uint64(sum.Accepted), 2*time.Minute)
	waitRows(t, conn, db, "risk_decisions", uint64(len(byID)), time.Minute)
	stopSink()
	if err := <-sinkDone; err != nil {
		t.Errorf("sink: %v", err)
	}
	if err, _ := stopStream(); err != nil {
		t.Errorf("stream: %v", err)
	}
	ctx := context.Background()
	n, uniq := chtest.Optimize(t, conn, db)
	if n != uint64(sum.Accepted) || uniq != n {
		t.Errorf("risk_features after OPTIMIZE FINAL: %d rows, %d event ids; want %d", n, uniq, sum.Accepted)
	}
	rows, err := conn.Query(ctx, "SELECT decision_id FROM "+db+".risk_decisions")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		stored[id]++
	}
	rows.Close()
	for id := range byID {
		if stored[id] != 1 {
			t.Errorf("decision %s has %d rows", id, stored[id])
		}
	}
	if len(stored) != len(byID) {
		t.Errorf("risk_decisions holds %d ids, the topic %d", len(stored), len(byID))
	}
}

// waitRows waits until table holds at least n rows (FINAL).
func waitRows(t *testing.T, conn driver.Conn, db, table string, n uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got uint64
	for time.Now().Before(deadline) {
		err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+"."+table+" FINAL").Scan(&got)
		if err == nil && got >= n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %d rows after %s, want %d", table, got, timeout, n)
}
