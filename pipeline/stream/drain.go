package stream

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// generation is what one generation of the group runs: its workers, the
// offsets they acknowledged, and the high watermarks and commits behind
// the lag gauge.
type generation struct {
	gen      *kafka.Generation
	acks     *acks
	progress *progress
	workers  []*worker
	wg       sync.WaitGroup // the workers
}

// DrainReport says how a generation's partitions were given up, at a
// rebalance or at the stop.
type DrainReport struct {
	// Partitions is how many partitions (user and address stage) the
	// generation held.
	Partitions int
	// Abandoned names the partitions ("user/3", "ip/0") whose outputs were
	// not all acknowledged within DrainTimeout: their events after the
	// last committed offset are decided again by the partition's next
	// owner.
	Abandoned []string
	// CommitErr is the last commit's error; nil when it succeeded or there
	// was nothing left to commit.
	CommitErr error
}

// Clean reports that every partition drained and the last commit went
// through.
func (r DrainReport) Clean() bool { return len(r.Abandoned) == 0 && r.CommitErr == nil }

// LastDrain returns how the last generation ended; ok is false when none
// has (the stream never held partitions, or still does). It is safe for
// concurrent use.
func (s *Member) LastDrain() (r DrainReport, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drain == nil {
		return DrainReport{}, false
	}
	return *s.drain, true
}

// commitLoop commits g's acknowledged offsets every CommitInterval and
// publishes the lag; when the generation ends it waits for the workers to
// drain, commits a last time, drops the state of the partitions whose
// outputs were lost, and records and logs how it went (LastDrain).
func (s *Member) commitLoop(ctx context.Context, g *generation) {
	c := &s.cfg
	t := time.NewTicker(c.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = s.commit(g)
			g.progress.publish(c.Metrics)
			g.publishStalled(c)
		case <-ctx.Done():
			g.wg.Wait()
			s.ended(g, s.commit(g))
			return
		}
	}
}

// ended records and logs how g's drain went, and drops the state of the
// partitions whose outputs were lost with it.
func (s *Member) ended(g *generation, commitErr error) {
	c := &s.cfg
	r := DrainReport{Partitions: len(g.workers), CommitErr: commitErr}
	for _, w := range g.workers {
		if w.lost {
			// Outputs were lost with this state: the uncommitted events
			// come back and must not be taken for duplicates, so the state
			// is rebuilt from them.
			r.Abandoned = append(r.Abandoned, fmt.Sprintf("%s/%d", w.stageID, w.partition))
			delete(s.states(w.stage), w.partition)
			c.Metrics.StateKeys.DeleteLabelValues(w.stageID, strconv.Itoa(w.partition))
		}
	}
	slices.Sort(r.Abandoned)
	g.progress.forget(c.Metrics)
	c.Metrics.Stalled.WithLabelValues("user").Set(0)
	c.Metrics.Stalled.WithLabelValues("ip").Set(0)
	s.mu.Lock()
	s.workers, s.drain = nil, &r
	s.held = heldNumbers(s.users, s.ips)
	s.mu.Unlock()
	ev := c.Log.Info()
	if !r.Clean() {
		ev = c.Log.Warn()
	}
	ev.Int32("generation", g.gen.ID).Int("partitions", r.Partitions).Int("drained", r.Partitions-len(r.Abandoned)).
		Strs("abandoned", r.Abandoned).AnErr("commit_error", r.CommitErr).Msg(r.String())
}

// String says what r means for the events, in a sentence.
func (r DrainReport) String() string {
	switch {
	case r.Clean():
		return fmt.Sprintf("partitions released: all %d drained, their outputs acknowledged and offsets committed", r.Partitions)
	case r.CommitErr == nil:
		return fmt.Sprintf("partitions released: %d of %d drained; %v abandoned with unacknowledged outputs (their state is dropped and their events since the last commit will be decided again by the next owner)",
			r.Partitions-len(r.Abandoned), r.Partitions, r.Abandoned)
	default:
		return fmt.Sprintf("partitions released: %d of %d drained, %d abandoned, and the last offset commit failed: the events since the last successful commit will be redelivered to the next owner",
			r.Partitions-len(r.Abandoned), r.Partitions, len(r.Abandoned))
	}
}

// publishStalled sets riskd_partitions_stalled from g's workers.
func (g *generation) publishStalled(c *Config) {
	now, n := time.Now(), map[string]int{"user": 0, "ip": 0}
	for _, w := range g.workers {
		if w.stalled(now, c.StallTimeout) {
			n[w.stageID]++
		}
	}
	for stage, k := range n {
		c.Metrics.Stalled.WithLabelValues(stage).Set(float64(k))
	}
}

// pollLag asks the brokers for g's high watermarks now and every lagPoll
// until ctx ends.
func (s *Member) pollLag(ctx context.Context, g *generation) {
	t := time.NewTicker(lagPoll)
	defer t.Stop()
	for {
		g.progress.poll(ctx, &s.cfg)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// commit commits the offsets acknowledged since the last commit and
// returns its error; a failed commit's offsets are kept for the next.
func (s *Member) commit(g *generation) error {
	offsets := g.acks.take()
	if offsets == nil {
		return nil
	}
	if err := g.gen.CommitOffsets(offsets); err != nil {
		s.cfg.Metrics.CommitErrors.Inc()
		s.cfg.Log.Warn().Err(err).Msg("offset commit failed: events since the last commit will be redelivered")
		g.acks.putBack(offsets)
		return err
	}
	s.cfg.Metrics.Commits.Inc()
	g.progress.committedOffsets(s.cfg.Metrics, offsets)
	return nil
}
