package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// look is one look at the topic: its partitions' end offsets at a time,
// and where to start reading the partitions seen for the first time.
type look struct {
	at     time.Time
	ends   map[int]int64
	starts map[int]int64
	err    error
}

// interval is how often the client looks at the topic's end and sweeps
// expired subjects: often enough that a caught-up client never looks
// stale.
func (c *Client) interval() time.Duration {
	return min(time.Second, c.cfg.MaxStaleness/4)
}

// Run follows the topic until ctx ends, then returns nil. It retries every
// broker error, telling Config.OnError, so a service runs it in its own
// goroutine for its whole life; it returns an error only when called a
// second time.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("client: Run called twice: one Run per Client follows the whole topic")
	}
	ctx, cancel := context.WithCancel(ctx)
	tp := &kafka.Transport{TLS: c.cfg.TLS, SASL: c.cfg.SASL}
	defer tp.CloseIdleConnections()
	kc := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: tp, Timeout: 5 * time.Second}
	looks := make(chan look)
	var wg sync.WaitGroup
	wg.Go(func() { c.watch(ctx, kc, looks) })
	c.follow(ctx, looks, &wg)
	cancel()
	wg.Wait()
	return nil
}

// follow is the one goroutine that changes the table and the tracker: it
// applies the fetched messages, starts a fetcher for each new partition,
// records each look, sweeps, and publishes lag and readiness for Check.
func (c *Client) follow(ctx context.Context, looks <-chan look, wg *sync.WaitGroup) {
	msgs := make(chan kafka.Message, 256)
	errs := make(chan error, 64)
	tr := newTracker()
	tick := time.NewTicker(c.interval())
	defer tick.Stop()
	degraded := true // as New leaves it: the first change reported is the catch-up
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			c.apply(m)
			tr.read(m.Partition, m.Offset, m.HighWaterMark)
		case err := <-errs:
			c.cfg.OnError(err)
		case l := <-looks:
			if l.err != nil {
				c.cfg.OnError(l.err)
				break
			}
			for p, off := range l.starts {
				tr.start(p, off)
				wg.Go(func() { c.fetch(ctx, p, off, msgs, errs) })
			}
			tr.look(l.at, l.ends)
		case <-tick.C:
			c.mu.Lock()
			c.table.sweep(c.cfg.Now())
			c.mu.Unlock()
		}
		c.publish(tr, &degraded)
	}
}

// publish makes the tracker's lag, freshness and readiness visible to
// Check, and tells OnDegraded when the client's degradation has changed
// since *degraded (then updated).
func (c *Client) publish(tr *tracker, degraded *bool) {
	c.lag.Store(tr.lag())
	c.fresh.Store(tr.fresh.UnixNano()) // before readiness: Check never sees ready with no freshness
	if tr.ready && !c.isReady.Swap(true) {
		close(c.ready)
	}
	if d := c.degraded(c.cfg.Now()); d != *degraded {
		*degraded = d
		c.cfg.OnDegraded(d, c.Stats())
	}
}

// apply decodes one message and applies it to the table, counting and
// reporting what it could not use.
func (c *Client) apply(m kafka.Message) {
	d, err := Decode(m.Value)
	if err != nil {
		c.bad.Add(1)
		c.cfg.OnError(fmt.Errorf("client: skipped the message at %s partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, err))
		return
	}
	c.mu.Lock()
	out := c.table.apply(d, c.cfg.Now())
	c.mu.Unlock()
	switch out {
	case applied:
		c.applied.Add(1)
	case unchanged, expired:
		c.ignored.Add(1)
	case evicted:
		c.applied.Add(1)
		c.evictedN.Add(1)
		c.cfg.OnError(fmt.Errorf("client: %d subjects held (Config.MaxSubjects): forgot the one whose actions ended soonest to keep decision %s; raise MaxSubjects", c.cfg.MaxSubjects, d.DecisionID))
	case dropped:
		c.evictedN.Add(1)
		c.cfg.OnError(fmt.Errorf("client: %d subjects held (Config.MaxSubjects): did not keep decision %s, which ends sooner than every one held; raise MaxSubjects", c.cfg.MaxSubjects, d.DecisionID))
	}
}

// fetch reads partition p from offset off into msgs until ctx ends. A
// reader that fails is reopened after the last offset it delivered, so a
// partition is never silently left behind.
func (c *Client) fetch(ctx context.Context, p int, off int64, msgs chan<- kafka.Message, errs chan<- error) {
	report := func(err error) {
		select {
		case errs <- err:
		default: // the follow goroutine is behind on errors: this one is a repeat of the kind it has
		}
	}
	for ctx.Err() == nil {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   c.cfg.Brokers,
			Topic:     c.cfg.Topic,
			Partition: p,
			Dialer:    &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: c.cfg.TLS, SASLMechanism: c.cfg.SASL},
			MaxBytes:  8 << 20,
			MaxWait:   time.Second,
			ErrorLogger: kafka.LoggerFunc(func(format string, args ...any) {
				report(fmt.Errorf("reading %s partition %d: %s", c.cfg.Topic, p, fmt.Sprintf(format, args...)))
			}),
		})
		err := r.SetOffset(off)
		for err == nil {
			var m kafka.Message
			if m, err = r.FetchMessage(ctx); err == nil {
				select {
				case msgs <- m:
					off = m.Offset + 1
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
		}
		r.Close()
		if ctx.Err() != nil {
			return
		}
		report(fmt.Errorf("reading %s partition %d from offset %d: %w (reopening in 1 s)", c.cfg.Topic, p, off, err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
