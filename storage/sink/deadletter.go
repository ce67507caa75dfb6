package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/retry"
	"github.com/riskd/riskd/pipeline/record"
)

// Reasons a message cannot be made into a row: the riskd-reason header of
// its dead letter and the reason label of riskd_sink_rejected_total, which
// they keep bounded.
const (
	// ReasonUnknownVersion: a record in a format version this binary
	// cannot read (a newer member wrote it during an upgrade).
	ReasonUnknownVersion = alerting.ReasonUnknownVersion
	// ReasonInvalidRecord: any other message the table cannot read.
	ReasonInvalidRecord = "invalid_record"
)

// rejectReason returns the reason for a message whose row could not be
// made because of err.
func rejectReason(err error) string {
	if errors.Is(err, record.ErrVersion) {
		return ReasonUnknownVersion
	}
	return ReasonInvalidRecord
}

// deadLetter returns the dead letter of m for topic (see
// alerting.DeadLetter), the problem being err.
func deadLetter(topic string, m *kafka.Message, reason string, err error) kafka.Message {
	return alerting.DeadLetter(topic, m, reason, err.Error())
}

// newDeadLetterWriter returns the writer of the dead letters: the
// stream's (alerting.NewWriter: synchronous, acknowledged by every in-sync
// replica, keyed as the stream's dead letters), since a batch's offsets
// are committed as soon as its dead letters are written. The stream
// creates the topic with --create-topics; otherwise the broker's
// auto.create.topics.enable decides, as for the stream's own dead letters.
func newDeadLetterWriter(c *Config) *kafka.Writer {
	opts := []alerting.WriterOption{alerting.WithAutoTopicCreation(true)}
	if t := c.transport(); t != nil {
		opts = append(opts, alerting.WithTransport(t))
	}
	return alerting.NewWriter(c.Brokers, opts...)
}

// writeDeadLetters writes msgs with w and returns once the broker holds
// them all, or an error when ctx ends first. Like an insert, it tries
// again until then, only the messages not written, after waits that
// double from 100 ms to 5 s (jittered): the batch's offsets wait for it.
func writeDeadLetters(ctx context.Context, w *kafka.Writer, msgs []kafka.Message, log zerolog.Logger) error {
	wait := retry.Backoff(100*time.Millisecond, 5*time.Second)
	for len(msgs) > 0 {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		msgs = unwritten(msgs, err)
		log.Warn().Err(err).Int("messages", len(msgs)).
			Msg("sink: dead-letter write failed; writing it again (the batch's offsets wait for it)")
		if !retry.Sleep(ctx, wait.NextBackOff()) {
			return fmt.Errorf("sink: dead letters abandoned: %w (last error: %v)", ctx.Err(), err)
		}
	}
	return nil
}

// unwritten returns the messages of msgs that err, from their write, says
// were not written: all of them unless err tells them apart. One refused
// as too large loses its value (noted in riskd-trimmed, as the stream
// does): the headers still say where the original is, and a dead letter
// the topic can never take would hold the sink's offsets for good.
func unwritten(msgs []kafka.Message, err error) []kafka.Message {
	var we kafka.WriteErrors
	if !errors.As(err, &we) || len(we) != len(msgs) {
		if alerting.TooLarge(err) {
			// kafka-go refused the write before sending anything, for
			// one message over its BatchBytes.
			return withoutValues(msgs)
		}
		return msgs
	}
	var left []kafka.Message
	for i, e := range we {
		switch {
		case e == nil:
		case alerting.TooLarge(e):
			left = append(left, withoutValues(msgs[i:i+1])...)
		default:
			left = append(left, msgs[i])
		}
	}
	return left
}

// withoutValues returns msgs with their values dropped, each drop noted
// in a riskd-trimmed header holding the value's length.
func withoutValues(msgs []kafka.Message) []kafka.Message {
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		if len(m.Value) > 0 {
			n := len(m.Headers)
			m.Headers = append(m.Headers[:n:n], kafka.Header{Key: alerting.HeaderTrimmed, Value: []byte(strconv.Itoa(len(m.Value)))})
			m.Value = nil
		}
		out[i] = m
	}
	return out
}
