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

// writeLinger is NewWriter's BatchTimeout.
const writeLinger = 100 * time.Microsecond

// NewWriter returns a kafka-go writer for decisions and the engine's other
// outputs, tuned for latency: each message names its topic, every
// in-sync replica must acknowledge, and keys are partitioned with murmur2
// as the Java client does, so other producers keyed by the same ids agree
// on partitions. A partition's messages of one WriteMessages go in
// requests of at most BatchSize (kafka-go's default, 100): kafka-go
// allocates and zeroes room for BatchSize messages for every batch, so at
// 10,000 each batch cost 1.5 MB and riskd a fifth of its CPU. The callers
// batch themselves (a worker's batch is its events of up to
// --flush-interval), so a batch leaves after BatchTimeout, a tenth of a
// millisecond, rather than lingering for messages that are not coming
// (kafka-go's default is a second). WriteMessages on it is synchronous and
// safe for concurrent use; it returns once the broker has acknowledged
// every message.
func NewWriter(brokers []string, opts ...WriterOption) *kafka.Writer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		BatchSize:    100,
		BatchTimeout: writeLinger,
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
