package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/storage"
)

// Dead-letter headers: the original message value and key are kept
// byte for byte; these say why and where it came from.
const (
	HeaderReason    = "riskd-reason"
	HeaderError     = "riskd-error"
	HeaderTopic     = "riskd-topic"
	HeaderPartition = "riskd-partition"
	HeaderOffset    = "riskd-offset"
)

// observation is a message of the repartition topic: a login attempt on its
// way to the address stage, with what the user stage computed for it.
type observation struct {
	Event    json.RawMessage    `json:"event"` // the input message's value, as received
	Features detectors.Features `json:"features"`
	Signals  map[string]string  `json:"signals,omitempty"`
	// Source is the user-stage partition that sent it, of Sources, whose
	// worker had decided events up to Watermark (Unix ms); see hold.
	Source    int   `json:"source"`
	Sources   int   `json:"sources"`
	Watermark int64 `json:"watermark"`
	Caught    bool  `json:"caught"` // the sender had read all its input
	// Heartbeat marks a message that carries only the above, sent to every
	// address partition (see hold).
	Heartbeat bool `json:"heartbeat,omitempty"`
}

// headerHeartbeat marks heartbeats, which go to the partition they name.
const headerHeartbeat = "riskd-heartbeat"

// explicitBalancer sends heartbeats to the partition they name and the
// rest of the messages through next.
type explicitBalancer struct{ next kafka.Balancer }

func (b explicitBalancer) Balance(m kafka.Message, partitions ...int) int {
	for _, h := range m.Headers {
		if h.Key == headerHeartbeat {
			if slices.Contains(partitions, m.Partition) {
				return m.Partition
			}
			return partitions[m.Partition%len(partitions)]
		}
	}
	return b.next.Balance(m, partitions...)
}

// source is one topic partition a worker reads.
type source struct {
	topic     string
	partition int
	offset    int64 // where to start: an offset, kafka.FirstOffset or LastOffset

	ch     chan item
	head   *item // next item, taken from ch but not yet processed
	lastTS int64 // event time of the last item taken, Unix ms
	lag    int64 // messages after the last one taken, as of its fetch
	caught bool  // the last item delivered was at the high watermark
	idle   bool  // waited for in vain: other sources go ahead without it
}

// item is a fetched message, decoded by the source's goroutine.
type item struct {
	msg     kafka.Message
	ev      event.Event
	feats   *detectors.Features // ip stage: the user stage's features
	obs     observation         // ip stage: where it came from
	err     error
	fetched time.Time
}

// worker owns one partition number's engine for one stage. Its goroutine
// (run) reads the sources, merges them in event-time order, decides, and
// hands output batches to a writer goroutine; offsets reach acks only when
// their batch is acknowledged.
type worker struct {
	cfg       *StreamConfig
	stage     rules.Stage
	partition int
	engine    *Engine
	sources   []*source
	acks      *acks
	lost      bool // set by run when outputs were not acknowledged; read after it returns
	// inputs is the input topics' partition count; mark the newest event
	// time decided here (user stage).
	inputs int
	mark   int64
	// hold orders the address stage's input (ip stage only); last is the
	// offset of the newest message taken into it.
	hold *hold
	last int64
	// ipPartitions is the repartition topic's partition count; toldCaught
	// that every address partition heard this (user-stage) worker is caught
	// up, at lastBeat.
	ipPartitions int
	toldCaught   bool
	lastBeat     time.Time

	wake    chan struct{}
	batch   *batch
	out     []rules.Decision
	prev    StateStats
	stageID string
}

// batch is the outputs of consecutive events and the offsets they free.
type batch struct {
	msgs    []kafka.Message
	next    []int64 // per source, the offset after the last event; -1 if none
	times   []int64 // per event: event time, then message time, in Unix ms
	events  int
	started time.Time
}

func (w *worker) newBatch() *batch {
	b := &batch{next: make([]int64, len(w.sources)), started: time.Now()}
	for i := range b.next {
		b.next[i] = -1
	}
	return b
}

// run processes until ctx ends, then drains and reports whether every
// processed event's outputs were acknowledged.
func (w *worker) run(ctx context.Context) {
	c := w.cfg
	w.stageID = "user"
	if w.stage == rules.IPStage {
		w.stageID = "ip"
	}
	w.wake = make(chan struct{}, 1)
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	for _, src := range w.sources {
		src.ch = make(chan item, 256)
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:        c.Brokers,
			Topic:          src.topic,
			Partition:      src.partition,
			Dialer:         c.Dialer,
			MinBytes:       1,
			MaxBytes:       4 << 20,
			MaxWait:        250 * time.Millisecond,
			QueueCapacity:  1024,
			ReadBackoffMin: 50 * time.Millisecond,
			ReadBackoffMax: time.Second,
		})
		if err := r.SetOffset(src.offset); err != nil {
			c.Log.Error().Err(err).Str("topic", src.topic).Int("partition", src.partition).Msg("cannot seek")
		}
		go w.fetch(fetchCtx, r, src)
	}

	// Writes go on after ctx ends, for at most DrainTimeout.
	writeCtx, cancelWrites := context.WithCancel(context.Background())
	defer cancelWrites()
	batches := make(chan *batch, 4)
	written := make(chan bool, 1)
	go func() { written <- w.write(writeCtx, batches) }()

	w.batch = w.newBatch()
	w.mark = math.MinInt64
	w.last = -1
	if w.stage == rules.IPStage {
		w.hold = newHold(c.IPHold)
	} else {
		w.initCaught(ctx)
		w.beat()
		w.flush(batches)
	}
	processing := c.Metrics.Processing.WithLabelValues(w.stageID)
	for {
		var until time.Time
		if w.hold != nil {
			until = w.hold.deadline()
		}
		it, got, ok := w.next(ctx, until)
		if !ok {
			break
		}
		start := time.Now()
		switch {
		case got && w.hold != nil && it.err == nil && it.obs.Heartbeat:
			w.hold.mark(it.obs.Source, it.obs.Sources, it.obs.Watermark, it.obs.Caught)
			w.last = it.msg.Offset
		case got && w.hold != nil && it.err == nil:
			w.hold.add(it, it.obs.Source, it.obs.Sources, it.obs.Watermark, it.obs.Caught, start)
			w.last = it.msg.Offset
		case got:
			w.handle(it)
		}
		if w.hold != nil {
			for {
				x, ok := w.hold.release(start)
				if !ok {
					break
				}
				w.handle(x)
			}
		}
		if w.hold == nil {
			w.beat()
		}
		processing.Observe(time.Since(start).Seconds())
		if w.batch.events >= c.MaxBatch || w.inputEmpty() || time.Since(w.batch.started) >= c.FlushInterval {
			w.flush(batches)
		}
	}
	stopFetch()
	w.flush(batches)
	close(batches)
	timer := time.NewTimer(c.DrainTimeout)
	defer timer.Stop()
	select {
	case ok := <-written:
		w.lost = !ok
	case <-timer.C:
		cancelWrites()
		w.lost = !<-written
	}
}

// fetch reads src into its channel until ctx ends, decoding on the way so
// that decoding runs beside the worker.
func (w *worker) fetch(ctx context.Context, r *kafka.Reader, src *source) {
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				w.cfg.Log.Warn().Err(err).Str("topic", src.topic).Int("partition", src.partition).Msg("fetch failed; retrying")
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
					continue
				}
			}
			return
		}
		it := item{msg: m, fetched: time.Now()}
		if w.stage == rules.IPStage {
			it.ev, it.feats, it.obs, it.err = decodeObservation(m.Value)
		} else {
			it.ev, it.err = event.Decode(m.Value)
		}
		select {
		case src.ch <- it:
		case <-ctx.Done():
			return
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func decodeObservation(b []byte) (event.Event, *detectors.Features, observation, error) {
	var o observation
	if err := json.Unmarshal(b, &o); err != nil {
		return event.Event{}, nil, o, &event.Error{Reason: event.ReasonInvalidJSON, Problem: "repartition message: " + err.Error()}
	}
	if o.Heartbeat {
		return event.Event{}, nil, o, nil
	}
	ev, err := event.Decode(o.Event)
	if err != nil {
		return ev, nil, o, err
	}
	o.Features.SetSignals(o.Signals)
	feats := o.Features
	o.Features = detectors.Features{}
	return ev, &feats, o, nil
}

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
			if graceTimer == nil {
				graceTimer = time.NewTimer(time.Until(until))
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
			return w.pop(), true, true
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

// graceUntil is how long the earliest head waits for a source that is
// caught up and empty: until MergeGrace after it was fetched. Producers
// write a burst of events to both input topics at once, and the topics'
// fetches return a moment apart; without the grace a transaction could be
// decided before the login that preceded it (Kafka Streams calls this
// max.task.idle.ms). Zero when no source is empty or there is no grace.
func (w *worker) graceUntil() time.Time {
	if w.cfg.MergeGrace <= 0 || len(w.sources) < 2 {
		return time.Time{}
	}
	var first *item
	empty := false
	for _, s := range w.sources {
		switch {
		case s.head == nil:
			empty = true
		case first == nil || s.head.ev.TS.Before(first.ev.TS):
			first = s.head
		}
	}
	if !empty || first == nil {
		return time.Time{}
	}
	return first.fetched.Add(w.cfg.MergeGrace)
}

// refill takes a buffered item into each source's head. have reports that
// some source has one; waiting that some other source may get one soon.
func (w *worker) refill() (have, waiting bool) {
	for _, s := range w.sources {
		if s.head == nil {
			select {
			case it := <-s.ch:
				s.head, s.idle = &it, false
				s.caught = it.msg.HighWaterMark > 0 && it.msg.Offset+1 >= it.msg.HighWaterMark
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
		if s.head.err == nil {
			ts = s.head.ev.TS.UnixNano()
		}
		if best == nil || ts < bestTS {
			best, bestTS = s, ts
		}
	}
	it := *best.head
	best.head = nil
	if it.err == nil {
		best.lastTS = it.ev.TS.UnixMilli()
	}
	best.lag = max(0, it.msg.HighWaterMark-it.msg.Offset-1)
	return it
}

// watermark is the event time below which this worker expects no more
// events: the oldest of its sources' latest, leaving out sources read to
// the end. Each source is taken to be in event-time order (its producer's
// order); the merge of sources is not, when one of them falls behind.
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
	v, _ := json.Marshal(observation{Heartbeat: true, Source: w.partition, Sources: w.inputs, Watermark: w.watermark(), Caught: caught})
	for p := 0; p < w.ipPartitions; p++ {
		w.batch.msgs = append(w.batch.msgs, kafka.Message{Topic: w.cfg.IPTopic, Partition: p, Value: v,
			Headers: []kafka.Header{{Key: headerHeartbeat, Value: []byte("1")}}})
	}
	w.batch.events++ // so that it is flushed
	w.toldCaught, w.lastBeat = caught, time.Now()
}

// initCaught asks the brokers which sources start at their end, so that an
// idle partition can say it is caught up before any message arrives.
func (w *worker) initCaught(ctx context.Context) {
	client := &kafka.Client{Addr: kafka.TCP(w.cfg.Brokers...), Timeout: 10 * time.Second}
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

// handle decides on one item and adds its outputs to the batch.
func (w *worker) handle(it item) {
	c := w.cfg
	b := w.batch
	b.events++
	b.next[w.sourceIndex(&it.msg)] = it.msg.Offset + 1
	if it.err != nil {
		c.Metrics.Events.WithLabelValues(it.msg.Topic, "invalid").Inc()
		c.Metrics.Rejected.WithLabelValues(event.ReasonOf(it.err)).Inc()
		b.msgs = append(b.msgs, w.deadLetter(&it))
		return
	}
	c.Metrics.Events.WithLabelValues(it.msg.Topic, it.ev.Type.String()).Inc()
	if ts := it.ev.TS.UnixMilli(); ts > w.mark && w.stage == rules.UserStage {
		w.mark = ts // far-future events are bounded by the detectors' clock, not here
	}
	b.times = append(b.times, it.ev.TS.UnixMilli(), it.msg.Time.UnixMilli())
	now := c.Now()
	if w.stage == rules.IPStage {
		w.out = w.engine.DecideIP(&it.ev, it.feats, now, w.out[:0])
		c.Metrics.observeSignals(w.engine.Features(), true)
		w.features(storage.StageIP, it.obs.Event, &it.ev, it.ev.UserID)
	} else {
		var toIP bool
		var err error
		w.out, toIP, err = w.engine.DecideUser(&it.ev, now, w.out[:0])
		if err != nil {
			// Refused by admission (a forged timestamp): it changed no
			// state and goes to the dead-letter topic with the reason.
			c.Metrics.Rejected.WithLabelValues(event.ReasonOf(err)).Inc()
			it.err = err
			b.msgs = append(b.msgs, w.deadLetter(&it))
			return
		}
		f := w.engine.Features()
		if f.Stream.Duplicate {
			c.Metrics.Duplicates.Inc()
		}
		c.Metrics.observeSignals(f, false)
		if !f.Stream.Duplicate {
			w.features(storage.StageUser, it.msg.Value, &it.ev, it.ev.UserID)
		}
		if toIP {
			caught := w.caughtUp()
			w.toldCaught = w.toldCaught && caught
			v, _ := json.Marshal(observation{Event: it.msg.Value, Features: *f, Signals: f.Signals(),
				Source: w.partition, Sources: w.inputs, Watermark: w.watermark(), Caught: caught})
			b.msgs = append(b.msgs, kafka.Message{Topic: c.IPTopic, Key: []byte(it.ev.IP.String()), Value: v})
		}
	}
	c.Metrics.observeDecisions(w.out)
	for i := range w.out {
		m, err := alerting.Message(c.DecisionsTopic, &w.out[i])
		if err != nil {
			c.Log.Error().Err(err).Msg("cannot encode decision")
			continue
		}
		b.msgs = append(b.msgs, m)
	}
}

// features adds the event's feature record to the batch when features are
// stored (--clickhouse).
func (w *worker) features(stage string, raw []byte, ev *event.Event, key string) {
	c := w.cfg
	if c.FeaturesTopic == "" {
		return
	}
	v, err := json.Marshal(storage.NewFeatureRecord(stage, raw, ev, w.engine.Features(), c.Rules.Version))
	if err != nil {
		c.Log.Error().Err(err).Msg("cannot encode feature record")
		return
	}
	w.batch.msgs = append(w.batch.msgs, kafka.Message{Topic: c.FeaturesTopic, Key: []byte(key), Value: v})
}

func (w *worker) deadLetter(it *item) kafka.Message {
	return kafka.Message{
		Topic: w.cfg.DLQTopic,
		Key:   it.msg.Key,
		Value: it.msg.Value,
		Headers: append(it.msg.Headers[:len(it.msg.Headers):len(it.msg.Headers)],
			kafka.Header{Key: HeaderReason, Value: []byte(event.ReasonOf(it.err))},
			kafka.Header{Key: HeaderError, Value: []byte(it.err.Error())},
			kafka.Header{Key: HeaderTopic, Value: []byte(it.msg.Topic)},
			kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(it.msg.Partition))},
			kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(it.msg.Offset, 10))},
		),
	}
}

// flush hands the batch to the writer goroutine (blocking when it is
// behind, which is the backpressure) and starts a new one.
func (w *worker) flush(batches chan<- *batch) {
	if w.batch.events == 0 {
		return
	}
	if w.hold != nil {
		w.cfg.Metrics.HoldTimeouts.Add(float64(w.hold.timeouts))
		w.hold.timeouts = 0
		// Held messages are not decided yet: a restart must see them again.
		if off, ok := w.hold.minOffset(); ok {
			w.batch.next[0] = off
		} else {
			w.batch.next[0] = w.last + 1
		}
	}
	for _, s := range w.sources {
		w.cfg.Metrics.Lag.WithLabelValues(s.topic, strconv.Itoa(s.partition)).Set(float64(s.lag))
	}
	st := w.engine.Stats()
	w.cfg.Metrics.observeState(w.stageID, w.partition, st, w.prev)
	w.prev = st
	batches <- w.batch
	w.batch = w.newBatch()
}

// write writes batches in order, retrying each until the broker
// acknowledges it, and then releases its offsets. It reports false when
// ctx ended before everything was written.
func (w *worker) write(ctx context.Context, batches <-chan *batch) bool {
	c := w.cfg
	var msgs []kafka.Message
	for b := range batches {
		// Coalesce whatever else is queued into one write.
		group := []*batch{b}
	more:
		for {
			select {
			case nb, ok := <-batches:
				if !ok {
					break more
				}
				group = append(group, nb)
			default:
				break more
			}
		}
		msgs = msgs[:0]
		for _, g := range group {
			msgs = append(msgs, g.msgs...)
		}
		backoff := 50 * time.Millisecond
		for len(msgs) > 0 {
			err := c.Writer.WriteMessages(ctx, msgs...)
			if err == nil {
				break
			}
			c.Metrics.WriteErrors.Inc()
			if ctx.Err() != nil {
				return false
			}
			c.Log.Warn().Err(err).Int("messages", len(msgs)).Msg("write failed; retrying the batch")
			select {
			case <-ctx.Done():
				return false
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		acked := time.Now()
		c.Metrics.Batches.Inc()
		for _, g := range group {
			for i, next := range g.next {
				if next >= 0 {
					w.acks.set(w.sources[i].topic, w.sources[i].partition, next)
				}
			}
			c.Metrics.BatchSize.Observe(float64(g.events))
			for i := 0; i+1 < len(g.times); i += 2 {
				c.Metrics.EventLatency.Observe(acked.Sub(time.UnixMilli(g.times[i])).Seconds())
				c.Metrics.IngestLatency.Observe(acked.Sub(time.UnixMilli(g.times[i+1])).Seconds())
			}
			for i := range g.msgs {
				c.Metrics.Outputs.WithLabelValues(g.msgs[i].Topic).Inc()
			}
		}
	}
	return true
}
