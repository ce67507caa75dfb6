package main

import (
	"context"
	"flag"
	"io"
	"os"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/riskd/riskd/internal/kafkasec"
	"github.com/riskd/riskd/storage"
	"github.com/riskd/riskd/storage/sink"
)

// sinkSettings are the flags shared by `riskd run --clickhouse` and `riskd
// sink`, and dlqTopic, the --dlq-topic of runFlags, where the sink sends
// the messages it cannot make into rows (empty: it counts and logs them);
// the commands copy it in before runSink.
type sinkSettings struct {
	featuresTopic string
	retentionDays int
	maxRows       int
	dlqTopic      string
	kafka         *kafkasec.Security // the Kafka connections' TLS and SASL; nil: plain
}

func (s *sinkSettings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.featuresTopic, "features-topic", "risk-features", "topic of every event's features on their way to ClickHouse (created when missing)")
	fs.IntVar(&s.retentionDays, "retention-days", 0, "drop ClickHouse partitions older than this many days (0: keep everything)")
	fs.IntVar(&s.maxRows, "sink-max-rows", 20000, "rows per ClickHouse insert at most")
}

// runSink migrates the database (retrying while ClickHouse is away), then
// copies the features and decisions topics into it and applies retention
// every hour, until ctx ends. It never stops the decisions: errors are
// logged and retried.
func runSink(ctx context.Context, dsn string, brokers []string, group, decisionsTopic string, s sinkSettings, reg prometheus.Registerer, log zerolog.Logger) error {
	conn, db, err := storage.Open(dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Waits double from 1 s to 30 s, jittered by ±50 % so that a fleet
	// restarted together does not knock on ClickHouse in step. No
	// MaxElapsedTime (the library's default is 15 minutes): only ctx ends
	// the retries, however long ClickHouse is away.
	wait := &backoff.ExponentialBackOff{
		InitialInterval: time.Second, MaxInterval: 30 * time.Second,
		Multiplier: 2, RandomizationFactor: backoff.DefaultRandomizationFactor,
	}
	migrate := func() (struct{}, error) { return struct{}{}, storage.Migrate(ctx, conn, db) }
	notReady := func(err error, _ time.Duration) {
		log.Warn().Err(err).Msg("clickhouse not ready; rows wait in Kafka until it is")
	}
	if _, err := backoff.Retry(ctx, migrate, backoff.WithBackOff(wait), backoff.WithMaxElapsedTime(0), backoff.WithNotify(notReady)); err != nil {
		return nil // ctx ended
	}
	log.Info().Str("database", db).Msg("clickhouse tables ready")
	if s.retentionDays > 0 {
		go func() {
			for {
				dropped, err := storage.DropOlderThan(ctx, conn, db, s.retentionDays, time.Now())
				if err != nil {
					log.Warn().Err(err).Msg("retention failed; trying again in an hour")
				} else if len(dropped) > 0 {
					log.Info().Strs("partitions", dropped).Msg("retention dropped old partitions")
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Hour):
				}
			}
		}()
	}
	err = sink.Run(ctx, sink.Config{
		Brokers: brokers, Group: group + "-sink", Dialer: s.kafka.Dialer(),
		FeaturesTopic: s.featuresTopic, DecisionsTopic: decisionsTopic, DLQTopic: s.dlqTopic,
		Features: storage.Features(conn, db), Decisions: storage.Decisions(conn, db),
		MaxRows: s.maxRows, Log: log.With().Str("component", "sink").Logger(),
		Metrics: sink.NewMetrics(reg),
	})
	return s.kafka.Explain(err, brokers)
}

// sinkCmd is `riskd sink`: the ClickHouse sink alone, for fleets that run
// it apart from the deciding members.
func sinkCmd(ctx context.Context, args []string, stderr io.Writer) error {
	f := newRunFlags("sink", stderr)
	if err := layered(f.fs, args, os.Getenv); err != nil {
		return err
	}
	log := f.logger(stderr)
	if len(f.brokers) == 0 || f.clickhouse == "" {
		return usageError("sink needs --brokers HOST:PORT and --clickhouse clickhouse://HOST:PORT/DB")
	}
	sec, err := f.kafkaSecurity(ctx, f.brokers)
	if err != nil {
		return err
	}
	log.Info().Strs("brokers", f.brokers).Str("kafka_security", sec.String()).Str("clickhouse", storage.RedactDSN(f.clickhouse)).Msg("starting the sink")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if f.metricsAddr != "" {
		srv, err := serveOps(f.metricsAddr, reg, func() bool { return true })
		if err != nil {
			return err
		}
		defer srv.Close()
		if f.pprof {
			mountPprof(srv)
		}
	}
	f.sink.dlqTopic = f.dlqTopic
	err = runSink(ctx, f.clickhouse, f.brokers, f.group, f.decisionsTopic, f.sink, reg, log)
	if err == nil {
		log.Info().Msg("sink stopped; uninserted rows stay in Kafka for the next start")
	}
	return err
}
