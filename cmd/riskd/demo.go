package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/storage"
)

// demoFlags are the settings of `riskd demo`.
type demoFlags struct {
	events, labels, city, asn, rulesDir string
	rate, partitions                    int
	metricsAddr, out, clickhouse        string
	verbose                             bool
}

// parseDemoFlags parses the command line of `riskd demo`; every default
// points into testdata/, so that the demo runs from a checkout with no
// flags at all.
func parseDemoFlags(args []string, stderr io.Writer) (*demoFlags, error) {
	f := &demoFlags{}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.events, "events", "testdata/scenarios/traffic.jsonl", "labelled traffic to produce (generated in memory when the file is missing)")
	fs.StringVar(&f.labels, "labels", "testdata/scenarios/labels.json", "labels of that traffic")
	fs.StringVar(&f.city, "geoip-city", "testdata/geoip/riskd-test-City.mmdb", "GeoIP City database")
	fs.StringVar(&f.asn, "geoip-asn", "testdata/geoip/riskd-test-ASN.mmdb", "GeoIP ASN database")
	fs.StringVar(&f.rulesDir, "rules", "", "folder of rule files (default: the shipped pack)")
	fs.IntVar(&f.rate, "rate", 3000, "events produced per second (0: as fast as possible)")
	fs.IntVar(&f.partitions, "partitions", 4, "partitions of the demo topics")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9464", "where /metrics is served while the demo runs")
	fs.BoolVar(&f.verbose, "v", false, "log the engine's own messages")
	fs.StringVar(&f.out, "out", "", "also write the decisions the downstream consumer received to this file (JSON Lines)")
	fs.StringVar(&f.clickhouse, "clickhouse", "", "also store features and decisions in this ClickHouse (clickhouse://HOST:PORT/DB) and query them at the end")
	return f, fs.Parse(args)
}

// demo is one run of `riskd demo`: what it set up, for the report. Its
// closers run in reverse order when the demo ends.
type demo struct {
	f       *demoFlags
	say     func(format string, a ...any)
	log     zerolog.Logger
	reg     *prometheus.Registry
	addr    string // of the metrics server
	cfg     stream.Config
	chConn  driver.Conn
	chDB    string
	closers []func()
}

// close releases what the demo set up, last first, as deferred calls
// would: nothing closes while something set up after it may still use
// it (the sink stops before its connection, the writer before the broker).
func (d *demo) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// demoCmd is `riskd demo`: the streaming path on an embedded Kafka-protocol
// broker (kfake, in this process), fed the labelled sample traffic as the
// upstream services would produce it, with a downstream consumer reading
// the decisions, and a report at the end.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	lvl := zerolog.WarnLevel
	if f.verbose {
		lvl = zerolog.InfoLevel
	}
	d := &demo{f: f, log: newLogger(stderr).Level(lvl), reg: prometheus.NewRegistry(),
		say: func(format string, a ...any) { fmt.Fprintf(stderr, "demo: "+format+"\n", a...) }}
	defer d.close()
	traffic, labels, err := demoTraffic(f.events, f.labels, d.say)
	if err != nil {
		return err
	}
	if err := d.setup(); err != nil {
		return err
	}
	member, err := stream.New(d.cfg)
	if err != nil {
		return err
	}
	runCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	runErr := make(chan error, 1)
	go func() { runErr <- member.Run(runCtx) }()
	if err := waitReady(ctx, member, runErr); err != nil {
		return err
	}
	d.say("riskd joined group riskd-demo; %d rules, version %s", len(d.cfg.Rules.Rules), d.cfg.Rules.Version)
	res, err := d.traffic(ctx, stderr, traffic, len(labels.Attacks))
	if err != nil {
		return err
	}
	stopStream()
	if err := <-runErr; err != nil {
		return err
	}
	return d.report(ctx, stdout, traffic, labels, res)
}

// setup starts the embedded broker, the metrics server and, with
// --clickhouse, the sink, and fills in the stream's configuration.
func (d *demo) setup() error {
	set, err := loadRules(d.f.rulesDir)
	if err != nil {
		return err
	}
	db, warns := geoip.Open(d.f.city, d.f.asn)
	for _, w := range warns {
		d.say("geoip: %v (locations unknown: impossible travel abstains)", w)
	}
	d.closers = append(d.closers, func() { db.Close() })
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		return fmt.Errorf("embedded broker: %w", err)
	}
	d.closers = append(d.closers, cluster.Close)
	brokers := cluster.ListenAddrs()
	d.say("embedded Kafka-protocol broker (kfake) on %s", strings.Join(brokers, ","))
	srv, err := serveOps(d.f.metricsAddr, d.reg, func() bool { return true })
	if err != nil {
		// Another riskd may hold the usual port; any free one will do.
		if srv, err = serveOps("127.0.0.1:0", d.reg, func() bool { return true }); err != nil {
			return err
		}
	}
	d.closers = append(d.closers, func() { srv.Close() })
	d.addr = srv.Addr
	d.cfg = stream.Config{
		Brokers: brokers, Group: "riskd-demo",
		Topics:         []string{"auth-events", "txn-events"},
		DecisionsTopic: "risk-decisions", DLQTopic: "risk-events-dlq", IPTopic: "riskd-riskd-demo-ip-repartition",
		UserStateTopic: "riskd-riskd-demo-user-state", IPStateTopic: "riskd-riskd-demo-ip-state",
		Rules: set, GeoIP: db, Metrics: stream.NewMetrics(d.reg), Log: d.log,
		CreateTopics: true, Partitions: d.f.partitions,
		Writer: alerting.NewWriter(brokers),
	}
	d.closers = append(d.closers, func() { d.cfg.Writer.Close() })
	if d.f.clickhouse != "" {
		return d.startSink()
	}
	return nil
}

// startSink runs the ClickHouse sink beside the stream; it stops after the
// stream has drained (closers run last in, first out).
func (d *demo) startSink() error {
	conn, db, err := storage.Open(d.f.clickhouse)
	if err != nil {
		return err
	}
	d.chConn, d.chDB = conn, db
	d.closers = append(d.closers, func() { conn.Close() })
	d.cfg.FeaturesTopic = "risk-features"
	sinkCtx, stopSink := context.WithCancel(context.Background())
	sinkDone := make(chan struct{})
	d.closers = append(d.closers, func() { stopSink(); <-sinkDone })
	settings := sinkSettings{featuresTopic: d.cfg.FeaturesTopic, maxRows: 20000, dlqTopic: d.cfg.DLQTopic}
	go func() {
		defer close(sinkDone)
		if err := runSink(sinkCtx, d.f.clickhouse, d.cfg.Brokers, d.cfg.Group, d.cfg.DecisionsTopic, settings, d.reg, d.log); err != nil {
			d.say("clickhouse sink: %v", err)
		}
	}()
	return nil
}

// waitReady waits until m has joined its group.
func waitReady(ctx context.Context, m *stream.Member, runErr <-chan error) error {
	for !m.Ready() {
		select {
		case err := <-runErr:
			return fmt.Errorf("stream: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// demoRun is what the traffic phase measured.
type demoRun struct {
	down                *downstream
	elapsed, producedIn time.Duration
}

// traffic produces the events as the upstream services would, with a
// downstream consumer group reading the decisions, and returns when every
// event is consumed and the decisions have stopped coming.
func (d *demo) traffic(ctx context.Context, stderr io.Writer, traffic [][]byte, attacks int) (demoRun, error) {
	down := &downstream{produced: map[string]time.Time{}}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: d.cfg.Brokers, GroupID: "demo-gateway", Topic: d.cfg.DecisionsTopic,
		MaxWait: 20 * time.Millisecond, CommitInterval: time.Second, StartOffset: kafka.FirstOffset,
	})
	defer reader.Close()
	go down.follow(ctx, reader)
	// Logins and tokens on auth-events, transactions on txn-events, keyed
	// by user_id.
	producer := &kafka.Writer{Addr: kafka.TCP(d.cfg.Brokers...), Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer producer.Close()
	d.say("producing %d events (%d users, %d labelled attacks) at %s", len(traffic), countUsers(traffic), attacks, rateText(d.f.rate))
	start := time.Now()
	progress := newProgress(stderr)
	if err := produceTraffic(ctx, producer, traffic, d.f.rate, down, func(n int) {
		progress.show("produced %d/%d events · %d decisions received", n, len(traffic), down.count())
	}); err != nil {
		return demoRun{}, err
	}
	producedIn := time.Since(start)
	quietSince, last := time.Now(), -1
	for time.Since(quietSince) < 2500*time.Millisecond {
		if n := down.count(); n != last {
			quietSince, last = time.Now(), n
		}
		progress.show("produced %d/%d events · %d decisions received · waiting for the last ones", len(traffic), len(traffic), last)
		select {
		case <-ctx.Done():
			return demoRun{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	progress.done()
	return demoRun{down: down, elapsed: down.lastAt().Sub(start), producedIn: producedIn}, nil
}
