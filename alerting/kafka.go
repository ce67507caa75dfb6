package alerting

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/rules"
)

// Header names set on each decision message, so that a consumer can route
// or filter without parsing the value.
const (
	HeaderAction  = "riskd-action"
	HeaderMode    = "riskd-mode"
	HeaderSubject = "riskd-subject-kind"
	HeaderVersion = "riskd-schema"
)

// Message returns d as a message for topic: keyed by the subject's id (so
// all decisions about one subject are ordered in one partition), the
// decision's JSON as the value, and its action, mode and subject kind as
// headers.
func Message(topic string, d *rules.Decision) (kafka.Message, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{
		Topic: topic,
		Key:   []byte(d.Subject.ID),
		Value: b,
		Headers: []kafka.Header{
			{Key: HeaderAction, Value: []byte(d.Action.String())},
			{Key: HeaderMode, Value: []byte(d.Mode)},
			{Key: HeaderSubject, Value: []byte(d.Subject.Kind)},
			{Key: HeaderVersion, Value: []byte("decision.v1")},
		},
	}, nil
}

// WriterOption tunes NewWriter.
type WriterOption func(*kafka.Writer)

// WithBatchTimeout bounds how long a partial batch waits before it is sent
// (kafka-go's default is a second; NewWriter's is 2 ms).
func WithBatchTimeout(d time.Duration) WriterOption {
	return func(w *kafka.Writer) { w.BatchTimeout = d }
}

// WithTransport sets the connection settings (TLS, SASL, timeouts).
func WithTransport(t kafka.RoundTripper) WriterOption {
	return func(w *kafka.Writer) { w.Transport = t }
}

// WithAutoTopicCreation lets the broker create a missing topic on first
// write, when its own auto.create.topics.enable allows it.
func WithAutoTopicCreation(on bool) WriterOption {
	return func(w *kafka.Writer) { w.AllowAutoTopicCreation = on }
}

// NewWriter returns a kafka-go writer for decisions and the engine's other
// outputs, tuned for latency: each message names its topic, batches leave
// after 2 ms rather than kafka-go's default second, every in-sync replica
// must acknowledge, and keys are partitioned with murmur2 as the Java
// client does, so other producers keyed by the same ids agree on
// partitions. WriteMessages on it is synchronous and safe for concurrent
// use; it returns once the broker has acknowledged every message.
func NewWriter(brokers []string, opts ...WriterOption) *kafka.Writer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		BatchSize:    10000,
		BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  3,
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

// TooLarge reports whether err, from a write, refused a message for its
// size: the broker's answer, or kafka-go's own before sending.
func TooLarge(err error) bool {
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge)
}
