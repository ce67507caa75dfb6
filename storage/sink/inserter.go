package sink

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/storage"
)

// chunk is what one flush makes durable: rows, dead letters, and then the
// offsets of the messages they came from.
type chunk struct {
	ctx     context.Context
	rows    map[*storage.Table][][]any
	pending []kafka.Message
	dead    []kafka.Message
}

// inserts runs the inserts on a goroutine of their own, so that the sink
// reads and makes the rows of the next chunk while ClickHouse takes the
// last one (with one goroutine, nothing was read during an insert). A
// chunk is written whole (rows, then dead letters, then the commit of its
// offsets) before the next one starts, so commits stay in order. An insert
// fails only when its context ends (Table.Insert retries until then): the
// chunk is kept, and the next chunk's context, the drain's or the last
// insert's, writes it first, with the next chunk's messages behind it.
type inserts struct {
	work chan chunk    // to the goroutine; unbuffered: one chunk in the making, one going in
	done chan struct{} // closed when the goroutine has ended

	mu    sync.Mutex
	stuck *chunk // a chunk whose write failed, to go first; nil when none
	err   error  // why it failed

	// reading counts the messages the loop has read and not handed over,
	// inFlight those handed over and not yet written: together
	// riskd_sink_pending_rows (pending), set by whichever goroutine
	// changes one.
	reading, inFlight atomic.Int64
	pending           prometheus.Gauge
}

// showPending sets riskd_sink_pending_rows: messages read and not yet
// inserted, whether still being read or handed over.
func (in *inserts) showPending() {
	in.pending.Set(float64(in.reading.Load() + in.inFlight.Load()))
}

// startInserts starts the inserts' goroutine; finish ends it.
func (s *sinker) startInserts() {
	in := &inserts{work: make(chan chunk), done: make(chan struct{}), pending: s.c.Metrics.Pending}
	s.ins = in
	go func() {
		defer close(in.done)
		for ch := range in.work {
			in.mu.Lock()
			if st := in.stuck; st != nil {
				ch = chunk{ctx: ch.ctx, rows: mergeRows(st.rows, ch.rows),
					pending: append(st.pending, ch.pending...), dead: append(st.dead, ch.dead...)}
			}
			in.mu.Unlock()
			err := s.write(ch)
			in.mu.Lock()
			in.stuck, in.err = nil, err
			if err != nil {
				in.stuck = &ch
			} else {
				in.inFlight.Add(-int64(len(ch.pending)))
				in.showPending()
			}
			in.mu.Unlock()
		}
	}()
}

// mergeRows returns the rows of a, then those of b, per table.
func mergeRows(a, b map[*storage.Table][][]any) map[*storage.Table][][]any {
	for t, rs := range b {
		a[t] = append(a[t], rs...)
	}
	return a
}

// failure returns the error of the last chunk written when it failed.
func (in *inserts) failure() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// hand gives ch to the inserts' goroutine, waiting while it writes the
// chunk before, and returns the error of the last chunk written when it
// failed (ch then goes behind it).
func (in *inserts) hand(ch chunk) error {
	in.work <- ch
	return in.failure()
}

// finish waits for the chunks handed over to be written and returns the
// error of the last one when it failed.
func (in *inserts) finish() error {
	close(in.work)
	<-in.done
	return in.failure()
}

// write makes a chunk's outputs durable, rows inserted and dead letters
// written, and then commits its offsets. It runs on the inserts'
// goroutine.
func (s *sinker) write(ch chunk) error {
	if err := s.insert(ch.ctx, ch.rows); err != nil {
		return err
	}
	// Dead letters are outputs too: durable before the commit.
	if err := writeDeadLetters(ch.ctx, s.dlq, ch.dead, s.c.Log); err != nil {
		return err
	}
	if len(ch.pending) > 0 {
		if err := s.reader.CommitMessages(ch.ctx, ch.pending...); err != nil {
			// The rows are in: a failed commit only means they come
			// again, and are folded.
			s.c.Log.Warn().Err(err).Msg("sink: offset commit failed; the rows will be inserted again")
		}
	}
	return nil
}
