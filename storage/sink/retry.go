package sink

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
)

// errTopicsMissing is why waitForTopics waits when the metadata came but
// lacks a topic.
var errTopicsMissing = errors.New("not every topic exists yet")

// waitForTopics waits until every topic exists and reports true, or false
// when ctx ends first. The stream creates the features topic, and a group
// joined before it exists would not be assigned its partitions. Waits grow
// from 200 ms to 5 s; a warning is logged with each attempt once a minute
// has gone by (a moment is normal while the stream starts).
func waitForTopics(ctx context.Context, client *kafka.Client, topics []string, log zerolog.Logger) bool {
	start := time.Now()
	check := func() (struct{}, error) {
		meta, err := kafkameta.Partitions(ctx, client, topics)
		if err == nil && !kafkameta.HasAll(meta, topics) {
			err = errTopicsMissing
		}
		return struct{}{}, err
	}
	warn := func(err error, _ time.Duration) {
		if time.Since(start) >= time.Minute {
			log.Warn().Strs("topics", topics).Err(err).Msg("sink: waiting for its topics to exist")
		}
	}
	_, err := backoff.Retry(ctx, check, backoff.WithBackOff(newBackOff(200*time.Millisecond, 5*time.Second)),
		backoff.WithMaxElapsedTime(0), backoff.WithNotify(warn))
	return err == nil
}

// newBackOff returns the waits of a retry loop: from initial, doubling up
// to limit, each one jittered by ±50 % so that the members of a fleet that
// failed together (a broker restarting) do not retry in step. It never
// stops by itself: the sink retries until its ctx ends.
func newBackOff(initial, limit time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: initial, MaxInterval: limit,
		Multiplier: 2, RandomizationFactor: backoff.DefaultRandomizationFactor,
	}
	b.Reset()
	return b
}

// sleep waits for d and reports true, or false as soon as ctx ends.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
