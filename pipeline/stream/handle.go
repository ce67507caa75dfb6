package stream

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/window"
	"github.com/riskd/riskd/pipeline/record"
	"github.com/riskd/riskd/rules"
)

// handle decides on one item and adds its outputs to the batch: its
// decisions, its feature record and, for a login attempt in the user
// stage, the observation for the address stage. A rejected input goes to
// the dead-letter topic with its reason. An output over MaxMessageBytes is
// left out and the input dead-lettered with reason output_too_large; its
// other outputs still go. It runs on the worker's goroutine.
func (w *worker) handle(in item) {
	// The item lives in the worker (which is on the heap anyway) while it
	// is handled: taken by address below, a parameter would escape, one
	// allocation of a few hundred bytes per event.
	w.cur = in
	it := &w.cur
	c := w.cfg
	b := w.batch
	if len(b.times) == 0 {
		// The batch's first event (a heartbeat counts in events, not
		// here): a batch's events are decided by one set of rules.
		w.takeRules()
	}
	b.events++
	si := w.sourceIndex(&it.msg)
	b.next[si] = it.msg.Offset + 1
	w.in = -1
	w.tooBig = w.tooBig[:0]
	if it.err != nil {
		c.Metrics.Events.WithLabelValues(it.msg.Topic, "invalid").Inc()
		w.reject(it, event.ReasonOf(it.err), it.err.Error())
		return
	}
	w.countEvent(si, it.ev.Type)
	if w.stage == rules.IPStage {
		w.decideIP(it)
	} else if !w.decideUser(it, si) {
		return
	}
	b.times = append(b.times, it.ev.TS.UnixMilli(), it.msg.Time.UnixMilli())
	c.Metrics.observeDecisions(w.out)
	for i := range w.out {
		m, err := alerting.Message(c.DecisionsTopic, &w.out[i])
		if err != nil {
			c.Log.Error().Err(err).Msg("cannot encode decision")
			continue
		}
		w.emit(m, it, "decision on a", w.out[i].Subject.Kind)
	}
	if len(w.tooBig) > 0 {
		w.reject(it, ReasonOutputTooLarge, fmt.Sprintf("%s; over the %d-byte limit (--max-message-bytes)", strings.Join(w.tooBig, ", "), c.MaxMessageBytes))
	}
}

// decideUser runs the user stage on it, from source si, and adds its
// feature record and observation; false means it was refused (and
// dead-lettered), so that it has no decisions.
func (w *worker) decideUser(it *item, si int) bool {
	c := w.cfg
	var toIP bool
	var err error
	w.out, toIP, err = w.engine.DecideUser(&it.ev, c.Now(), w.out[:0])
	if err != nil {
		// Refused by admission (a forged timestamp): it changed no state,
		// moves no watermark, and goes to the dead-letter topic with the
		// reason.
		w.reject(it, event.ReasonOf(err), err.Error())
		return false
	}
	f := w.engine.Features()
	if !f.Stream.Future {
		// Only events within max_future of the stream clock tell the
		// address stage how far this partition has got: one far ahead
		// would let it decide attempts before earlier ones arrive.
		w.sources[si].advance(it.ev.TS.UnixMilli())
		w.mark = max(w.mark, w.sources[si].lastTS)
	}
	if f.Stream.Duplicate {
		c.Metrics.Duplicates.Inc()
	}
	c.Metrics.observeSignals(f, false)
	raw := forwarded(it)
	if !f.Stream.Duplicate {
		w.features(record.StageUser, raw, it)
	}
	if toIP {
		caught := w.caughtUp()
		w.toldCaught = w.toldCaught && caught
		v := record.AppendObservation(nil, &record.Observation{Event: it.ev, Raw: raw, Features: *f,
			Source: w.partition, Sources: w.inputs, Watermark: w.watermark(), Caught: caught})
		w.emit(kafka.Message{Topic: c.IPTopic, Key: []byte(detectors.NetworkOf(it.ev.IP).String()), Value: v}, it, "repartition observation", "")
	}
	return true
}

// decideIP runs the address stage on it and adds its feature record.
func (w *worker) decideIP(it *item) {
	w.out = w.engine.DecideIP(&it.ev, &it.obs.Features, w.cfg.Now(), w.out[:0])
	w.cfg.Metrics.observeSignals(w.engine.Features(), true)
	w.features(record.StageIP, it.obs.Raw, it)
}

// features adds the event's feature record to the batch when features are
// stored (--clickhouse).
func (w *worker) features(stage uint8, raw []byte, it *item) {
	c := w.cfg
	if c.FeaturesTopic == "" {
		return
	}
	v := record.AppendFeature(nil, &record.Feature{Stage: stage, RulesVersion: w.engine.Rules().Version, Event: it.ev, Raw: raw, Features: *w.engine.Features()})
	w.emit(kafka.Message{Topic: c.FeaturesTopic, Key: []byte(it.ev.UserID), Value: v}, it, "feature record", "")
}

// emit adds m, an output of it, to the batch; one over MaxMessageBytes is
// left out and named (what, and the subject kind of a decision) in
// w.tooBig instead.
func (w *worker) emit(m kafka.Message, it *item, what, kind string) {
	if n := messageSize(&m); n > w.cfg.MaxMessageBytes {
		w.tooBig = append(w.tooBig, strings.TrimSpace(fmt.Sprintf("%s %s", what, kind))+fmt.Sprintf(" of %d bytes", n))
		return
	}
	w.batch.add(m, w.input(it))
}

// reject counts it as rejected for reason and adds its dead letter.
func (w *worker) reject(it *item, reason, problem string) {
	w.cfg.Metrics.Rejected.WithLabelValues(reason).Inc()
	w.batch.add(w.deadLetter(&it.msg, reason, problem), w.input(it))
}

// input returns the index of it's message in the batch's inputs, adding
// it on the item's first output.
func (w *worker) input(it *item) int32 {
	if w.in < 0 {
		w.batch.inputs = append(w.batch.inputs, it.msg)
		w.in = int32(len(w.batch.inputs) - 1)
	}
	return w.in
}

// markWindow is how many admitted events of a source its progress is the
// oldest of: a forged timestamp within max_future of the stream (one link
// of a creeping chain, say) must not tell the address stage that this
// partition has passed times it has not, or the address stage would count
// a password spray out of order; real events around it keep the minimum
// down. In a backlog the mark lags this many events; a caught-up partition
// holds the address stage back for nothing anyway.
const markWindow = 128

// advance records an admitted event at ts (Unix ms) and moves lastTS to
// the oldest of the source's last markWindow event times.
func (s *source) advance(ts int64) {
	if s.marks == nil {
		s.marks = window.NewMin(markWindow)
	}
	s.marks.Push(ts)
	if m, _ := s.marks.Min(); m > s.lastTS {
		s.lastTS = m
	}
}

// maxForwarded is the largest input the stages forward as it came (in the
// repartition observation and the feature record's event_json); a larger
// one is forwarded as event.Encode writes it, the fields riskd keeps,
// bounded. A real event is well under 2 KiB; an attacker who pads his
// login attempt with a megabyte of unknown members must not push its
// observation past the broker's limit and out of the address stage's sight.
const maxForwarded = 16 << 10

func forwarded(it *item) []byte {
	if len(it.msg.Value) <= maxForwarded {
		return it.msg.Value
	}
	return event.Encode(&it.ev)
}

// countEvent counts an event of type t from source si in
// riskd_events_total, through counters the worker keeps per source and
// type: a label lookup per event costs more than the counting.
func (w *worker) countEvent(si int, t event.Type) {
	if w.counters == nil {
		w.counters = make([]map[event.Type]prometheus.Counter, len(w.sources))
	}
	if w.counters[si] == nil {
		w.counters[si] = map[event.Type]prometheus.Counter{}
	}
	ctr, ok := w.counters[si][t]
	if !ok {
		ctr = w.cfg.Metrics.Events.WithLabelValues(w.sources[si].topic, t.String())
		w.counters[si][t] = ctr
	}
	ctr.Inc()
}
