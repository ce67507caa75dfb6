package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/storage"
)

// runFlags are the settings of `riskd run`; each is a flag, a config key
// and a RISKD_* variable.
type runFlags struct {
	fs             *flag.FlagSet
	brokers        listFlag
	group          string
	topics         listFlag
	decisionsTopic string
	dlqTopic       string
	ipTopic        string
	userState      string
	ipState        string
	memoryState    bool
	geoCity        string
	geoASN         string
	rulesDir       string
	clickhouse     string
	metricsAddr    string
	emit           choiceFlag
	createTopics   bool
	partitions     int
	replication    int
	startOffset    choiceFlag
	maxBatch       int
	flushInterval  time.Duration
	commitInterval time.Duration
	drainTimeout   time.Duration
	maxMessage     int
	ipHold         time.Duration
	mergeGrace     time.Duration
	logLevel       choiceFlag
	logFormat      choiceFlag
	sink           sinkSettings
	kafkaSec       kafkaSecurityFlags
	noSink         bool
	pprof          bool
}

// newRunFlags declares the flags of `riskd run` with their defaults. `riskd
// sink` shares them (name is the flag set's), so that one config file and
// one set of RISKD_* variables serve both commands.
func newRunFlags(name string, stderr io.Writer) *runFlags {
	f := &runFlags{
		fs:          flag.NewFlagSet(name, flag.ContinueOnError),
		topics:      listFlag{"auth-events", "txn-events"},
		emit:        choiceFlag{"non-allow", []string{"non-allow", "all"}},
		startOffset: choiceFlag{"first", []string{"first", "last"}},
		logLevel:    choiceFlag{"info", []string{"debug", "info", "warn", "error"}},
		logFormat:   choiceFlag{"auto", []string{"auto", "json", "console"}},
	}
	fs := f.fs
	fs.SetOutput(stderr)
	fs.String("config", "", "YAML file of settings: keys are these flag names; RISKD_* variables override it, flags override both")
	fs.Var(&f.brokers, "brokers", "Kafka bootstrap brokers, HOST:PORT[,HOST:PORT...]")
	fs.StringVar(&f.group, "group", "riskd", "consumer group id shared by the fleet")
	fs.Var(&f.topics, "topics", "input topics, keyed by user_id, with the same partition count")
	fs.StringVar(&f.decisionsTopic, "decisions-topic", "risk-decisions", "topic for decisions, keyed by subject id")
	fs.StringVar(&f.dlqTopic, "dlq-topic", "risk-events-dlq", "dead-letter topic for rejected events (original bytes, reason in headers)")
	fs.StringVar(&f.ipTopic, "ip-topic", "", "internal repartition topic, keyed by address (default riskd-GROUP-ip-repartition); created when missing")
	fs.StringVar(&f.userState, "user-state-topic", "", "compacted changelog of the user stage's detector state (default riskd-GROUP-user-state); created when missing")
	fs.StringVar(&f.ipState, "ip-state-topic", "", "compacted changelog of the address stage's detector state (default riskd-GROUP-ip-state); created when missing")
	fs.BoolVar(&f.memoryState, "memory-state", false, "keep detector state in memory only: a restarted member, or a partition that moves, starts empty")
	fs.StringVar(&f.geoCity, "geoip-city", "", "MaxMind DB of the GeoIP2/GeoLite2 City schema (reloaded when the file is replaced)")
	fs.StringVar(&f.geoASN, "geoip-asn", "", "MaxMind DB of the GeoLite2 ASN schema")
	fs.StringVar(&f.rulesDir, "rules", "", "folder of rule files (default: the rule pack shipped in rules/)")
	fs.StringVar(&f.clickhouse, "clickhouse", "", "ClickHouse DSN clickhouse://[USER:PASSWORD@]HOST:PORT/DB[?secure=true&tls_ca_file=PEM] for features and decisions; shown redacted (a password is better in RISKD_CLICKHOUSE)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9464", "address of /metrics, /healthz and /readyz (empty: off)")
	fs.Var(&f.emit, "emit", "which decisions to produce: non-allow or all")
	fs.BoolVar(&f.createTopics, "create-topics", false, "create missing input and output topics at start")
	fs.IntVar(&f.partitions, "partitions", 12, "partitions of topics created by --create-topics")
	fs.IntVar(&f.replication, "replication-factor", 1, "replication factor of created topics")
	fs.Var(&f.startOffset, "start-offset", "where a partition without a committed offset starts: first or last")
	fs.IntVar(&f.maxBatch, "max-batch", 2000, "events whose outputs are written together at most")
	fs.DurationVar(&f.flushInterval, "flush-interval", 20*time.Millisecond, "longest a decision waits for its batch while input keeps coming")
	fs.DurationVar(&f.commitInterval, "commit-interval", time.Second, "how often acknowledged offsets are committed")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Second, "bound on the wait for in-flight writes at shutdown or rebalance")
	fs.IntVar(&f.maxMessage, "max-message-bytes", stream.DefaultMaxMessageBytes,
		"largest message riskd writes (the brokers' message.max.bytes less headroom): an output over it is not written and its input goes to the dead-letter topic (output_too_large); a dead letter over it is cut to fit")
	fs.DurationVar(&f.mergeGrace, "merge-grace", 5*time.Millisecond, "how long an event waits for the events of the same burst on the input topics listed before its own (0: not at all)")
	fs.DurationVar(&f.ipHold, "ip-hold", 2*time.Second, "longest the address stage holds a login attempt back for event-time order")
	fs.Var(&f.logLevel, "log-level", "debug, info, warn or error")
	fs.Var(&f.logFormat, "log-format", "auto (console on a terminal, else JSON), json or console")
	f.sink.register(fs)
	f.kafkaSec.register(fs)
	fs.BoolVar(&f.noSink, "no-sink", false, "with --clickhouse, only publish features: a separate `riskd sink` inserts them")
	fs.BoolVar(&f.pprof, "pprof", false, "also serve Go's runtime profiles (/debug/pprof/) on --metrics-addr")
	return f
}

// logger logs at --log-level in --log-format; auto is console lines for a
// person at a terminal and JSON for a log collector otherwise.
func (f *runFlags) logger(stderr io.Writer) zerolog.Logger {
	var log zerolog.Logger
	switch {
	case f.logFormat.value == "console" || (f.logFormat.value == "auto" && isTerminal(stderr)):
		log = zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05"}).With().Timestamp().Logger()
	default:
		log = zerolog.New(stderr).With().Timestamp().Logger()
	}
	lvl, _ := zerolog.ParseLevel(f.logLevel.value)
	return log.Level(lvl)
}

// streamConfig builds the pipeline's configuration from the flags; the
// caller sets Writer, Metrics and GeoIP.
func (f *runFlags) streamConfig(log zerolog.Logger) (stream.Config, error) {
	if len(f.brokers) == 0 {
		return stream.Config{}, usageError("run needs --brokers HOST:PORT (or RISKD_BROKERS, or brokers: in --config)")
	}
	set, err := loadRules(f.rulesDir)
	if err != nil {
		return stream.Config{}, err
	}
	ipTopic := cmp.Or(f.ipTopic, "riskd-"+f.group+"-ip-repartition")
	userState := cmp.Or(f.userState, "riskd-"+f.group+"-user-state")
	ipState := cmp.Or(f.ipState, "riskd-"+f.group+"-ip-state")
	if f.memoryState {
		userState, ipState = "", ""
	}
	if f.mergeGrace == 0 {
		f.mergeGrace = -1 // StreamConfig: zero is the default, negative none
	}
	start := kafka.FirstOffset
	if f.startOffset.value == "last" {
		start = kafka.LastOffset
	}
	return stream.Config{
		Brokers:           f.brokers,
		Group:             f.group,
		Topics:            f.topics,
		DecisionsTopic:    f.decisionsTopic,
		DLQTopic:          f.dlqTopic,
		IPTopic:           ipTopic,
		UserStateTopic:    userState,
		IPStateTopic:      ipState,
		Rules:             set,
		EmitAll:           f.emit.value == "all",
		Log:               log,
		MaxBatch:          f.maxBatch,
		FlushInterval:     f.flushInterval,
		CommitInterval:    f.commitInterval,
		DrainTimeout:      f.drainTimeout,
		MaxMessageBytes:   f.maxMessage,
		IPHold:            f.ipHold,
		MergeGrace:        f.mergeGrace,
		CreateTopics:      f.createTopics,
		Partitions:        f.partitions,
		ReplicationFactor: f.replication,
		StartOffset:       start,
	}, nil
}

// runCmd is `riskd run`: one member of the consumer fleet, deciding on
// the input topics until it is stopped, then draining and committing
// before it leaves the group.
func runCmd(ctx context.Context, args []string, stderr io.Writer) error {
	f := newRunFlags("run", stderr)
	if err := layered(f.fs, args, os.Getenv); err != nil {
		return err
	}
	log := f.logger(stderr)
	cfg, err := f.streamConfig(log)
	if err != nil {
		return err
	}
	sec, err := f.kafkaSecurity(ctx, cfg.Brokers)
	if err != nil {
		return err
	}
	cfg.Dialer = sec.Dialer()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Metrics = stream.NewMetrics(reg)
	stopSink, err := f.startSink(&cfg, reg, log)
	if err != nil {
		return err
	}
	// The sink stops after the stream has drained (defers run last in,
	// first out), so that it copies the last outputs.
	defer stopSink()

	db := openGeoIP(f.geoCity, f.geoASN, log)
	defer db.Close()
	cfg.GeoIP = db
	if f.geoCity != "" || f.geoASN != "" {
		go watchGeoIP(ctx, db, log)
	}

	cfg.Writer = alerting.NewWriter(cfg.Brokers, writerOptions(sec, alerting.WithAutoTopicCreation(!cfg.CreateTopics))...)
	defer cfg.Writer.Close()
	stream, err := stream.New(cfg)
	if err != nil {
		return err
	}
	closeOps, err := f.startOps(ctx, stream, reg, cfg.Metrics, log)
	if err != nil {
		return err
	}
	defer closeOps()
	log.Info().Strs("brokers", cfg.Brokers).Str("kafka_security", sec.String()).Str("group", cfg.Group).Strs("topics", cfg.Topics).
		Str("rules_version", cfg.Rules.Version).Int("rules", len(cfg.Rules.Rules)).Msg("starting")

	return sec.Explain(runUntilStopped(ctx, stream, cfg.DrainTimeout, log), cfg.Brokers)
}

// startOps serves /metrics, /healthz, /readyz and /-/reload (and
// /debug/pprof/ with --pprof) on --metrics-addr, unless it is empty, and
// reloads --rules into member when the folder changes, on SIGHUP and on
// POST /-/reload, until ctx ends. The returned function stops the server.
func (f *runFlags) startOps(ctx context.Context, member *stream.Member, reg *prometheus.Registry, m *stream.Metrics, log zerolog.Logger) (func(), error) {
	var srv *http.Server
	if f.metricsAddr != "" {
		var err error
		if srv, err = serveOpsCheck(f.metricsAddr, reg, streamReadiness(member)); err != nil {
			return nil, err
		}
		if f.pprof {
			mountPprof(srv)
		}
		mountBreaker(srv, member)
		log.Info().Str("addr", "http://"+srv.Addr).Msg("serving /metrics, /healthz and /readyz")
	}
	if f.rulesDir != "" {
		startReloads(ctx, f.rulesDir, member, m, srv, log)
	}
	return func() {
		if srv != nil {
			srv.Close()
		}
	}, nil
}

// runUntilStopped runs m until it ends or ctx is cancelled, then waits for
// its drain: Run drains within drainTimeout; leaving the group and closing
// the writer get a little more, and then the process goes regardless.
func runUntilStopped(ctx context.Context, m *stream.Member, drainTimeout time.Duration, log zerolog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			log.Info().Msg("stopped")
		}
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		if err == nil {
			logDrain(log, m)
		}
		return err
	case <-time.After(drainTimeout + 15*time.Second):
		return errors.New("shutdown did not finish in time; uncommitted events will be redelivered to the next owner")
	}
}

// startSink checks the ClickHouse DSN when --clickhouse is given, names the
// features topic in cfg, and starts the sink in this process unless
// --no-sink; stop cancels it and waits for it to end.
func (f *runFlags) startSink(cfg *stream.Config, reg *prometheus.Registry, log zerolog.Logger) (stop func(), err error) {
	if f.clickhouse == "" {
		return func() {}, nil
	}
	conn, _, err := storage.Open(f.clickhouse) // checks the DSN; connects lazily
	if err != nil {
		return nil, err
	}
	conn.Close()
	cfg.FeaturesTopic = f.sink.featuresTopic
	if f.noSink {
		return func() {}, nil
	}
	f.sink.dlqTopic = f.dlqTopic
	sinkCtx, cancel := context.WithCancel(context.Background())
	sinkDone := make(chan struct{})
	go func() {
		defer close(sinkDone)
		if err := runSink(sinkCtx, f.clickhouse, cfg.Brokers, cfg.Group, cfg.DecisionsTopic, f.sink, reg, log); err != nil {
			log.Error().Err(err).Msg("clickhouse sink stopped; rows wait in Kafka for the next start")
		}
	}()
	return func() { cancel(); <-sinkDone }, nil
}

// watchGeoIP reloads the GeoIP files when they change, until ctx ends; a
// failed reload keeps the databases in use.
func watchGeoIP(ctx context.Context, db *geoip.DB, log zerolog.Logger) {
	err := db.Watch(ctx, time.Second, func(errs []error) {
		for _, err := range errs {
			log.Warn().Err(err).Msg("geoip reload failed; keeping the database in use")
		}
		if len(errs) == 0 {
			log.Info().Msg("geoip databases reloaded")
		}
	})
	if err != nil {
		log.Warn().Err(err).Msg("cannot watch the geoip files; they will not be reloaded")
	}
}

// logDrain says how the stop went, as it went: the exit status stays 0 when
// some partitions were abandoned (their events are redelivered to the next
// owner, with the same decision ids), but the log does not say
// "committed" for what was not.
func logDrain(log zerolog.Logger, stream *stream.Member) {
	r, ok := stream.LastDrain()
	switch {
	case !ok:
		log.Info().Msg("stopped before any partition was assigned; left the group")
	case r.Clean():
		log.Info().Int("partitions", r.Partitions).Msg("drained, committed and left the group")
	default:
		log.Warn().Int("partitions", r.Partitions).Int("drained", r.Partitions-len(r.Abandoned)).Strs("abandoned", r.Abandoned).
			AnErr("commit_error", r.CommitErr).
			Msg("stopped and left the group, but not everything was drained or committed: the events after the last committed offsets will be redelivered to the next owner and decided again (same decision ids)")
	}
}

// streamReadiness is the /readyz check of `riskd run`: not ready before the
// stream holds a generation of the group, nor while some partition's
// output writes keep failing (Stream.Stalled), which is when its offsets
// stand still.
func streamReadiness(stream *stream.Member) func() string {
	return func() string {
		if !stream.Ready() {
			return "not in the consumer group yet"
		}
		if n := stream.Stalled(); n > 0 {
			return fmt.Sprintf("the outputs of %d partitions have not been written for the stall timeout (see riskd_partitions_stalled and the log)", n)
		}
		return ""
	}
}

// serveOps serves the metrics and health endpoints on addr; the returned
// server's Addr is the address bound (addr may end in :0). /readyz answers
// 503 while ready says false.
func serveOps(addr string, reg *prometheus.Registry, ready func() bool) (*http.Server, error) {
	return serveOpsCheck(addr, reg, func() string {
		if !ready() {
			return "not in the consumer group yet"
		}
		return ""
	})
}

// serveOpsCheck is serveOps with a readiness check that says why it is not
// ready (empty when it is); /readyz answers 503 with that reason.
func serveOpsCheck(addr string, reg *prometheus.Registry, notReady func() string) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := notReady(); why != "" {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("--metrics-addr %s is in use: pick another address (or empty to turn it off)", addr)
		}
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}
