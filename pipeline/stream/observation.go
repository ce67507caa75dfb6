package stream

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/pipeline/record"
)

// ReasonInvalidObservation is the dead-letter reason of a repartition-topic
// message that is not an observation a user-stage worker of this stream
// could have sent: not a record, a sender partition or partition count
// that does not fit the input topics, an impossible watermark, or an event
// that event.Decode could not have produced.
const ReasonInvalidObservation = "invalid_observation"

// headerHeartbeat marks heartbeats, which go to the partition they name.
const headerHeartbeat = "riskd-heartbeat"

// explicitBalancer sends heartbeats, and every message to a topic in
// fixed (the changelogs), to the partition they name, and the rest of the
// messages through next: kafka-go's Writer ignores Message.Partition and
// asks the Balancer. A changelog message must land in the partition of the
// state it belongs to, whatever its key hashes to: the applied offsets are
// keyed by input, and a restore reads only its own partition. It is safe
// for concurrent use when next is.
type explicitBalancer struct {
	next  kafka.Balancer
	fixed map[string]bool
}

func (b explicitBalancer) Balance(m kafka.Message, partitions ...int) int {
	explicit := b.fixed[m.Topic]
	for _, h := range m.Headers {
		explicit = explicit || h.Key == headerHeartbeat
	}
	if !explicit {
		return b.next.Balance(m, partitions...)
	}
	// A partition that is not there is not replaced by another: the write
	// fails (prepareTopics refuses a changelog of another count, so only a
	// topic shrunk behind riskd's back gets here) rather than put a
	// partition's state where another partition's restore reads it.
	return m.Partition
}

// watermarkLeeway is how far past the wall clock plus max_future an
// observation's watermark may be: the sender's clock may run ahead of this
// host's by that much.
const watermarkLeeway = time.Hour

// obsLimits is what an address-stage worker accepts of an observation.
type obsLimits struct {
	// sources is the input topics' partition count, which every sender
	// states as Sources; its Source is one of them.
	sources int
	// maxMark is the newest watermark (Unix ms) a sender can have reached:
	// user-stage workers advance it only with admitted events, dated at
	// most max_future ahead of their wall clock.
	maxMark int64
}

// newObsLimits returns the limits for a stream whose input topics have
// sources partitions, at wall-clock time now, with the rules' max_future.
func newObsLimits(sources int, now time.Time, maxFuture time.Duration) obsLimits {
	return obsLimits{sources: sources, maxMark: now.Add(maxFuture + watermarkLeeway).UnixMilli()}
}

// maxProblemBytes bounds the part of an invalid observation's problem that
// quotes the decoder: it goes into a dead-letter header and a log line.
const maxProblemBytes = 256

// decodeObservation decodes a repartition-topic record (see package
// record) and checks it against lim. The error, when not nil, is an
// *event.Error with ReasonInvalidObservation or
// alerting.ReasonUnknownVersion, and
// the observation is not to be used. It is a pure function, safe for
// concurrent use; the observation aliases b.
func decodeObservation(b []byte, lim obsLimits) (*record.Observation, error) {
	o := new(record.Observation)
	if err := record.DecodeObservation(b, o); err != nil {
		if errors.Is(err, record.ErrVersion) {
			return nil, &event.Error{Reason: alerting.ReasonUnknownVersion, Problem: "repartition message: " + err.Error()}
		}
		return nil, invalidObservation("%s", clip(err.Error()))
	}
	if err := lim.check(o); err != nil {
		return nil, err
	}
	return o, nil
}

// check reports whether o's sender and watermark are possible.
func (lim obsLimits) check(o *record.Observation) error {
	switch {
	case o.Sources != lim.sources:
		return invalidObservation("sources %d, but the input topics have %d partitions", o.Sources, lim.sources)
	case !lim.validMark(o.Watermark):
		return invalidObservation("watermark %d is not a time a sender can have reached", o.Watermark)
	}
	return nil
}

// minMark is the earliest event time an accepted event can have, Unix ms:
// 1970-01-01 less the largest offset, 23:59.
const minMark = -(23*60 + 59) * 60 * 1000

// validMark reports whether m is "nothing decided yet" (math.MinInt64) or
// a Unix ms time from minMark to maxMark.
func (lim obsLimits) validMark(m int64) bool {
	// The decoder checks the year as written, so 1970-01-01T00:00:00+23:59
	// is a real event time a day before the epoch.
	return m == math.MinInt64 || (m >= minMark && m <= lim.maxMark)
}

func invalidObservation(format string, args ...any) *event.Error {
	return &event.Error{Reason: ReasonInvalidObservation, Problem: "repartition message: " + fmt.Sprintf(format, args...)}
}

// clip cuts s to at most maxProblemBytes of valid UTF-8, marking the cut.
func clip(s string) string {
	if len(s) <= maxProblemBytes {
		return strings.ToValidUTF8(s, "?")
	}
	return strings.ToValidUTF8(s[:maxProblemBytes], "") + "..."
}
