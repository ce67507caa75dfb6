package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/storage"
)

// SinkConfig wires RunSink.
type SinkConfig struct {
	Brokers        []string
	Group          string // the sink's own consumer group
	FeaturesTopic  string
	DecisionsTopic string
	Features       *storage.Table
	Decisions      *storage.Table
	// MaxRows bounds the rows held in memory and sent in one insert per
	// table; Interval how long rows wait for more before they are sent.
	MaxRows  int
	Interval time.Duration
	// DrainTimeout bounds the last insert when ctx ends.
	DrainTimeout time.Duration
	Dialer       *kafka.Dialer
	Log          zerolog.Logger
	Metrics      *SinkMetrics // nil: NewSinkMetrics(nil)
}

// SinkMetrics are the sink's collectors.
type SinkMetrics struct {
	Rows         *prometheus.CounterVec // table
	Inserts      *prometheus.CounterVec // table
	InsertErrors *prometheus.CounterVec // table
	Rejected     *prometheus.CounterVec // table
	Pending      prometheus.Gauge
}

// NewSinkMetrics creates the sink's collectors and registers them with reg
// (which may be nil).
func NewSinkMetrics(reg prometheus.Registerer) *SinkMetrics {
	m := &SinkMetrics{
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_sink_rows_total", Help: "Rows inserted into ClickHouse, by table.",
		}, []string{"table"}),
		Inserts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_sink_inserts_total", Help: "Batch inserts into ClickHouse, by table.",
		}, []string{"table"}),
		InsertErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_sink_insert_errors_total", Help: "Failed insert attempts (the same block is sent again), by table.",
		}, []string{"table"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_sink_rejected_total", Help: "Messages that could not be made into a row, by table.",
		}, []string{"table"}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "riskd_sink_pending_rows", Help: "Rows read from Kafka and not yet inserted.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Rows, m.Inserts, m.InsertErrors, m.Rejected, m.Pending)
	}
	return m
}

// RunSink copies the features and decisions topics into ClickHouse until
// ctx ends. Kafka is the buffer: offsets are committed only after the rows
// of the messages before them are inserted, so a ClickHouse outage delays
// rows (never decisions, which do not wait for the sink) and loses none;
// a restart inserts the uncommitted rows again, and the tables'
// ReplacingMergeTree folds the copies.
func RunSink(ctx context.Context, c SinkConfig) error {
	if c.MaxRows <= 0 {
		c.MaxRows = 20000
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.Metrics == nil {
		c.Metrics = NewSinkMetrics(nil)
	}
	tables := map[string]*storage.Table{}
	var topics []string
	if c.FeaturesTopic != "" && c.Features != nil {
		tables[c.FeaturesTopic] = c.Features
		topics = append(topics, c.FeaturesTopic)
	}
	if c.DecisionsTopic != "" && c.Decisions != nil {
		tables[c.DecisionsTopic] = c.Decisions
		topics = append(topics, c.DecisionsTopic)
	}
	if len(topics) == 0 {
		return errors.New("sink: no topic to copy")
	}
	// The stream creates the features topic: a group joined before it
	// exists would not be assigned its partitions.
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second}
	for wait := time.Duration(0); ; wait = min(wait+200*time.Millisecond, 5*time.Second) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		meta, err := metadata(ctx, client, topics)
		if err == nil && hasAll(meta, topics) {
			break
		}
		if wait >= 5*time.Second {
			c.Log.Warn().Strs("topics", topics).Err(err).Msg("sink: waiting for its topics to exist")
		}
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:               c.Brokers,
		GroupID:               c.Group,
		GroupTopics:           topics,
		WatchPartitionChanges: true,
		Dialer:                c.Dialer,
		StartOffset:           kafka.FirstOffset,
		MinBytes:              1,
		MaxBytes:              8 << 20,
		MaxWait:               500 * time.Millisecond,
		QueueCapacity:         1000,
		CommitInterval:        0, // committed explicitly, once per insert
	})
	defer r.Close()

	rows := map[*storage.Table][][]any{}
	var pending []kafka.Message
	var oldest time.Time
	flush := func(ctx context.Context) error {
		for t, rs := range rows {
			if len(rs) == 0 {
				continue
			}
			name := t.Name()
			err := t.Insert(ctx, rs, func(err error) {
				c.Metrics.InsertErrors.WithLabelValues(name).Inc()
				c.Log.Warn().Err(err).Str("table", name).Int("rows", len(rs)).Msg("clickhouse insert failed; sending the same block again")
			})
			if err != nil {
				return err
			}
			c.Metrics.Inserts.WithLabelValues(name).Inc()
			c.Metrics.Rows.WithLabelValues(name).Add(float64(len(rs)))
			rows[t] = rs[:0]
		}
		if len(pending) > 0 {
			if err := r.CommitMessages(ctx, pending...); err != nil {
				// The rows are in: a failed commit only means they come
				// again, and are folded.
				c.Log.Warn().Err(err).Msg("sink: offset commit failed; the rows will be inserted again")
			}
		}
		pending = pending[:0]
		c.Metrics.Pending.Set(0)
		return nil
	}
	drain := func() error {
		dctx, cancel := context.WithTimeout(context.Background(), c.DrainTimeout)
		defer cancel()
		return flush(dctx)
	}
	for {
		fctx, cancel := ctx, context.CancelFunc(func() {})
		if len(pending) > 0 {
			fctx, cancel = context.WithDeadline(ctx, oldest.Add(c.Interval))
		}
		m, err := r.FetchMessage(fctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return drain()
		case errors.Is(err, context.DeadlineExceeded):
			if err := flush(ctx); err != nil {
				return drain()
			}
			continue
		case err != nil:
			c.Log.Warn().Err(err).Msg("sink: fetch failed; retrying")
			time.Sleep(time.Second)
			continue
		}
		if len(pending) == 0 {
			oldest = time.Now()
		}
		pending = append(pending, m)
		if t := tables[m.Topic]; t != nil {
			row, err := t.Row(m.Value)
			if err != nil {
				c.Metrics.Rejected.WithLabelValues(t.Name()).Inc()
				c.Log.Warn().Err(err).Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset).Msg("sink: message skipped")
			} else {
				rows[t] = append(rows[t], row)
			}
		}
		c.Metrics.Pending.Set(float64(len(pending)))
		if len(pending) >= c.MaxRows {
			if err := flush(ctx); err != nil {
				return drain()
			}
		}
	}
}
