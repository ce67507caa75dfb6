package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/storage"
)

// demoCmd is `riskd demo`: the streaming path on an embedded Kafka-protocol
// broker (kfake, in this process), fed the labelled sample traffic as the
// upstream services would produce it, with a downstream consumer reading
// the decisions, and a report at the end.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	events := fs.String("events", "testdata/scenarios/traffic.jsonl", "labelled traffic to produce (generated in memory when the file is missing)")
	labelsPath := fs.String("labels", "testdata/scenarios/labels.json", "labels of that traffic")
	city := fs.String("geoip-city", "testdata/geoip/riskd-test-City.mmdb", "GeoIP City database")
	asn := fs.String("geoip-asn", "testdata/geoip/riskd-test-ASN.mmdb", "GeoIP ASN database")
	rulesDir := fs.String("rules", "", "folder of rule files (default: the shipped pack)")
	rate := fs.Int("rate", 3000, "events produced per second (0: as fast as possible)")
	partitions := fs.Int("partitions", 4, "partitions of the demo topics")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9464", "where /metrics is served while the demo runs")
	verbose := fs.Bool("v", false, "log the engine's own messages")
	outPath := fs.String("out", "", "also write the decisions the downstream consumer received to this file (JSON Lines)")
	chDSN := fs.String("clickhouse", "", "also store features and decisions in this ClickHouse (clickhouse://HOST:PORT/DB) and query them at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lvl := zerolog.WarnLevel
	if *verbose {
		lvl = zerolog.InfoLevel
	}
	log := newLogger(stderr).Level(lvl)
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "demo: "+format+"\n", a...) }

	traffic, labels, err := demoTraffic(*events, *labelsPath, say)
	if err != nil {
		return err
	}
	set, err := loadRules(*rulesDir)
	if err != nil {
		return err
	}
	db, warns := geoip.Open(*city, *asn)
	for _, w := range warns {
		say("geoip: %v (locations unknown: impossible travel abstains)", w)
	}
	defer db.Close()

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		return fmt.Errorf("embedded broker: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	say("embedded Kafka-protocol broker (kfake) on %s", strings.Join(brokers, ","))

	reg := prometheus.NewRegistry()
	metrics := stream.NewMetrics(reg)
	srv, err := serveOps(*metricsAddr, reg, func() bool { return true })
	if err != nil {
		// Another riskd may hold the usual port; any free one will do.
		if srv, err = serveOps("127.0.0.1:0", reg, func() bool { return true }); err != nil {
			return err
		}
	}
	defer srv.Close()
	addr := srv.Addr

	cfg := stream.Config{
		Brokers: brokers, Group: "riskd-demo",
		Topics:         []string{"auth-events", "txn-events"},
		DecisionsTopic: "risk-decisions", DLQTopic: "risk-events-dlq", IPTopic: "riskd-riskd-demo-ip-repartition",
		Rules: set, GeoIP: db, Metrics: metrics, Log: log,
		CreateTopics: true, Partitions: *partitions,
		Writer: alerting.NewWriter(brokers),
	}
	defer cfg.Writer.Close()
	var chConn driver.Conn
	var chDB string
	if *chDSN != "" {
		if chConn, chDB, err = storage.Open(*chDSN); err != nil {
			return err
		}
		defer chConn.Close()
		cfg.FeaturesTopic = "risk-features"
		sinkCtx, stopSink := context.WithCancel(context.Background())
		sinkDone := make(chan struct{})
		defer func() { stopSink(); <-sinkDone }()
		go func() {
			defer close(sinkDone)
			if err := runSink(sinkCtx, *chDSN, brokers, cfg.Group, cfg.DecisionsTopic, sinkSettings{featuresTopic: cfg.FeaturesTopic, maxRows: 20000}, reg, log); err != nil {
				say("clickhouse sink: %v", err)
			}
		}()
	}
	stream, err := stream.New(cfg)
	if err != nil {
		return err
	}
	runCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	runErr := make(chan error, 1)
	go func() { runErr <- stream.Run(runCtx) }()
	for !stream.Ready() {
		select {
		case err := <-runErr:
			return fmt.Errorf("stream: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	say("riskd joined group riskd-demo; %d rules, version %s", len(set.Rules), set.Version)

	// The downstream service: a consumer group of its own on the decisions.
	down := &downstream{produced: map[string]time.Time{}}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, GroupID: "demo-gateway", Topic: cfg.DecisionsTopic,
		MaxWait: 20 * time.Millisecond, CommitInterval: time.Second, StartOffset: kafka.FirstOffset,
	})
	defer reader.Close()
	go down.follow(ctx, reader)

	// The upstream services: logins and tokens on auth-events,
	// transactions on txn-events, keyed by user_id.
	producer := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer producer.Close()
	say("producing %d events (%d users, %d labelled attacks) at %s", len(traffic), countUsers(traffic), len(labels.Attacks), rateText(*rate))
	start := time.Now()
	progress := newProgress(stderr)
	if err := produceTraffic(ctx, producer, traffic, *rate, down, func(n int) {
		progress.show("produced %d/%d events · %d decisions received", n, len(traffic), down.count())
	}); err != nil {
		return err
	}
	producedIn := time.Since(start)
	// Done when every event is consumed and the decisions stop coming.
	quietSince, last := time.Now(), -1
	for time.Since(quietSince) < 2500*time.Millisecond {
		if n := down.count(); n != last {
			quietSince, last = time.Now(), n
		}
		progress.show("produced %d/%d events · %d decisions received · waiting for the last ones", len(traffic), len(traffic), last)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	progress.done()
	elapsed := down.lastAt().Sub(start)
	stopStream()
	if err := <-runErr; err != nil {
		return err
	}

	ds, lat := down.results()
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			return err
		}
		jl := alerting.NewJSONLines(f)
		err = jl.Write(ds)
		if ferr := jl.Flush(); err == nil {
			err = ferr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\nriskd demo: %d events through the streaming path (embedded broker, %d partitions, group riskd-demo)\n\n", len(traffic), *partitions)
	fmt.Fprintf(stdout, "attacks caught (a decision naming the expected detector, at least the expected action):\n%s\n", scenario.Score(labels, ds))
	fmt.Fprintf(stdout, "decisions received by the downstream consumer: %d\n", len(ds))
	for _, line := range countDecisions(ds) {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	fmt.Fprintf(stdout, "\nthroughput: %d events in %s, %.0f events/s (produced in %s at %s)\n", len(traffic), elapsed.Round(time.Millisecond),
		float64(len(traffic))/elapsed.Seconds(), producedIn.Round(time.Millisecond), rateText(*rate))
	if len(lat) > 0 {
		fmt.Fprintf(stdout, "latency, event produced to decision received downstream: p50 %s, p90 %s, p99 %s, max %s (%d decisions)\n",
			pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), pct(lat, 1), len(lat))
	}
	fmt.Fprintf(stdout, "\nengine metrics (served at http://%s/metrics while the demo ran):\n", addr)
	for _, line := range metricSummary(reg) {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	chLine := "ClickHouse: not configured; riskd demo --clickhouse clickhouse://HOST:9000/DB (or riskd run --clickhouse) stores features and decisions"
	if chConn != nil {
		chLine = demoClickHouse(ctx, stdout, chConn, chDB, len(traffic))
	}
	fmt.Fprintf(stdout, `
where to look next:
  riskd run --brokers HOST:PORT      the same path against your Kafka (README: "Running riskd")
  curl -s http://127.0.0.1:9464/metrics | grep ^riskd_     while riskd run is up
  riskd replay --events FILE ...     the same decisions offline
  %s
`, chLine)
	return nil
}

// demoClickHouse waits for the sink to store the demo's events and shows
// what an analyst sees.
func demoClickHouse(ctx context.Context, w io.Writer, conn driver.Conn, db string, events int) string {
	var n uint64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if conn.QueryRow(ctx, "SELECT count() FROM "+db+".risk_features FINAL").Scan(&n) == nil && n >= uint64(events) {
			break
		}
	}
	var d uint64
	_ = conn.QueryRow(ctx, "SELECT count() FROM "+db+".risk_decisions FINAL").Scan(&d)
	fmt.Fprintf(w, "\nClickHouse %s: risk_features %d rows (of %d events), risk_decisions %d rows\n", db, n, events, d)
	for _, q := range storage.Queries() {
		if q.Name != "top_risky_users" {
			continue
		}
		rows, err := conn.Query(ctx, q.Bind(db, time.Unix(0, 0), time.Now().AddDate(10, 0, 0), ""))
		if err != nil {
			fmt.Fprintf(w, "  %s: %v\n", q.Name, err)
			break
		}
		fmt.Fprintf(w, "top risky users (storage/queries.sql: %s):\n", q.Name)
		for i := 0; rows.Next() && i < 5; i++ {
			var user string
			var lockouts, stepUps uint64
			var score float64
			var ruleIDs []string
			if rows.Scan(&user, &lockouts, &stepUps, &score, &ruleIDs) == nil {
				fmt.Fprintf(w, "  %-10s lockouts %3d  step-ups %3d  max score %3.0f  %s\n", user, lockouts, stepUps, score, strings.Join(ruleIDs, ","))
			}
		}
		rows.Close()
	}
	return "riskd backtest --clickhouse DSN --rules DIR --from 2026-03-01 --to 2026-03-08   try a rule change on these rows"
}
