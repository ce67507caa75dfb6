package stream

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/retry"
	"github.com/riskd/riskd/internal/window"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/record"
	"github.com/riskd/riskd/rules"
)

// source is one topic partition a worker reads. Only the worker's
// goroutine touches it, except ch, which its fetch goroutine fills.
type source struct {
	topic     string
	partition int
	offset    int64 // where to start: an offset, kafka.FirstOffset or LastOffset

	ch     chan item
	head   *item // next item, taken from ch but not yet processed: buf, or nil
	buf    item
	lastTS int64 // how far this source has got: the oldest of its last markWindow admitted event times, Unix ms
	marks  *window.Min
	hwm    int64 // newest high watermark a fetch reported
	first  int64 // offset of the first message taken; -1 before
	caught bool  // the last item delivered was at the high watermark
	idle   bool  // waited for in vain: other sources go ahead without it
}

// item is a fetched message, decoded by the source's goroutine.
type item struct {
	msg     kafka.Message
	ev      event.Event
	obs     *record.Observation // ip stage: the user stage's record (nil when refused)
	err     error
	fetched time.Time
}

// worker owns one partition number's engine for one stage. Its goroutine
// (run) reads the sources, merges them in event-time order, decides, and
// hands output batches to a writer goroutine (write); offsets reach acks
// only when their batch is acknowledged. Fields are the run goroutine's
// unless said otherwise.
type worker struct {
	cfg       *Config
	rules     *atomic.Pointer[rules.Set] // the member's rules in force (see takeRules)
	stage     rules.Stage
	partition int
	engine    *pipeline.Engine
	state     *partState // the engine and its applied offsets
	sources   []*source
	acks      *acks
	progress  *progress     // high watermarks and committed offsets, for the lag
	isolated  *kafka.Writer // writes one message per request (see attempt)
	lost      bool          // set by run when outputs were not acknowledged; read after it returns
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

	wake     chan struct{}
	free     chan *batch // written batches, for newBatch (see recycle)
	batch    *batch
	out      []rules.Decision
	cur      item                                // the item being handled (see handle)
	counters []map[event.Type]prometheus.Counter // riskd_events_total per source and type (see countEvent)
	in       int32                               // index in batch.inputs of the item being handled; -1 before its first output
	tooBig   []string                            // the item's outputs left out for their size
	prev     pipeline.StateStats
	stageID  string // "user" or "ip", set before run

	// outLane and stateLane are the two writer goroutines' own (see
	// write): the outputs', and the changelog's behind it.
	outLane, stateLane lane
}

// batch is the outputs of consecutive events and the offsets they free.
type batch struct {
	msgs []kafka.Message
	// from is, per message, the index in inputs of the input it was made
	// from (for its dead letter should it be refused); -1 for heartbeats.
	from   []int32
	inputs []kafka.Message
	next   []int64 // per source, the offset after the last event; -1 if none
	// state is the changelog messages of the batch's state changes and
	// applied offsets, written after msgs are acknowledged.
	state    []kafka.Message
	times    []int64 // per event: event time, then message time, in Unix ms
	events   int
	advanced bool // an input was consumed that produced no event (a heartbeat)
	started  time.Time
}

// newBatch returns an empty batch: one the writer has finished with (see
// recycle), or a new one.
func (w *worker) newBatch() *batch {
	var b *batch
	select {
	case b = <-w.free:
		clear(b.msgs) // let go of the last batch's keys and values
		clear(b.inputs)
		clear(b.state)
		b.msgs, b.from, b.inputs, b.state, b.times = b.msgs[:0], b.from[:0], b.inputs[:0], b.state[:0], b.times[:0]
		b.events, b.advanced = 0, false
	default:
		b = &batch{next: make([]int64, len(w.sources))}
	}
	b.started = time.Now()
	for i := range b.next {
		b.next[i] = -1
	}
	return b
}

// recycle gives written batches back to the worker for newBatch, so that
// a busy worker reuses their slices rather than grow new ones for every
// batch (an eighth of what riskd run allocated). The free list holds a
// few; the rest go to the garbage collector. It runs on the writer's
// goroutine, once nothing refers to the batches any more.
func (w *worker) recycle(group []*batch) {
	for _, b := range group {
		select {
		case w.free <- b:
		default:
		}
	}
}

// add appends m, made from b.inputs[from] (-1: from no input).
func (b *batch) add(m kafka.Message, from int32) {
	b.msgs = append(b.msgs, m)
	b.from = append(b.from, from)
}

// input returns the input message that b.msgs[i] was made from; nil for a
// heartbeat.
func (b *batch) input(i int) *kafka.Message {
	if f := b.from[i]; f >= 0 {
		return &b.inputs[f]
	}
	return nil
}

// stageName is the stage's label value in metrics and logs.
func stageName(s rules.Stage) string {
	if s == rules.IPStage {
		return "ip"
	}
	return "user"
}

// run processes until ctx ends, then drains: the last batch is handed to
// the writer and written within DrainTimeout, and lost says whether some
// processed event's outputs were not acknowledged.
func (w *worker) run(ctx context.Context) {
	c := w.cfg
	w.wake = make(chan struct{}, 1)
	w.free = make(chan *batch, 8)
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	if !w.prepareState(ctx) {
		return
	}
	for _, src := range w.sources {
		src.ch = make(chan item, 256)
		src.first = -1
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
		w.hold = newHold(c.IPHold, w.inputs)
	} else {
		w.initCaught(ctx)
		w.beat()
		w.flush(batches, ctx.Done())
	}
	w.loop(ctx, batches)
	stopFetch()
	w.drain(batches, written, cancelWrites)
}

// loop processes input until ctx ends.
func (w *worker) loop(ctx context.Context, batches chan<- *batch) {
	c := w.cfg
	processing := c.Metrics.Processing.WithLabelValues(w.stageID)
	for {
		var until time.Time
		if w.hold != nil {
			until = w.hold.deadline()
		}
		it, got, ok := w.next(ctx, until)
		if !ok {
			return
		}
		start := time.Now()
		switch {
		case got && w.hold != nil && it.err == nil && it.obs.Heartbeat:
			w.hold.mark(it.obs.Source, it.obs.Watermark, it.obs.Caught)
			w.last = it.msg.Offset
			w.batch.advanced = true
		case got && w.hold != nil && it.err == nil:
			w.hold.add(it, it.obs.Source, it.obs.Watermark, it.obs.Caught, start)
			w.last = it.msg.Offset
		case got:
			if w.hold != nil {
				w.last = it.msg.Offset // an invalid observation, dead-lettered now
			}
			w.handle(it)
		}
		if w.hold != nil {
			for {
				x, ok := w.hold.release(start, !w.caughtUp())
				if !ok {
					break
				}
				w.handle(x)
			}
		} else {
			w.beat()
		}
		processing.Observe(time.Since(start).Seconds())
		if w.batch.events >= c.MaxBatch || w.inputEmpty() || time.Since(w.batch.started) >= c.FlushInterval {
			if !w.flush(batches, ctx.Done()) {
				return
			}
		}
	}
}

// drain hands the last batch to the writer and waits for it to be written,
// both within DrainTimeout, and sets lost when something processed was not
// acknowledged: the writes still going are then cancelled.
func (w *worker) drain(batches chan<- *batch, written <-chan bool, cancelWrites func()) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.DrainTimeout)
	defer cancel()
	if w.stage == rules.UserStage {
		w.leave()
	}
	handed := w.flush(batches, ctx.Done())
	close(batches)
	if handed {
		select {
		case ok := <-written:
			w.lost = !ok
			return
		case <-ctx.Done():
		}
	}
	cancelWrites()
	ok := <-written
	w.lost = !ok || !handed
}

// fetch reads src into its channel until ctx ends, decoding on the way so
// that decoding runs beside the worker. It reads only immutable fields of
// w.
func (w *worker) fetch(ctx context.Context, r *kafka.Reader, src *source) {
	defer r.Close()
	maxFuture := time.Duration(w.cfg.Rules.Detectors.State.MaxFuture)
	// The reader retries the broker itself (ReadBackoffMin/Max); an error
	// that reaches here waits about a second (jittered, so that the
	// workers of a fleet do not come back in step) before the next fetch.
	wait := retry.Backoff(time.Second, time.Second)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return
			}
			w.cfg.Log.Warn().Err(err).Str("topic", src.topic).Int("partition", src.partition).Msg("fetch failed; retrying")
			if !retry.Sleep(ctx, wait.NextBackOff()) {
				return
			}
			continue
		}
		it := item{msg: m, fetched: time.Now()}
		if w.stage == rules.IPStage {
			lim := newObsLimits(w.inputs, w.cfg.Now(), maxFuture)
			if it.obs, it.err = decodeObservation(m.Value, lim); it.err == nil {
				it.ev = it.obs.Event
			}
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
