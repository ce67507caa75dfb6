package alerting

import (
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"
)

// Dead-letter headers, the same from the streaming member and the
// ClickHouse sink so that one reader of the dead-letter topic understands
// both: the original message's key, value and headers are kept byte for
// byte unless the dead letter would be too large; these say why and where
// it came from, and what was cut.
const (
	HeaderReason    = "riskd-reason"
	HeaderError     = "riskd-error"
	HeaderTopic     = "riskd-topic"
	HeaderPartition = "riskd-partition"
	HeaderOffset    = "riskd-offset"
	// HeaderTrimmed, when present, says the value was cut to a prefix to
	// fit; it holds the original value's length in bytes.
	HeaderTrimmed = "riskd-trimmed"
	// HeaderTrimmedHeaders holds how many of the original message's
	// headers were left out to fit; HeaderTrimmedKey the original key's
	// length when the key was cut.
	HeaderTrimmedHeaders = "riskd-trimmed-headers"
	HeaderTrimmedKey     = "riskd-trimmed-key"
)

// ReasonUnknownVersion is the dead-letter reason of a record (repartition
// observation or feature record) written in a format version this binary
// cannot read, by a newer member during an upgrade: it is set aside whole,
// never misread.
const ReasonUnknownVersion = "unknown_record_version"

// MaxErrorBytes bounds the riskd-error header of a dead letter.
const MaxErrorBytes = 1024

// DeadLetter returns the dead letter of in for topic: in's key, value and
// headers, then the riskd-* headers saying why (reason, problem, cut to
// MaxErrorBytes) and where it came from. in's headers are not modified.
func DeadLetter(topic string, in *kafka.Message, reason, problem string) kafka.Message {
	if len(problem) > MaxErrorBytes {
		problem = strings.ToValidUTF8(problem[:MaxErrorBytes], "") + "..."
	}
	n := len(in.Headers)
	return kafka.Message{
		Topic: topic,
		Key:   in.Key,
		Value: in.Value,
		// A full slice expression, so that the riskd-* headers never land
		// in the array of the fetched message's headers.
		Headers: append(in.Headers[:n:n],
			kafka.Header{Key: HeaderReason, Value: []byte(reason)},
			kafka.Header{Key: HeaderError, Value: []byte(problem)},
			kafka.Header{Key: HeaderTopic, Value: []byte(in.Topic)},
			kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(in.Partition))},
			kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(in.Offset, 10))},
		),
	}
}
