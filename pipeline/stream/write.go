package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/retry"
)

// flush hands the batch to the writer goroutine, waiting while the writer
// is behind (the backpressure) unless stop comes first, and starts a new
// one. It reports false when stop came first: the batch then stays, to be
// handed over by drain. It runs on the worker's goroutine.
func (w *worker) flush(batches chan<- *batch, stop <-chan struct{}) bool {
	b := w.batch
	if b.events == 0 && !b.advanced {
		return true
	}
	if w.hold != nil {
		w.cfg.Metrics.HoldTimeouts.Add(float64(w.hold.timeouts))
		w.cfg.Metrics.HoldOverflows.Add(float64(w.hold.overflows))
		w.hold.timeouts, w.hold.overflows = 0, 0
		// Held messages are not decided yet: a restart must see them again.
		if off, ok := w.hold.minOffset(); ok {
			b.next[0] = off
		} else {
			b.next[0] = w.last + 1
		}
	}
	for _, s := range w.sources {
		w.progress.fetched(w.cfg.Metrics, s.topic, s.partition, s.hwm, s.first)
	}
	w.stateChanges(b)
	st := w.engine.Stats()
	w.cfg.Metrics.observeState(w.stageID, w.partition, st, w.prev)
	w.prev = st
	select {
	case batches <- b:
	case <-stop:
		return false
	}
	w.batch = w.newBatch()
	return true
}

// pending is an output not acknowledged yet.
type pending struct {
	msg   kafka.Message
	in    *kafka.Message // the input it was made from; nil for a heartbeat
	alone bool           // refused in a shared batch: written on its own from now on
}

// writeGroup writes the outputs of group. Only the messages that failed
// are written again: after a retriable error, with a backoff (50 ms
// doubling to 5 s, jittered; see newBackOff); after a permanent one, at
// once and alone, through the isolated writer, since the shared batch may
// have failed for another message; refused alone, a message is replaced
// by its input's dead letter (see refused). A write that goes on for
// StallTimeout is a stall (see stalled). It runs on l's goroutine and
// reports false when ctx ended first.
func (w *worker) writeGroup(ctx context.Context, l *lane, group []*batch) bool {
	l.scratch = l.scratch[:0]
	for _, g := range group {
		l.scratch = append(l.scratch, g.msgs...)
	}
	errs := send(ctx, w.cfg.Writer, l.scratch)
	if errs == nil {
		w.countOutputs(l.scratch)
		return true
	}
	var out []pending
	for _, g := range group {
		for i := range g.msgs {
			out = append(out, pending{msg: g.msgs[i], in: g.input(i)})
		}
	}
	backoff := retry.Backoff(50*time.Millisecond, 5*time.Second)
	for {
		if ctx.Err() != nil {
			return false
		}
		var wait bool
		var err error
		out, wait, err = w.sortOut(out, errs)
		if len(out) == 0 {
			break
		}
		if wait {
			w.stalling(l, err, len(out))
			if !retry.Sleep(ctx, backoff.NextBackOff()) {
				return false
			}
		}
		errs = w.attempt(ctx, l, out)
	}
	return true
}

// errNotAttempted marks the messages of a write that kafka-go gave up
// before sending, because another message was over its BatchBytes.
var errNotAttempted = errors.New("not attempted")

// attempt writes out once, on l's goroutine: the messages refused before
// in a shared batch alone through the isolated writer, the others together
// through the stream's writer. It returns, per message, nil or why it was
// not written.
func (w *worker) attempt(ctx context.Context, l *lane, out []pending) []error {
	errs := make([]error, len(out))
	for _, alone := range []bool{false, true} {
		l.scratch = l.scratch[:0]
		var idx []int
		for i := range out {
			if out[i].alone == alone {
				l.scratch = append(l.scratch, out[i].msg)
				idx = append(idx, i)
			}
		}
		wr := w.cfg.Writer
		if alone {
			wr = w.isolated
		}
		for j, err := range send(ctx, wr, l.scratch) {
			errs[idx[j]] = err
		}
	}
	return errs
}

// sortOut looks at the outcome of a write of out, errs per message (nil:
// all were written), and returns what is left to write (failed messages,
// and the dead letters replacing refused ones), whether to back off before
// the next attempt, and the error to report for it.
func (w *worker) sortOut(out []pending, errs []error) (left []pending, wait bool, werr error) {
	c := w.cfg
	for i, p := range out {
		var err error
		if errs != nil {
			err = errs[i]
		}
		switch {
		case err == nil:
			c.Metrics.Outputs.WithLabelValues(p.msg.Topic).Inc()
			continue
		case errors.Is(err, errNotAttempted):
			left = append(left, p)
			continue
		}
		kind := writeErrorKind(err)
		c.Metrics.WriteErrors.WithLabelValues(kind).Inc()
		switch {
		case kind == kindRetriable:
			left, wait, werr = append(left, p), true, err
		case !p.alone:
			p.alone = true
			left = append(left, p)
		default:
			next, keep, stuck := w.refused(p, err)
			if keep {
				left = append(left, next)
			}
			if stuck {
				wait, werr = true, err
			}
		}
	}
	return left, wait, werr
}

// send writes msgs with wr and returns, per message, nil or why it was not
// written; nil when all were.
func send(ctx context.Context, wr *kafka.Writer, msgs []kafka.Message) []error {
	if len(msgs) == 0 {
		return nil
	}
	err := wr.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	errs := make([]error, len(msgs))
	var we kafka.WriteErrors
	var big kafka.MessageTooLargeError
	switch {
	case errors.As(err, &we) && len(we) == len(msgs):
		copy(errs, we)
	case errors.As(err, &big):
		// kafka-go checked sizes before sending anything: the one over
		// its BatchBytes is at fault, the others wait for the next try.
		for i := range msgs {
			errs[i] = errNotAttempted
			if len(msgs[i].Value) > 0 && len(big.Message.Value) == len(msgs[i].Value) && &big.Message.Value[0] == &msgs[i].Value[0] {
				errs[i] = err
			}
		}
	default:
		for i := range errs {
			errs[i] = err // before any batch was sent: metadata, context
		}
	}
	return errs
}

// refused handles p, refused by the broker on its own with permanent error
// err. An output gives way to its input's dead letter; a dead letter to a
// smaller one (shrinkDeadLetter); a heartbeat is dropped (the next one
// says the same). A dead letter refused at its smallest cannot be
// replaced: it is kept and retried with a backoff (stuck), so that the
// partition stalls visibly rather than lose the event without a trace.
func (w *worker) refused(p pending, err error) (next pending, keep, stuck bool) {
	c := w.cfg
	switch {
	case p.in == nil:
		w.logRefused(c.Log.Error(), p, err).Msg("heartbeat refused by the broker: dropped")
		return p, false, false
	case p.msg.Topic == c.DLQTopic:
		small, ok := shrinkDeadLetter(p.msg)
		if !ok {
			w.logRefused(c.Log.Error(), p, err).Msg("dead letter refused by the broker even without the input's bytes: retrying; this partition's offsets stay where they are until it is written")
			return p, true, true
		}
		w.logRefused(c.Log.Error(), p, err).Msg("dead letter refused by the broker: sending it without the input's bytes")
		return pending{msg: small, in: p.in, alone: true}, true, false
	}
	reason := ReasonOutputRefused
	if alerting.TooLarge(err) {
		reason = ReasonOutputTooLarge
	}
	c.Metrics.Rejected.WithLabelValues(reason).Inc()
	w.logRefused(c.Log.Warn(), p, err).Msg("output refused by the broker: its input goes to the dead-letter topic instead")
	problem := fmt.Sprintf("%s of %d bytes refused by the broker (topic %s): %v", w.describe(&p.msg), messageSize(&p.msg), p.msg.Topic, err)
	return pending{msg: w.deadLetter(p.in, reason, problem), in: p.in}, true, false
}

// logRefused adds to ev what a refused message was and where it came from.
func (w *worker) logRefused(ev *zerolog.Event, p pending, err error) *zerolog.Event {
	ev = ev.Err(err).Str("stage", w.stageID).Int("partition", w.partition).Str("topic", p.msg.Topic).Int("bytes", messageSize(&p.msg))
	if p.in != nil {
		ev = ev.Str("source_topic", p.in.Topic).Int("source_partition", p.in.Partition).Int64("source_offset", p.in.Offset)
	}
	return ev
}

// describe names the kind of output m is.
func (w *worker) describe(m *kafka.Message) string {
	switch m.Topic {
	case w.cfg.DecisionsTopic:
		return "decision"
	case w.cfg.FeaturesTopic:
		return "feature record"
	case w.cfg.IPTopic:
		return "repartition observation"
	}
	return "output"
}

// acked releases the offsets of a group whose outputs and state are
// written. It runs on the state stage's goroutine.
func (w *worker) acked(group []*batch) {
	for _, g := range group {
		w.applyAcked(g)
		for i, next := range g.next {
			if next >= 0 {
				w.acks.set(w.sources[i].topic, w.sources[i].partition, next)
			}
		}
	}
}

// outputsWritten observes the batches and latencies of a group whose
// outputs the broker has just acknowledged: a decision's latency ends
// there, not when the state behind it is written. It runs on the outputs
// stage's goroutine.
func (w *worker) outputsWritten(group []*batch) {
	c := w.cfg
	now := time.Now()
	for _, g := range group {
		if len(g.msgs) > 0 {
			c.Metrics.Batches.Inc()
		}
		if g.events > 0 {
			c.Metrics.BatchSize.Observe(float64(g.events))
		}
		for i := 0; i+1 < len(g.times); i += 2 {
			c.Metrics.EventLatency.Observe(now.Sub(time.UnixMilli(g.times[i])).Seconds())
			c.Metrics.IngestLatency.Observe(now.Sub(time.UnixMilli(g.times[i+1])).Seconds())
		}
	}
}
