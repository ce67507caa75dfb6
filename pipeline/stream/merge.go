package stream

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/pipeline/record"
)

// The worker's input side: merging its sources in event-time order, and
// telling the address stage how far this (user-stage) worker has got. All
// of it runs on the worker's goroutine.

// next returns the source item to process next: among the sources that
// have one, the earliest in event time (undecodable ones first), after
// waiting at most MergeWait for a source that is behind its high watermark
// but has nothing buffered. got is false when until (if not zero) passed
// first; ok is false when ctx ends.
func (w *worker) next(ctx context.Context, until time.Time) (it item, got, ok bool) {
	var deadline <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		deadline = t.C
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var graceTimer *time.Timer
	defer func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
	}()
	for {
		have, waiting := w.refill()
		var grace <-chan time.Time
		if have && !waiting {
			until := w.graceUntil()
			if until.IsZero() || !time.Now().Before(until) {
				return w.pop(), true, true
			}
			// Set again on each round: a new head may have a deadline
			// of its own (with three or more topics).
			if graceTimer == nil {
				graceTimer = time.NewTimer(time.Until(until))
			} else {
				graceTimer.Reset(time.Until(until))
			}
			grace = graceTimer.C
		}
		var expired <-chan time.Time
		if have && waiting {
			if timer == nil {
				timer = time.NewTimer(w.cfg.MergeWait)
			}
			expired = timer.C
		}
		select {
		case <-ctx.Done():
			return item{}, false, false
		case <-deadline:
			return item{}, false, true
		case <-grace:
			// Round again: the grace is over for this head, or another
			// head has come meanwhile.
		case <-w.wake:
		case <-expired:
			for _, s := range w.sources {
				if s.head == nil {
					s.idle = true
				}
			}
			return w.pop(), true, true
		}
	}
}

// graceUntil is how long the earliest head waits for an input topic
// listed before its own (--topics) that is caught up and empty: until
// MergeGrace after it was fetched. Producers write a burst of events to
// the topics at once, and the topics' fetches return a moment apart;
// without the grace a transaction could be decided before the login that
// preceded it (Kafka Streams calls this max.task.idle.ms). The topics are
// listed in that order of dependence, so an event of the first topic (a
// login) never waits: nothing of a later topic changes how it is decided,
// and most events go at once. Zero when there is no such topic or no
// grace.
func (w *worker) graceUntil() time.Time {
	if w.cfg.MergeGrace <= 0 || len(w.sources) < 2 {
		return time.Time{}
	}
	var first *item
	firstSrc := -1
	for i, s := range w.sources {
		if s.head != nil && (first == nil || s.head.ev.TS.Before(first.ev.TS)) {
			first, firstSrc = s.head, i
		}
	}
	if !slices.ContainsFunc(w.sources[:max(firstSrc, 0)], func(s *source) bool { return s.head == nil }) {
		return time.Time{}
	}
	// An undecodable or far-ahead head goes first, at once (see pop);
	// asked only here, where a wait is due, to keep it off the busy path.
	for _, s := range w.sources {
		if s.head != nil && (s.head.err != nil || w.farAhead(s.head)) {
			return time.Time{}
		}
	}
	return first.fetched.Add(w.cfg.MergeGrace)
}

// refill takes a buffered item into each source's head. have reports that
// some source has one; waiting that some other source may get one soon.
func (w *worker) refill() (have, waiting bool) {
	for _, s := range w.sources {
		if s.head == nil {
			select {
			case s.buf = <-s.ch:
				s.head, s.idle = &s.buf, false
				s.caught = s.buf.msg.HighWaterMark > 0 && s.buf.msg.Offset+1 >= s.buf.msg.HighWaterMark
			default:
			}
		}
		if s.head != nil {
			have = true
		} else if !s.idle && !s.caught {
			waiting = true
		}
	}
	return have, waiting
}

func (w *worker) pop() item {
	var best *source
	bestTS := int64(math.MaxInt64)
	for _, s := range w.sources {
		if s.head == nil {
			continue
		}
		ts := int64(math.MinInt64)
		if s.head.err == nil && !w.farAhead(s.head) {
			ts = s.head.ev.TS.UnixNano()
		}
		if best == nil || ts < bestTS {
			best, bestTS = s, ts
		}
	}
	it := *best.head
	best.head = nil
	best.hwm = max(best.hwm, it.msg.HighWaterMark)
	if best.first < 0 {
		best.first = it.msg.Offset
	}
	return it
}

// farAhead reports that it is dated more than state.max_future past the
// newest event decided here (or past the wall clock, so it will be
// refused). Such an item goes first, like an undecodable one: it moves no
// clock and changes nothing for other users, but merged by its time it
// would hold its topic back while the other topics' backlog went ahead,
// and a forged timestamp would reorder everyone's events.
func (w *worker) farAhead(it *item) bool {
	if w.engine.Admit(&it.ev, w.cfg.Now()) != nil {
		return true
	}
	maxFuture := time.Duration(w.cfg.Rules.Detectors.State.MaxFuture)
	return w.mark != math.MinInt64 && it.ev.TS.UnixMilli()-w.mark > maxFuture.Milliseconds()
}

// watermark is the event time below which this worker expects no more
// events: the oldest of its sources' latest, leaving out sources read to
// the end. Each source is taken to be in event-time order (its producer's
// order); the merge of sources is not, when one of them falls behind. Only
// admitted events that are not far ahead of the stream clock count as a
// source's latest (see decideUser): a forged timestamp moves nothing.
func (w *worker) watermark() int64 {
	m := int64(math.MaxInt64)
	for _, s := range w.sources {
		if s.caught && s.head == nil && len(s.ch) == 0 {
			continue
		}
		if s.lastTS == 0 {
			return math.MinInt64
		}
		m = min(m, s.lastTS)
	}
	if m == math.MaxInt64 {
		return w.mark
	}
	return m
}

// beat sends a heartbeat to every address partition when this worker has
// caught up and not said so yet, and every quarter of IPHold while it works
// through a backlog, so that the address stage's watermarks move even for
// partitions whose own messages do not reach it.
func (w *worker) beat() {
	if w.ipPartitions <= 0 {
		return
	}
	caught := w.caughtUp()
	if (!caught || w.toldCaught) && time.Since(w.lastBeat) < w.cfg.IPHold/4 {
		return
	}
	w.heartbeat(caught)
}

// leave tells every address partition, in the last batch of a generation,
// that this partition is no longer caught up: until its next owner says
// otherwise, events go on arriving that nobody reads, and an address
// partition that still took it for caught up would decide later attempts
// from other partitions before them (a spray counted short).
func (w *worker) leave() {
	if w.ipPartitions > 0 {
		w.heartbeat(false)
	}
}

// heartbeat adds to the batch a heartbeat to every address partition with
// this partition's watermark and whether it has caught up.
func (w *worker) heartbeat(caught bool) {
	v := record.AppendObservation(nil, &record.Observation{Heartbeat: true, Source: w.partition, Sources: w.inputs, Watermark: w.watermark(), Caught: caught})
	for p := 0; p < w.ipPartitions; p++ {
		w.batch.add(kafka.Message{Topic: w.cfg.IPTopic, Partition: p, Value: v,
			Headers: []kafka.Header{{Key: headerHeartbeat, Value: []byte("1")}}}, -1)
	}
	w.batch.events++ // so that it is flushed
	w.toldCaught, w.lastBeat = caught, time.Now()
}

// initCaught asks the brokers which sources start at their end, so that an
// idle partition can say it is caught up before any message arrives.
func (w *worker) initCaught(ctx context.Context) {
	client := w.cfg.client(10 * time.Second)
	req := map[string][]kafka.OffsetRequest{}
	for _, s := range w.sources {
		req[s.topic] = append(req[s.topic], kafka.FirstOffsetOf(s.partition), kafka.LastOffsetOf(s.partition))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return // the first message will tell
	}
	for _, s := range w.sources {
		for _, po := range resp.Topics[s.topic] {
			if po.Partition != s.partition || po.Error != nil {
				continue
			}
			switch {
			case s.offset == kafka.LastOffset:
				s.caught = true
			case s.offset == kafka.FirstOffset:
				s.caught = po.FirstOffset >= po.LastOffset
			default:
				s.caught = s.offset >= po.LastOffset
			}
		}
	}
}

// caughtUp reports that every source has been read to its high watermark.
func (w *worker) caughtUp() bool {
	for _, s := range w.sources {
		if !s.caught || s.head != nil || len(s.ch) > 0 {
			return false
		}
	}
	return true
}

func (w *worker) inputEmpty() bool {
	for _, s := range w.sources {
		if s.head != nil || len(s.ch) > 0 {
			return false
		}
	}
	return true
}

func (w *worker) sourceIndex(m *kafka.Message) int {
	for i, s := range w.sources {
		if s.topic == m.Topic {
			return i
		}
	}
	return 0
}
