package sink_test

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline/record"
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

// TestSinkDeadLetters gives the sink a feature record of an unknown
// format version, a record that is no feature record and a decision
// that is not JSON beside a good decision, and checks that the good one
// is inserted, the three others are on the dead-letter topic with the
// stream's headers and counted by reason, and every offset is committed.
func TestSinkDeadLetters(t *testing.T) {
	dsn, _ := chtest.DSN(t)
	conn, db := chtest.Open(t, dsn)
	b := streamtest.Embedded(t)
	n := streamtest.Names(b.Name, "features", "decisions", "dlq")
	features, decisions, dlq := n[0], n[1], n[2]
	streamtest.CreateTopics(t, b, 1, features, decisions, dlq)
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	good := `{"decision_id":"d1","event_id":"e1","user_id":"u1","subject":{"kind":"user","id":"u1"},"action":"block",` +
		`"ts":"` + ts + `","decided_at":"` + ts + `","expires_at":"` + ts + `","mode":"enforce","rules_version":"v1","reasons":[]}`
	streamtest.Produce(t, b, []*kgo.Record{
		{Topic: features, Key: []byte("u1"), Value: []byte{record.Version + 1, record.KindFeature, 1, 2, 3}, Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}},
		{Topic: features, Key: []byte("u2"), Value: []byte{record.Version, record.KindObservation}}, // of the right version, not a feature record
		{Topic: decisions, Key: []byte("u1"), Value: []byte(good)},
		{Topic: decisions, Key: []byte("u3"), Value: []byte("{")},
	})

	metrics := sink.NewMetrics(nil)
	group := "sink-" + features
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sink.Run(ctx, sink.Config{
			Brokers: b.Addrs, Group: group, FeaturesTopic: features, DecisionsTopic: decisions, DLQTopic: dlq,
			Features: storage.Features(conn, db), Decisions: storage.Decisions(conn, db), Metrics: metrics,
			Interval: 200 * time.Millisecond, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
	}()
	got := streamtest.Consume(t, b, dlq, 30*time.Second, func(r []*kgo.Record) bool { return len(r) >= 3 })
	waitRows(t, conn, db, "risk_decisions", 1, 30*time.Second)
	// The offsets are committed right after the dead letters are written.
	waitCommitted(t, b, group, map[string]int64{features: 2, decisions: 2}, 15*time.Second)
	stop()
	if err := <-done; err != nil {
		t.Errorf("sink: %v", err)
	}

	want := map[string]struct{ reason, topic, offset string }{
		"u1": {"unknown_record_version", features, "0"},
		"u2": {"invalid_record", features, "1"},
		"u3": {"invalid_record", decisions, "1"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d dead letters, want %d", len(got), len(want))
	}
	for _, r := range got {
		w, ok := want[string(r.Key)]
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if !ok || h["riskd-reason"] != w.reason || h["riskd-topic"] != w.topic || h["riskd-offset"] != w.offset || h["riskd-partition"] != "0" || h["riskd-error"] == "" {
			t.Errorf("dead letter %s: headers %v, want reason %s from %s offset %s", r.Key, h, w.reason, w.topic, w.offset)
		}
		if string(r.Key) == "u1" && (h["trace"] != "abc" || len(r.Value) != 5) {
			t.Errorf("dead letter u1 lost the original's bytes or headers: value %v, headers %v", r.Value, h)
		}
	}
	for _, c := range []struct {
		table, reason string
		want          float64
	}{
		{storage.Features(conn, db).Name(), "unknown_record_version", 1},
		{storage.Features(conn, db).Name(), "invalid_record", 1},
		{storage.Decisions(conn, db).Name(), "invalid_record", 1},
	} {
		var m dto.Metric
		if err := metrics.Rejected.WithLabelValues(c.table, c.reason).Write(&m); err != nil || m.GetCounter().GetValue() != c.want {
			t.Errorf("riskd_sink_rejected_total{table=%q,reason=%q} = %v (%v), want %v", c.table, c.reason, m.GetCounter().GetValue(), err, c.want)
		}
	}
}

// TestSinkDeadLettersBeforeCommit points the sink at a dead-letter topic
// that does not exist yet (the embedded broker creates none by itself)
// and checks that the rejected message's offset is not committed until
// the topic is created and its dead letter written. No row is made, so no
// ClickHouse is needed.
func TestSinkDeadLettersBeforeCommit(t *testing.T) {
	b := streamtest.Embedded(t)
	n := streamtest.Names(b.Name, "features", "dlq")
	features, dlq := n[0], n[1]
	streamtest.CreateTopics(t, b, 1, features)
	streamtest.Produce(t, b, []*kgo.Record{{Topic: features, Key: []byte("u1"), Value: []byte{record.Version + 1, record.KindFeature}}})

	group := "sink-" + features
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sink.Run(ctx, sink.Config{
			Brokers: b.Addrs, Group: group, FeaturesTopic: features, DLQTopic: dlq,
			Features: storage.Features(nil, "db"), Interval: 100 * time.Millisecond,
			Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
	}()
	time.Sleep(3 * time.Second) // the sink joins, reads, and fails to write the dead letter
	adm := kadm.NewClient(streamtest.Client(t, b))
	offs, err := adm.FetchOffsets(context.Background(), group)
	if o, ok := offs.Lookup(features, 0); err == nil && ok && o.At > 0 {
		t.Fatalf("offset %d committed before the dead letter was written", o.At)
	}
	streamtest.CreateTopics(t, b, 1, dlq)
	got := streamtest.Consume(t, b, dlq, 30*time.Second, func(r []*kgo.Record) bool { return len(r) >= 1 })
	if len(got) != 1 {
		t.Fatalf("%d dead letters after the topic was created, want 1", len(got))
	}
	waitCommitted(t, b, group, map[string]int64{features: 1}, 15*time.Second)
	stop()
	if err := <-done; err != nil {
		t.Errorf("sink: %v", err)
	}
}

// waitCommitted waits until group has committed at least the given offset
// of partition 0 of each topic.
func waitCommitted(t *testing.T, b streamtest.Broker, group string, want map[string]int64, timeout time.Duration) {
	t.Helper()
	adm := kadm.NewClient(streamtest.Client(t, b))
	deadline := time.Now().Add(timeout)
	for {
		offs, err := adm.FetchOffsets(context.Background(), group)
		ok := err == nil
		for topic, off := range want {
			o, found := offs.Lookup(topic, 0)
			ok = ok && found && o.At >= off
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: committed %v (%v), want %v", group, offs, err, want)
		}
		time.Sleep(100 * time.Millisecond)
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
