package stream

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// lane is what one of a worker's two writer goroutines keeps of its own:
// when its write under way started, whether its stall was logged, and
// scratch space for the messages of a write.
type lane struct {
	// since is when the write under way started (Unix ns; 0 when none
	// is): a write that has not succeeded after StallTimeout, failing or
	// hanging, is a stall. The lane's goroutine sets it; Member.Stalled
	// reads it from any goroutine.
	since   atomic.Int64
	logged  bool
	scratch []kafka.Message
}

// write writes batches in order, in two stages on goroutines of their
// own: the outputs of a group of batches (writeOutputs), and, once they
// are all acknowledged or replaced by dead letters, the group's changelog
// messages, after which its offsets are released (writeStates). The
// outputs of the next group go while the changelog of the last one is
// written, so a decision does not wait for the state of the events before
// it. It reports false when ctx ended before everything was written.
func (w *worker) write(ctx context.Context, batches <-chan *batch) bool {
	states := make(chan []*batch, 16)
	done := make(chan bool, 1)
	go func() { done <- w.writeStates(ctx, states) }()
	ok := w.writeOutputs(ctx, batches, states)
	close(states)
	return <-done && ok
}

// writeOutputs writes the outputs of batches, coalescing whatever is
// queued into one write, and hands each written group to states.
func (w *worker) writeOutputs(ctx context.Context, batches <-chan *batch, states chan<- []*batch) bool {
	l := &w.outLane
	for b := range batches {
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
		l.since.Store(time.Now().UnixNano())
		ok := w.writeGroup(ctx, l, group)
		w.written(l, ok)
		if !ok {
			return false
		}
		w.outputsWritten(group)
		select {
		case states <- group:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// stateLinger is how long the state stage gathers groups before it
// writes their changelog messages. The state is off a decision's path (it
// only frees offsets, committed each second), and a worker that flushes
// after every event of light input would otherwise send the broker a
// changelog write per event.
const stateLinger = 20 * time.Millisecond

// writeStates writes the changelog messages of the groups whose outputs
// were written, gathered for up to stateLinger (and at most a full
// queue's worth), and then releases their offsets (acked).
func (w *worker) writeStates(ctx context.Context, states <-chan []*batch) bool {
	l := &w.stateLane
	for group := range states {
		linger := time.NewTimer(stateLinger)
	more:
		for n := 1; n < cap(states); n++ {
			select {
			case g, ok := <-states:
				if !ok {
					break more
				}
				group = append(group, g...)
			case <-linger.C:
				break more
			case <-ctx.Done():
				break more
			}
		}
		linger.Stop()
		l.since.Store(time.Now().UnixNano())
		ok := w.writeState(ctx, l, group)
		w.written(l, ok)
		if !ok {
			return false
		}
		w.acked(group)
		w.recycle(group)
	}
	return true
}

// countOutputs counts written msgs by topic, one Add per run of a topic:
// a metric's label lookup per message costs more than the rest of the
// bookkeeping.
func (w *worker) countOutputs(msgs []kafka.Message) {
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].Topic == msgs[i].Topic {
			j++
		}
		w.cfg.Metrics.Outputs.WithLabelValues(msgs[i].Topic).Add(float64(j - i))
		i = j
	}
}

// stalling logs that the write under way on l failed with err, n
// messages left: at warn level, and at error level once it counts as a
// stall.
func (w *worker) stalling(l *lane, err error, n int) {
	c := w.cfg
	failing := time.Since(time.Unix(0, l.since.Load()))
	ev := c.Log.Warn()
	if failing >= c.StallTimeout {
		l.logged = true
		ev = c.Log.Error()
	}
	ev.Err(err).Int("partition", w.partition).Str("stage", w.stageID).Int("messages", n).
		Dur("failing_for", failing.Round(time.Millisecond)).Bool("stalled", l.logged).
		Msg("write failed; retrying the failed messages (a partition stalled for the stall timeout makes /readyz answer 503)")
}

// written notes that the write under way on l is over: it succeeded
// (recovered when it had stalled) or was given up.
func (w *worker) written(l *lane, ok bool) {
	if l.logged && ok {
		w.cfg.Log.Info().Int("partition", w.partition).Str("stage", w.stageID).
			Dur("after", time.Since(time.Unix(0, l.since.Load())).Round(time.Millisecond)).Msg("writes recovered")
	}
	l.logged = false
	l.since.Store(0)
}

// stalled reports whether a write under way, of outputs or of state, has
// gone on for at least after, at now, without succeeding. It is safe for
// concurrent use.
func (w *worker) stalled(now time.Time, after time.Duration) bool {
	for _, l := range []*lane{&w.outLane, &w.stateLane} {
		if since := l.since.Load(); since != 0 && now.Sub(time.Unix(0, since)) >= after {
			return true
		}
	}
	return false
}
