package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
)

// prepareTopics checks that the input topics exist and share a partition
// count (the per-user state of partition p needs partition p of every input
// topic), creates the repartition topic with that count when it is
// missing, and with CreateTopics the other missing topics too.
func (s *Member) prepareTopics(ctx context.Context) error {
	c := &s.cfg
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second}
	all := append(append([]string(nil), c.Topics...), c.DecisionsTopic, c.DLQTopic, c.IPTopic)
	for _, t := range []string{c.FeaturesTopic, c.UserStateTopic, c.IPStateTopic} {
		if t != "" {
			all = append(all, t)
		}
	}
	meta, err := kafkameta.Partitions(ctx, client, all)
	// A topic created a moment ago may not be in every broker's metadata
	// yet: give missing input topics a few seconds before giving up.
	for wait := 0; err == nil && !c.CreateTopics && !kafkameta.HasAll(meta, c.Topics) && wait < 20; wait++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		meta, err = kafkameta.Partitions(ctx, client, all)
	}
	if err != nil {
		return err
	}
	var create []kafka.TopicConfig
	newTopic := func(name string, partitions int) {
		create = append(create, kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: c.ReplicationFactor})
	}
	partitions := 0
	var missing []string
	for _, t := range c.Topics {
		n, ok := meta[t]
		switch {
		case !ok && c.CreateTopics:
			newTopic(t, c.Partitions)
			n = c.Partitions
		case !ok:
			missing = append(missing, t)
			continue
		}
		if partitions != 0 && n != partitions {
			return fmt.Errorf("input topics have different partition counts (%s has %d, another %d): a user's events must land on the same partition number in every input topic; give them the same count", t, n, partitions)
		}
		partitions = n
	}
	s.inputs = partitions
	if len(missing) > 0 {
		return fmt.Errorf("input topic %s does not exist: create it (keyed by user_id) or pass --create-topics", strings.Join(missing, ", "))
	}
	for _, t := range []string{c.DecisionsTopic, c.DLQTopic} {
		if _, ok := meta[t]; !ok {
			if c.CreateTopics {
				newTopic(t, c.Partitions)
			} else {
				c.Log.Warn().Str("topic", t).Msg("output topic missing: relying on the broker's auto.create.topics.enable; create it or pass --create-topics")
			}
		}
	}
	s.ipPartitions = partitions
	if n, ok := meta[c.IPTopic]; !ok {
		newTopic(c.IPTopic, partitions)
	} else if s.ipPartitions = n; n != partitions {
		c.Log.Warn().Str("topic", c.IPTopic).Int("partitions", n).Int("input_partitions", partitions).
			Msg("repartition topic has a different partition count from the input topics; it still works, but the address stage's load follows its own count")
	}
	if _, ok := meta[c.FeaturesTopic]; !ok && c.FeaturesTopic != "" {
		newTopic(c.FeaturesTopic, partitions)
	}
	// The changelogs are partitioned like the stage's input and compacted:
	// only each key's latest state is kept.
	for _, t := range []struct {
		name       string
		partitions int
	}{{c.UserStateTopic, partitions}, {c.IPStateTopic, s.ipPartitions}} {
		if _, ok := meta[t.name]; !ok && t.name != "" {
			newTopic(t.name, t.partitions)
			create[len(create)-1].ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
		}
	}
	if len(create) == 0 {
		return nil
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
		c.Log.Info().Str("topic", t).Msg("created topic")
	}
	return waitTopics(ctx, client, create)
}

// waitTopics waits until the created topics have leaders, so that the
// first writes and group joins do not fail on them.
func waitTopics(ctx context.Context, client *kafka.Client, created []kafka.TopicConfig) error {
	names := make([]string, len(created))
	for i, t := range created {
		names[i] = t.Topic
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err == nil && allLed(resp) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("created topics %v have no leaders after 30 s", names)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func allLed(resp *kafka.MetadataResponse) bool {
	for _, t := range resp.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.ID < 0 {
				return false
			}
		}
	}
	return true
}
