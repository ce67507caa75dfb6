package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
)

func header(m *kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// TestDeadLetterFits builds dead letters of inputs of every size against a
// 4 KiB limit: those that fit are the input byte for byte; the others are
// cut to the limit, value first, then the input's headers, then the key,
// each cut said in a header, and the riskd-* headers are always there.
func TestDeadLetterFits(t *testing.T) {
	const limit = 4096
	w := &worker{cfg: &Config{DLQTopic: "dlq", MaxMessageBytes: limit}}
	hdrs := func(n, size int) []kafka.Header {
		var hs []kafka.Header
		for i := range n {
			hs = append(hs, kafka.Header{Key: "h" + strconv.Itoa(i), Value: bytes.Repeat([]byte("v"), size)})
		}
		return hs
	}
	tests := []struct {
		name                                    string
		key, value                              int
		headers                                 []kafka.Header
		wantValue                               int // -1: whole
		wantTrimmed, wantHeadersCut, wantKeyCut bool
	}{
		{"small: unchanged", 10, 300, hdrs(2, 10), -1, false, false, false},
		{"10 MB value: cut", 10, 10 << 20, hdrs(2, 10), 3000, true, false, false},
		{"value just over", 10, limit, nil, 3000, true, false, false},
		{"huge headers: left out", 10, 100, hdrs(20, 1000), 0, true, true, false},
		{"huge key: cut", 1 << 20, 100, nil, 0, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := kafka.Message{Topic: "auth", Partition: 3, Offset: 42,
				Key: bytes.Repeat([]byte("k"), tt.key), Value: bytes.Repeat([]byte("x"), tt.value), Headers: tt.headers}
			dl := w.deadLetter(&in, ReasonOutputTooLarge, "decision of 2000000 bytes")
			if n := messageSize(&dl); n > limit {
				t.Fatalf("dead letter is %d bytes, over %d", n, limit)
			}
			for key, want := range map[string]string{alerting.HeaderReason: ReasonOutputTooLarge, alerting.HeaderTopic: "auth", alerting.HeaderPartition: "3", alerting.HeaderOffset: "42"} {
				if got, _ := header(&dl, key); got != want {
					t.Errorf("header %s = %q, want %q", key, got, want)
				}
			}
			trimmed, ok := header(&dl, alerting.HeaderTrimmed)
			if ok != tt.wantTrimmed || (ok && trimmed != strconv.Itoa(tt.value)) {
				t.Errorf("%s = %q (%v), want the value's length %d: %v", alerting.HeaderTrimmed, trimmed, ok, tt.value, tt.wantTrimmed)
			}
			if _, ok := header(&dl, alerting.HeaderTrimmedHeaders); ok != tt.wantHeadersCut {
				t.Errorf("headers left out: %v, want %v", ok, tt.wantHeadersCut)
			}
			if _, ok := header(&dl, alerting.HeaderTrimmedKey); ok != tt.wantKeyCut {
				t.Errorf("key cut: %v, want %v", ok, tt.wantKeyCut)
			}
			switch {
			case tt.wantValue < 0 && !bytes.Equal(dl.Value, in.Value):
				t.Error("a dead letter that fits does not carry the input's value")
			case tt.wantValue >= 0 && (len(dl.Value) < tt.wantValue-200 || len(dl.Value) > tt.wantValue+1000):
				t.Errorf("value cut to %d bytes, want about %d", len(dl.Value), tt.wantValue)
			case !bytes.HasPrefix(in.Value, dl.Value):
				t.Error("the value is not a prefix of the input's")
			}
		})
	}
}

func TestShrinkDeadLetter(t *testing.T) {
	w := &worker{cfg: &Config{DLQTopic: "dlq", MaxMessageBytes: 1 << 20}}
	in := kafka.Message{Topic: "auth", Key: []byte("user"), Value: bytes.Repeat([]byte("x"), 5000),
		Headers: []kafka.Header{{Key: "trace", Value: []byte("abc")}}}
	dl := w.deadLetter(&in, "bad_value", "problem")
	small, ok := shrinkDeadLetter(dl)
	if !ok || len(small.Value) != 0 || len(small.Key) != 0 {
		t.Fatalf("shrunk to %d bytes of value, key %q (%v)", len(small.Value), small.Key, ok)
	}
	for key, want := range map[string]string{alerting.HeaderReason: "bad_value", alerting.HeaderTrimmed: "5000", alerting.HeaderTrimmedHeaders: "1", alerting.HeaderTrimmedKey: "4", alerting.HeaderOffset: "0"} {
		if got, _ := header(&small, key); got != want {
			t.Errorf("header %s = %q, want %q", key, got, want)
		}
	}
	if _, again := shrinkDeadLetter(small); again {
		t.Error("the smallest dead letter shrinks further")
	}
}

func TestWriteErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{kafka.MessageSizeTooLarge, kindPermanent},
		{fmt.Errorf("%w: the request included a message larger than the max message size", kafka.MessageSizeTooLarge), kindPermanent},
		{kafka.MessageTooLargeError{}, kindPermanent},
		{kafka.RecordListTooLarge, kindPermanent},
		{kafka.InvalidRecord, kindPermanent},
		{kafka.InvalidMessage, kindPermanent},
		{kafka.InvalidTimestamp, kindPermanent},
		{kafka.NotLeaderForPartition, kindRetriable},
		{kafka.NotEnoughReplicas, kindRetriable},
		{kafka.UnknownTopicOrPartition, kindRetriable},
		{kafka.TopicAuthorizationFailed, kindRetriable},
		{kafka.RequestTimedOut, kindRetriable},
		{io.ErrUnexpectedEOF, kindRetriable},
		{context.DeadlineExceeded, kindRetriable},
	}
	for _, tt := range tests {
		if got := writeErrorKind(tt.err); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.err, got, tt.want)
		}
	}
}

// TestSendAttributesErrors checks that send gives each message its own
// error: kafka-go's per-message WriteErrors as they are, and its
// MessageTooLargeError (nothing sent) to the message at fault only.
func TestSendAttributesErrors(t *testing.T) {
	w := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:1"), BatchBytes: 1000}
	msgs := []kafka.Message{
		{Topic: "t", Value: []byte("small")},
		{Topic: "t", Value: bytes.Repeat([]byte("x"), 2000)},
		{Topic: "t", Value: []byte("small too")},
	}
	errs := send(context.Background(), w, msgs)
	if len(errs) != 3 || !errors.Is(errs[0], errNotAttempted) || writeErrorKind(errs[1]) != kindPermanent || !errors.Is(errs[2], errNotAttempted) {
		t.Fatalf("errors %v, want not attempted, too large, not attempted", errs)
	}
}
