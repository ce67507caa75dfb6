package sink

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
	"github.com/riskd/riskd/internal/retry"
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
	_, err := backoff.Retry(ctx, check, backoff.WithBackOff(retry.Backoff(200*time.Millisecond, 5*time.Second)),
		backoff.WithMaxElapsedTime(0), backoff.WithNotify(warn))
	return err == nil
}
