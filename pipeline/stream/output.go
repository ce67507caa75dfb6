package stream

import (
	"errors"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
)

// Dead-letter reasons of riskd's own, besides the decoder's (event.Reason*),
// the engine's (ReasonFutureTS) and ReasonInvalidObservation.
const (
	// ReasonOutputTooLarge: an output of the event (a decision, its feature
	// record or its repartition observation) is over MaxMessageBytes, or
	// the broker refused it as too large; the other outputs went.
	ReasonOutputTooLarge = "output_too_large"
	// ReasonOutputRefused: the broker refused an output as malformed
	// (InvalidRecord, CorruptMessage, InvalidTimestamp).
	ReasonOutputRefused = "output_refused"
)

// DefaultMaxMessageBytes is the default of Config.MaxMessageBytes:
// Kafka's default message.max.bytes (1048588) less room for the record
// batch's framing. minMaxMessageBytes leaves room for a dead letter's
// headers.
const (
	DefaultMaxMessageBytes = 1_000_000
	minMaxMessageBytes     = 2048
)

// recordOverhead bounds the bytes a message takes in a record batch of its
// own besides its key, value and headers: the batch header (61 bytes) and
// the record's length, attributes, timestamp and offset deltas and the
// key, value and header-count lengths (varints). headerOverhead bounds a
// header's two length varints.
const (
	recordOverhead = 61 + 36
	headerOverhead = 10
)

// messageSize is, at most, the bytes m takes on the broker when written in
// a record batch of its own (uncompressed), which is what the broker holds
// against max.message.bytes.
func messageSize(m *kafka.Message) int {
	n := recordOverhead + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += headerOverhead + len(h.Key) + len(h.Value)
	}
	return n
}

// deadLetter returns the dead letter of input message in (see
// alerting.DeadLetter), cut to MaxMessageBytes (see fitDeadLetter).
func (w *worker) deadLetter(in *kafka.Message, reason, problem string) kafka.Message {
	return fitDeadLetter(alerting.DeadLetter(w.cfg.DLQTopic, in, reason, problem), len(in.Headers), w.cfg.MaxMessageBytes)
}

// trimNotes is room for the notes fitDeadLetter adds.
const trimNotes = 3 * (headerOverhead + len(alerting.HeaderTrimmedHeaders) + 20)

// fitDeadLetter returns dead letter m, whose first orig headers are the
// input's own, cut to at most limit bytes (messageSize) if it is larger:
// first the value, to a prefix, then the input's headers, left out, then
// the key, to a prefix; each cut is noted in a header
// (alerting.HeaderTrimmed, HeaderTrimmedHeaders, HeaderTrimmedKey). The
// riskd-* headers are kept.
func fitDeadLetter(m kafka.Message, orig, limit int) kafka.Message {
	over := messageSize(&m) - limit
	if over <= 0 {
		return m
	}
	over += trimNotes
	var notes []kafka.Header
	if len(m.Value) > 0 {
		cut := min(over, len(m.Value))
		notes = append(notes, kafka.Header{Key: alerting.HeaderTrimmed, Value: []byte(strconv.Itoa(len(m.Value)))})
		m.Value = m.Value[:len(m.Value)-cut]
		over -= cut
	}
	if over > 0 && orig > 0 {
		for _, h := range m.Headers[:orig] {
			over -= headerOverhead + len(h.Key) + len(h.Value)
		}
		notes = append(notes, kafka.Header{Key: alerting.HeaderTrimmedHeaders, Value: []byte(strconv.Itoa(orig))})
		m.Headers = m.Headers[orig:]
	}
	if over > 0 && len(m.Key) > 0 {
		cut := min(over, len(m.Key))
		notes = append(notes, kafka.Header{Key: alerting.HeaderTrimmedKey, Value: []byte(strconv.Itoa(len(m.Key)))})
		m.Key = m.Key[:len(m.Key)-cut]
	}
	m.Headers = append(m.Headers[:len(m.Headers):len(m.Headers)], notes...)
	return m
}

// shrinkDeadLetter returns the smallest form of dead letter m, for a
// broker that refused it as too large although it was within
// MaxMessageBytes (its topic's max.message.bytes is lower): no value, key
// or headers of the input's, only the riskd-* ones, with notes of what was
// left out. ok is false when m is that small already.
func shrinkDeadLetter(m kafka.Message) (kafka.Message, bool) {
	var own, notes []kafka.Header
	dropped := 0
	for _, h := range m.Headers {
		switch h.Key {
		case alerting.HeaderReason, alerting.HeaderError, alerting.HeaderTopic, alerting.HeaderPartition, alerting.HeaderOffset, alerting.HeaderTrimmed, alerting.HeaderTrimmedHeaders, alerting.HeaderTrimmedKey:
			own = append(own, h)
		default:
			dropped++
		}
	}
	if len(m.Value) == 0 && len(m.Key) == 0 && dropped == 0 {
		return m, false
	}
	if len(m.Value) > 0 && !hasHeader(own, alerting.HeaderTrimmed) {
		notes = append(notes, kafka.Header{Key: alerting.HeaderTrimmed, Value: []byte(strconv.Itoa(len(m.Value)))})
	}
	if dropped > 0 {
		notes = append(notes, kafka.Header{Key: alerting.HeaderTrimmedHeaders, Value: []byte(strconv.Itoa(dropped))})
	}
	if len(m.Key) > 0 && !hasHeader(own, alerting.HeaderTrimmedKey) {
		notes = append(notes, kafka.Header{Key: alerting.HeaderTrimmedKey, Value: []byte(strconv.Itoa(len(m.Key)))})
	}
	return kafka.Message{Topic: m.Topic, Headers: append(own, notes...)}, true
}

func hasHeader(hs []kafka.Header, key string) bool {
	for _, h := range hs {
		if h.Key == key {
			return true
		}
	}
	return false
}

// Kinds of write error, the label values of riskd_output_write_errors_total.
const (
	kindRetriable = "retriable"
	kindPermanent = "permanent"
)

// permanentErrors are the broker's answers that mean this message will
// never be accepted as it is: too large (also kafka-go's own
// MessageTooLargeError, which wraps MessageSizeTooLarge) or malformed.
// Everything else is retried with a backoff: network and leadership
// errors pass, and errors about the topic rather than the message
// (UnknownTopicOrPartition, TopicAuthorizationFailed, InvalidTopic,
// UnsupportedForMessageFormat, PolicyViolation, ...) would send every
// output to the dead-letter topic if taken for the message's fault; they
// stall the partition instead, which shows in riskd_partitions_stalled and
// /readyz until an operator fixes the topic.
var permanentErrors = []error{
	kafka.MessageSizeTooLarge,
	kafka.RecordListTooLarge,
	kafka.InvalidMessage, // CORRUPT_MESSAGE: kafka-go has retried it already
	kafka.InvalidRecord,
	kafka.InvalidTimestamp,
}

// writeErrorKind classifies a message's write error.
func writeErrorKind(err error) string {
	for _, p := range permanentErrors {
		if errors.Is(err, p) {
			return kindPermanent
		}
	}
	return kindRetriable
}

// isolatedWriter returns a writer like w that sends every message in a
// produce request of its own, so that the broker's answer is about that
// message alone: w batches the messages of every worker together, and one
// refused message fails its whole batch. It is safe for concurrent use.
func isolatedWriter(w *kafka.Writer) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   w.Addr,
		Balancer:               w.Balancer,
		MaxAttempts:            w.MaxAttempts,
		WriteBackoffMin:        w.WriteBackoffMin,
		WriteBackoffMax:        w.WriteBackoffMax,
		BatchSize:              1,
		BatchBytes:             w.BatchBytes,
		BatchTimeout:           w.BatchTimeout,
		ReadTimeout:            w.ReadTimeout,
		WriteTimeout:           w.WriteTimeout,
		RequiredAcks:           w.RequiredAcks,
		Compression:            w.Compression,
		Logger:                 w.Logger,
		ErrorLogger:            w.ErrorLogger,
		Transport:              w.Transport,
		AllowAutoTopicCreation: w.AllowAutoTopicCreation,
	}
}
