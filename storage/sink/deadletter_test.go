package sink

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/pipeline/record"
	"github.com/riskd/riskd/storage"
)

// TestRejectReason checks the reason the tables' own errors get: a
// feature record of another format version is unknown_record_version,
// anything else the sink cannot read is invalid_record.
func TestRejectReason(t *testing.T) {
	features, decisions := storage.Features(nil, "db"), storage.Decisions(nil, "db")
	for _, c := range []struct {
		name  string
		table *storage.Table
		value []byte
		want  string
	}{
		{"feature record of a newer version", features, []byte{record.Version + 1, record.KindFeature, 1, 2, 3}, ReasonUnknownVersion},
		{"feature record of version 1, before the network features", features, []byte{1, record.KindFeature, 1, 2, 3}, ReasonUnknownVersion},
		{"feature record of version 0", features, []byte{0, record.KindFeature}, ReasonUnknownVersion},
		{"observation on the features topic", features, []byte{record.Version, record.KindObservation}, ReasonInvalidRecord},
		{"truncated feature record", features, []byte{record.Version, record.KindFeature, 0xff}, ReasonInvalidRecord},
		{"empty message", features, nil, ReasonInvalidRecord},
		{"decision that is not JSON", decisions, []byte("{"), ReasonInvalidRecord},
		{"decision without id", decisions, []byte(`{"event_id":"e1"}`), ReasonInvalidRecord},
	} {
		_, err := c.table.Row(c.value)
		if err == nil {
			t.Errorf("%s: made a row", c.name)
			continue
		}
		if got := rejectReason(err); got != c.want {
			t.Errorf("%s: reason %q for %v, want %q", c.name, got, err, c.want)
		}
	}
	if got := rejectReason(fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", record.ErrVersion))); got != ReasonUnknownVersion {
		t.Errorf("doubly wrapped ErrVersion: %q", got)
	}
}

// TestDeadLetter checks that a dead letter keeps the message's key, value
// and headers and adds the stream's riskd-* headers after them, without
// writing into the fetched message's header array.
func TestDeadLetter(t *testing.T) {
	orig := make([]kafka.Header, 1, 8) // spare capacity an append would use
	orig[0] = kafka.Header{Key: "trace", Value: []byte("abc")}
	m := kafka.Message{Topic: "risk-features", Partition: 3, Offset: 1234, Key: []byte("u1"), Value: []byte{record.Version + 1, 'F', 9}, Headers: orig}
	d := deadLetter("risk-events-dlq", &m, ReasonUnknownVersion, errors.New("feature record: version 2"))
	if d.Topic != "risk-events-dlq" || string(d.Key) != "u1" || string(d.Value) != string(m.Value) {
		t.Errorf("dead letter topic %q key %q value %v", d.Topic, d.Key, d.Value)
	}
	want := []kafka.Header{
		{Key: "trace", Value: []byte("abc")},
		{Key: "riskd-reason", Value: []byte("unknown_record_version")},
		{Key: "riskd-error", Value: []byte("feature record: version 2")},
		{Key: "riskd-topic", Value: []byte("risk-features")},
		{Key: "riskd-partition", Value: []byte("3")},
		{Key: "riskd-offset", Value: []byte("1234")},
	}
	if len(d.Headers) != len(want) {
		t.Fatalf("headers %v, want %v", d.Headers, want)
	}
	for i := range want {
		if d.Headers[i].Key != want[i].Key || string(d.Headers[i].Value) != string(want[i].Value) {
			t.Errorf("header %d: %s=%q, want %s=%q", i, d.Headers[i].Key, d.Headers[i].Value, want[i].Key, want[i].Value)
		}
	}
	if spare := orig[:2]; spare[1].Key != "" {
		t.Errorf("the fetched message's header array was written: %v", spare)
	}

	long := strings.Repeat("é", alerting.MaxErrorBytes) // 2 bytes each: the cut falls inside one
	d = deadLetter("dlq", &m, ReasonInvalidRecord, errors.New(long))
	problem := header(d.Headers, alerting.HeaderError)
	if len(problem) > alerting.MaxErrorBytes+3 || !utf8.ValidString(problem) || !strings.HasSuffix(problem, "...") {
		t.Errorf("long error kept as %d bytes (valid UTF-8: %v)", len(problem), utf8.ValidString(problem))
	}
}

// TestUnwritten checks what a failed dead-letter write leaves to write
// again: the failed messages only, those refused for their size without
// their value, and everything when the error does not tell them apart.
func TestUnwritten(t *testing.T) {
	msgs := []kafka.Message{
		{Key: []byte("a"), Value: []byte("written")},
		{Key: []byte("b"), Value: []byte("too large")},
		{Key: []byte("c"), Value: []byte("failed")},
	}
	left := unwritten(msgs, kafka.WriteErrors{nil, fmt.Errorf("produce: %w", kafka.MessageSizeTooLarge), kafka.LeaderNotAvailable})
	if len(left) != 2 || string(left[0].Key) != "b" || string(left[1].Key) != "c" {
		t.Fatalf("left %v, want b and c", left)
	}
	if left[0].Value != nil || header(left[0].Headers, alerting.HeaderTrimmed) != strconv.Itoa(len("too large")) {
		t.Errorf("too large: value %q, headers %v", left[0].Value, left[0].Headers)
	}
	if string(left[1].Value) != "failed" || len(left[1].Headers) != 0 {
		t.Errorf("failed: value %q, headers %v", left[1].Value, left[1].Headers)
	}
	if string(msgs[1].Value) != "too large" {
		t.Errorf("the original message was changed: %q", msgs[1].Value)
	}

	if left := unwritten(msgs, kafka.LeaderNotAvailable); len(left) != 3 || string(left[1].Value) != "too large" {
		t.Errorf("after an error about the whole write: %v", left)
	}
	big := kafka.MessageTooLargeError{Message: msgs[1]}
	left = unwritten(msgs, big)
	if len(left) != 3 {
		t.Fatalf("after kafka-go's own size check: %v", left)
	}
	for _, m := range left {
		if m.Value != nil || header(m.Headers, alerting.HeaderTrimmed) == "" {
			t.Errorf("after kafka-go's own size check, %s kept its value or lacks %s", m.Key, alerting.HeaderTrimmed)
		}
	}
	// A message without a value has nothing left to cut.
	if got := withoutValues(left); len(got[0].Headers) != 1 {
		t.Errorf("trimmed twice: %v", got[0].Headers)
	}
}

func header(hs []kafka.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
