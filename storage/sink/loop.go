package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
	"github.com/riskd/riskd/internal/retry"
	"github.com/riskd/riskd/storage"
)

// sinker is the state of one Run: what was read and not yet committed,
// and, once ctx has ended, the drain's. Only Run's goroutine touches it.
type sinker struct {
	c      *Config
	client *kafka.Client
	reader *kafka.Reader
	dlq    *kafka.Writer // nil without Config.DLQTopic
	topics []string
	tables map[string]*storage.Table // by topic

	rows    map[*storage.Table][][]any
	pending []kafka.Message // read and not committed, rows or not
	dead    []kafka.Message // dead letters not written yet
	oldest  time.Time       // when the first of pending was read

	// base is the context of fetches: Run's ctx, then the drain's, which
	// stopDrain ends. inserts is the inserts' before the drain (see Run).
	base       context.Context
	stopDrain  context.CancelFunc
	inserts    context.Context
	draining   bool
	ends       map[kafkameta.TopicPartition]int64 // end offsets when the drain started
	consumed   map[kafkameta.TopicPartition]int64 // offset after the last message read
	fetchRetry *backoff.ExponentialBackOff
	ins        *inserts
}

// loop reads, inserts and commits until ctx ends, then drains: it reads
// on until its topics are consumed to the end offsets of that moment (the
// stream's last outputs), for at most DrainTimeout, and makes the last
// insert and commit.
func (s *sinker) loop(ctx context.Context) error {
	for {
		if !s.draining && ctx.Err() != nil {
			s.startDrain()
		}
		if s.draining && s.base.Err() != nil {
			return s.last()
		}
		m, err := s.fetch()
		switch {
		case !s.draining && ctx.Err() != nil:
			// A message fetched as ctx ended is kept: dropped, it would
			// be committed past with the drain's next ones of its
			// partition, and never inserted.
			if err == nil {
				s.take(&m)
			}
			s.startDrain()
			continue
		case err != nil:
			if s.fetchFailed(ctx, err) {
				return s.last()
			}
			continue
		}
		s.take(&m)
		if s.draining && caughtUpLocal(s.ends, s.consumed) {
			s.c.Log.Info().Int("pending", len(s.pending)).Msg("sink: caught up, last insert")
			return s.last()
		}
		if len(s.pending) >= s.c.MaxRows {
			s.flushOrDrain()
		}
	}
}

// fetch reads the next message, giving up when the oldest pending one has
// waited Interval (an insert is then due), and after a quiet second while
// draining (time to ask whether the drain is over).
func (s *sinker) fetch() (kafka.Message, error) {
	ctx, cancel := s.base, context.CancelFunc(func() {})
	switch {
	case s.draining:
		ctx, cancel = context.WithTimeout(s.base, time.Second)
	case len(s.pending) > 0:
		ctx, cancel = context.WithDeadline(s.base, s.oldest.Add(s.c.Interval))
	}
	defer cancel()
	return s.reader.FetchMessage(ctx)
}

// fetchFailed handles a fetch that returned err and reports whether the
// drain is over (every partition read to its end, here or by the group).
func (s *sinker) fetchFailed(ctx context.Context, err error) bool {
	switch {
	case s.draining && caughtUp(s.base, s.client, s.c.Group, s.ends, s.consumed):
		s.c.Log.Info().Int("pending", len(s.pending)).Msg("sink: caught up (offsets committed by the group), last insert")
		return true
	case s.draining:
	case errors.Is(err, context.DeadlineExceeded):
		s.flushOrDrain() // Interval is up
	default:
		// The reader retries the broker itself; an error that reaches
		// here waits about a second, or until ctx ends (then the loop
		// drains).
		s.c.Log.Warn().Err(err).Msg("sink: fetch failed; retrying")
		retry.Sleep(ctx, s.fetchRetry.NextBackOff())
	}
	return false
}

// take adds m to what the next flush inserts, dead-letters and commits.
func (s *sinker) take(m *kafka.Message) {
	if len(s.pending) == 0 {
		s.oldest = time.Now()
	}
	s.pending = append(s.pending, *m)
	s.consumed[kafkameta.TopicPartition{Topic: m.Topic, Partition: m.Partition}] = m.Offset + 1
	if t := s.tables[m.Topic]; t != nil {
		if row, err := t.Row(m.Value); err != nil {
			s.reject(t, m, err)
		} else {
			s.rows[t] = append(s.rows[t], row)
		}
	}
	s.ins.reading.Store(int64(len(s.pending)))
	s.ins.showPending()
}

// reject counts and logs m, which t cannot make into a row because of err,
// and makes its dead letter when there is a dead-letter topic.
func (s *sinker) reject(t *storage.Table, m *kafka.Message, err error) {
	reason := rejectReason(err)
	s.c.Metrics.Rejected.WithLabelValues(t.Name(), reason).Inc()
	ev := s.c.Log.Warn().Err(err).Str("reason", reason).Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset)
	if s.dlq == nil {
		ev.Msg("sink: message skipped")
		return
	}
	s.dead = append(s.dead, deadLetter(s.c.DLQTopic, m, reason, err))
	ev.Msg("sink: message cannot be made into a row; it goes to the dead-letter topic before its offset is committed")
}

// flushOrDrain flushes; a flush that fails was cut off by the end of the
// inserts' context, so the sink drains.
func (s *sinker) flushOrDrain() {
	ctx := s.inserts
	if s.draining {
		ctx = s.base
	}
	if err := s.flush(ctx); err != nil && !s.draining {
		s.startDrain()
	}
}

// flush hands the pending messages' rows, dead letters and offsets to
// the inserts' goroutine (see inserts) and starts new ones. It returns the
// error of a chunk that failed, this one's or an earlier one's.
func (s *sinker) flush(ctx context.Context) error {
	if len(s.pending) == 0 && len(s.dead) == 0 && s.ins.failure() == nil {
		return nil
	}
	// With nothing pending, a chunk that failed is still handed its retry.
	s.ins.inFlight.Add(int64(len(s.pending)))
	err := s.ins.hand(chunk{ctx: ctx, rows: s.rows, pending: s.pending, dead: s.dead})
	s.rows, s.pending, s.dead = map[*storage.Table][][]any{}, nil, nil
	s.ins.reading.Store(0)
	s.ins.showPending()
	return err
}

// insert sends each table's rows in one insert, retried until ctx ends
// (see storage.Table.Insert). It runs on the inserts' goroutine.
func (s *sinker) insert(ctx context.Context, rows map[*storage.Table][][]any) error {
	c := s.c
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
	}
	return nil
}

// startDrain starts the drain: fetches and inserts get DrainTimeout from
// now, and the end offsets of this moment say when the topics are read.
func (s *sinker) startDrain() {
	s.draining = true
	s.base, s.stopDrain = context.WithTimeout(context.Background(), s.c.DrainTimeout)
	s.ends = endOffsets(s.base, s.client, s.topics)
	s.c.Log.Info().Int("partitions", len(s.ends)).Int("pending", len(s.pending)).Msg("sink: draining to the end of its topics")
}

// last makes the last insert; what it cannot insert stays in Kafka,
// uncommitted, for the next start. A drain whose time is up still gets 5
// s for it.
func (s *sinker) last() error {
	ctx := s.base
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
	}
	err := s.flush(ctx)
	if ferr := s.ins.finish(); ferr != nil {
		// A chunk cut off by the inserts' context before anything was
		// left to hand over: once more with the last insert's.
		if st := s.ins.stuck; st != nil {
			st.ctx = ctx
			ferr = s.write(*st)
		}
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("sink: last insert failed; the rows stay in Kafka for the next start: %w", err)
	}
	return nil
}
