// Package sink copies the features and decisions topics into ClickHouse:
// a consumer group of its own that inserts a batch, then commits it, so a
// row may be sent twice (ReplacingMergeTree folds it) but never lost. A
// message that cannot be made into a row goes to the dead-letter topic,
// also before its offset is committed.
package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
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
	Dialer       *kafka.Dialer
	Log          zerolog.Logger
	Metrics      *Metrics // nil: NewMetrics(nil)
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
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second}
	if !waitForTopics(ctx, client, topics, c.Log) {
		return nil
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
	var dlq *kafka.Writer
	if c.DLQTopic != "" {
		dlq = newDeadLetterWriter(&c)
		defer dlq.Close()
	}

	rows := map[*storage.Table][][]any{}
	var pending, dead []kafka.Message
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
		// Dead letters are outputs too: durable before the commit.
		if err := writeDeadLetters(ctx, dlq, dead, c.Log); err != nil {
			return err
		}
		dead = dead[:0]
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
	// When ctx ends the sink drains: it reads on until its topics are
	// consumed to the end offsets of that moment (the stream's last
	// outputs), for at most DrainTimeout, then inserts and commits.
	base, draining := ctx, false
	// An insert under way when ctx ends may finish, within DrainTimeout:
	// cut off, its whole block is sent again by the last insert, after a
	// connection that ClickHouse may still be reading.
	inserts, stopInserts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInserts()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(c.DrainTimeout, stopInserts) })()
	insertCtx := func() context.Context {
		if draining {
			return base
		}
		return inserts
	}
	var stopDrain context.CancelFunc = func() {}
	defer func() { stopDrain() }()
	fetchRetry := newBackOff(time.Second, time.Second)
	var ends map[kafkameta.TopicPartition]int64
	consumed := map[kafkameta.TopicPartition]int64{}
	startDrain := func() {
		draining = true
		base, stopDrain = context.WithTimeout(context.Background(), c.DrainTimeout)
		ends = endOffsets(base, client, topics)
		c.Log.Info().Int("partitions", len(ends)).Int("pending", len(pending)).Msg("sink: draining to the end of its topics")
	}
	for {
		if !draining && ctx.Err() != nil {
			startDrain()
		}
		if draining && base.Err() != nil {
			return flushOrKeep(base, flush)
		}
		fctx, cancel := base, context.CancelFunc(func() {})
		switch {
		case draining:
			fctx, cancel = context.WithTimeout(base, time.Second)
		case len(pending) > 0:
			fctx, cancel = context.WithDeadline(base, oldest.Add(c.Interval))
		}
		m, err := r.FetchMessage(fctx)
		cancel()
		switch {
		case !draining && ctx.Err() != nil:
			startDrain()
			continue
		case draining && err != nil && caughtUp(base, client, c.Group, ends, consumed):
			c.Log.Info().Int("pending", len(pending)).Msg("sink: caught up (offsets committed by the group), last insert")
			return flushOrKeep(base, flush)
		case draining && err != nil:
			continue
		case errors.Is(err, context.DeadlineExceeded):
			if err := flush(insertCtx()); err != nil {
				startDrain()
			}
			continue
		case err != nil:
			// The reader retries the broker itself; an error that
			// reaches here waits about a second, or until ctx ends (then
			// the loop drains).
			c.Log.Warn().Err(err).Msg("sink: fetch failed; retrying")
			sleep(ctx, fetchRetry.NextBackOff())
			continue
		}
		if len(pending) == 0 {
			oldest = time.Now()
		}
		pending = append(pending, m)
		consumed[kafkameta.TopicPartition{Topic: m.Topic, Partition: m.Partition}] = m.Offset + 1
		if t := tables[m.Topic]; t != nil {
			row, err := t.Row(m.Value)
			if err != nil {
				reason := rejectReason(err)
				c.Metrics.Rejected.WithLabelValues(t.Name(), reason).Inc()
				ev := c.Log.Warn().Err(err).Str("reason", reason).Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset)
				if dlq == nil {
					ev.Msg("sink: message skipped")
				} else {
					dead = append(dead, deadLetter(c.DLQTopic, &m, reason, err))
					ev.Msg("sink: message cannot be made into a row; it goes to the dead-letter topic before its offset is committed")
				}
			} else {
				rows[t] = append(rows[t], row)
			}
		}
		c.Metrics.Pending.Set(float64(len(pending)))
		if draining && caughtUpLocal(ends, consumed) {
			c.Log.Info().Int("pending", len(pending)).Msg("sink: caught up, last insert")
			return flushOrKeep(base, flush)
		}
		if len(pending) >= c.MaxRows {
			if err := flush(insertCtx()); err != nil && !draining {
				startDrain()
			}
		}
	}
}

// endOffsets returns the end offset of every partition of topics, trying
// again while some partition has no answer (nil when none comes before ctx
// ends).
func endOffsets(ctx context.Context, client *kafka.Client, topics []string) map[kafkameta.TopicPartition]int64 {
	for ctx.Err() == nil {
		if out, ok := tryEndOffsets(ctx, client, topics); ok {
			return out
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func tryEndOffsets(ctx context.Context, client *kafka.Client, topics []string) (map[kafkameta.TopicPartition]int64, bool) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, false
	}
	req := map[string][]kafka.OffsetRequest{}
	n := 0
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
			n++
		}
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, false
	}
	out := map[kafkameta.TopicPartition]int64{}
	for t, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error == nil {
				out[kafkameta.TopicPartition{Topic: t, Partition: p.Partition}] = p.LastOffset
			}
		}
	}
	return out, n > 0 && len(out) == n
}

// caughtUp reports whether every partition in ends has been read to its end
// offset, here (consumed) or by any member of the group (committed).
func caughtUp(ctx context.Context, client *kafka.Client, group string, ends, consumed map[kafkameta.TopicPartition]int64) bool {
	if ends == nil {
		return true // no offsets to go by: stop at the first quiet second
	}
	if caughtUpLocal(ends, consumed) {
		return true
	}
	req := map[string][]int{}
	for tp := range ends {
		req[tp.Topic] = append(req[tp.Topic], tp.Partition)
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: req})
	if err != nil {
		return false
	}
	for tp, end := range ends {
		pos := consumed[tp]
		for _, p := range resp.Topics[tp.Topic] {
			if p.Partition == tp.Partition {
				pos = max(pos, p.CommittedOffset)
			}
		}
		if pos < end {
			return false
		}
	}
	return true
}

func caughtUpLocal(ends, consumed map[kafkameta.TopicPartition]int64) bool {
	for tp, end := range ends {
		if consumed[tp] < end {
			return false
		}
	}
	return true
}

// flushOrKeep makes the last insert; what it cannot insert stays in Kafka,
// uncommitted, for the next start.
func flushOrKeep(ctx context.Context, flush func(context.Context) error) error {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
	}
	if err := flush(ctx); err != nil {
		return fmt.Errorf("sink: last insert failed; the rows stay in Kafka for the next start: %w", err)
	}
	return nil
}
