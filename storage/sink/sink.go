// Package sink copies the features and decisions topics into ClickHouse:
// a consumer group of its own that inserts a batch, then commits it, so a
// row may be sent twice (ReplacingMergeTree folds it) but never lost. A
// message that cannot be made into a row goes to the dead-letter topic,
// also before its offset is committed.
package sink

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
	"github.com/riskd/riskd/internal/retry"
	"github.com/riskd/riskd/storage"
)

// Config wires Run.
type Config struct {
	Brokers        []string
	Group          string // the sink's own consumer group
	FeaturesTopic  string
	DecisionsTopic string
	Features       *storage.Table
	Decisions      *storage.Table
	// DLQTopic receives the messages that cannot be made into a row (a
	// record of a format version this binary cannot read, a malformed
	// message), with the stream's riskd-* dead-letter headers; empty:
	// they are only counted and logged.
	DLQTopic string
	// MaxRows bounds the rows held in memory and sent in one insert per
	// table; Interval how long rows wait for more before they are sent.
	MaxRows  int
	Interval time.Duration
	// DrainTimeout bounds the reading and last insert after ctx ends.
	DrainTimeout time.Duration
	// Dialer makes the reader's connections; its TLS and SASL settings
	// are also those of the admin client and the dead-letter writer. Nil:
	// plain connections.
	Dialer  *kafka.Dialer
	Log     zerolog.Logger
	Metrics *Metrics // nil: NewMetrics(nil)
}

// Metrics are the sink's collectors.
type Metrics struct {
	Rows         *prometheus.CounterVec // table
	Inserts      *prometheus.CounterVec // table
	InsertErrors *prometheus.CounterVec // table
	Rejected     *prometheus.CounterVec // table, reason (ReasonUnknownVersion, ReasonInvalidRecord)
	Pending      prometheus.Gauge
}

// NewMetrics creates the sink's collectors and registers them with reg
// (which may be nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
			Name: "riskd_sink_rejected_total", Help: "Messages that could not be made into a row (dead-lettered when the sink has a dead-letter topic), by table and reason.",
		}, []string{"table", "reason"}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "riskd_sink_pending_rows", Help: "Rows read from Kafka and not yet inserted.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Rows, m.Inserts, m.InsertErrors, m.Rejected, m.Pending)
	}
	return m
}

// Run copies the features and decisions topics into ClickHouse until
// ctx ends. Kafka is the buffer: offsets are committed only after the rows
// of the messages before them are inserted, so a ClickHouse outage delays
// rows (never decisions, which do not wait for the sink) and loses none;
// a restart inserts the uncommitted rows again, and the tables'
// ReplacingMergeTree folds the copies.
func Run(ctx context.Context, c Config) error {
	c.defaults()
	tables, topics := c.sources()
	if len(topics) == 0 {
		return errors.New("sink: no topic to copy")
	}
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second, Transport: c.transport()}
	if !waitForTopics(ctx, client, topics, c.Log) {
		return nil
	}
	s := &sinker{
		c: &c, client: client, reader: newReader(&c, topics), topics: topics, tables: tables,
		rows: map[*storage.Table][][]any{}, consumed: map[kafkameta.TopicPartition]int64{},
		base: ctx, stopDrain: func() {}, fetchRetry: retry.Backoff(time.Second, time.Second),
	}
	defer s.reader.Close()
	defer func() { s.stopDrain() }()
	if c.DLQTopic != "" {
		s.dlq = newDeadLetterWriter(&c)
		defer s.dlq.Close()
	}
	// An insert under way when ctx ends may finish, within DrainTimeout:
	// cut off, its whole block is sent again by the last insert, after a
	// connection that ClickHouse may still be reading.
	var stopInserts context.CancelFunc
	s.inserts, stopInserts = context.WithCancel(context.WithoutCancel(ctx))
	defer stopInserts()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(c.DrainTimeout, stopInserts) })()
	s.startInserts()
	return s.loop(ctx)
}

// transport returns the transport of the admin client and the
// dead-letter writer: Dialer's TLS and SASL, or nil (kafka-go's default)
// for plain connections.
func (c *Config) transport() kafka.RoundTripper {
	d := c.Dialer
	if d == nil || (d.TLS == nil && d.SASLMechanism == nil) {
		return nil
	}
	return &kafka.Transport{TLS: d.TLS, SASL: d.SASLMechanism, ClientID: d.ClientID, DialTimeout: cmp.Or(d.Timeout, 10*time.Second)}
}

// defaults fills in the settings left zero.
func (c *Config) defaults() {
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
		c.Metrics = NewMetrics(nil)
	}
}

// sources returns the topics to copy, each with its table: those of the
// features and decisions that are configured.
func (c *Config) sources() (map[string]*storage.Table, []string) {
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
	return tables, topics
}

// newReader returns the reader of the sink's group. It commits only when
// told to, once the outputs of what it read are durable.
func newReader(c *Config, topics []string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
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
}
