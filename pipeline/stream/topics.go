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
// topic), creates the repartition and changelog topics with that count
// when they are missing, and with CreateTopics the other missing topics
// too.
func (s *Member) prepareTopics(ctx context.Context) error {
	c := &s.cfg
	client := c.client(10 * time.Second)
	meta, err := s.topicMetadata(ctx, client)
	if err != nil {
		return err
	}
	var create []kafka.TopicConfig
	newTopic := func(name string, partitions int, configs ...kafka.ConfigEntry) {
		create = append(create, kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: c.ReplicationFactor, ConfigEntries: configs})
	}
	partitions, err := s.inputPartitions(meta, newTopic)
	if err != nil {
		return err
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
	compact := kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"}
	changelogs := s.changelogCounts(partitions)
	for topic := range changelogs {
		if _, ok := meta[topic]; !ok {
			newTopic(topic, changelogs[topic].partitions, compact)
		}
	}
	if err := checkChangelogs(meta, changelogs); err != nil {
		return err
	}
	if err := s.createTopics(ctx, client, create); err != nil {
		return err
	}
	// Again now that they exist: one that another member (or a person)
	// created a moment ago may not have been in the metadata before.
	names := make([]string, 0, len(changelogs))
	for topic := range changelogs {
		names = append(names, topic)
	}
	meta, err = kafkameta.Partitions(ctx, client, names)
	if err != nil {
		return err
	}
	return checkChangelogs(meta, changelogs)
}

// changelogCount is the partition count a changelog topic must have, and
// what sets it.
type changelogCount struct {
	partitions int
	of         string
}

// changelogCounts returns the changelog topics in use with the partition
// counts they must have: the input topics' (user stage) and the
// repartition topic's (address stage).
func (s *Member) changelogCounts(inputs int) map[string]changelogCount {
	out := map[string]changelogCount{}
	if t := s.cfg.UserStateTopic; t != "" {
		out[t] = changelogCount{inputs, "input topics"}
	}
	if t := s.cfg.IPStateTopic; t != "" {
		out[t] = changelogCount{s.ipPartitions, "repartition topic"}
	}
	return out
}

// checkChangelogs refuses a changelog of meta whose partition count is not
// its stage's: partition p of a changelog holds the state of partition p.
func checkChangelogs(meta map[string]int, want map[string]changelogCount) error {
	for topic, w := range want {
		if n, ok := meta[topic]; ok && n != w.partitions {
			return fmt.Errorf("changelog topic %s has %d partitions and the %s %d: partition p of a changelog holds the state of partition p, so the counts must match; delete the changelog (the state starts empty) or name another with --user-state-topic or --ip-state-topic", topic, n, w.of, w.partitions)
		}
	}
	return nil
}

// topicMetadata returns the partition counts of the topics the member
// uses that exist. A topic created a moment ago may not be in every
// broker's metadata yet: missing input topics get a few seconds.
func (s *Member) topicMetadata(ctx context.Context, client *kafka.Client) (map[string]int, error) {
	c := &s.cfg
	all := append(append([]string(nil), c.Topics...), c.DecisionsTopic, c.DLQTopic, c.IPTopic)
	for _, t := range []string{c.FeaturesTopic, c.UserStateTopic, c.IPStateTopic} {
		if t != "" {
			all = append(all, t)
		}
	}
	meta, err := kafkameta.Partitions(ctx, client, all)
	for wait := 0; err == nil && !c.CreateTopics && !kafkameta.HasAll(meta, c.Topics) && wait < 20; wait++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		meta, err = kafkameta.Partitions(ctx, client, all)
	}
	return meta, err
}

// inputPartitions returns the input topics' common partition count (and
// records it), naming missing ones to newTopic with CreateTopics.
func (s *Member) inputPartitions(meta map[string]int, newTopic func(string, int, ...kafka.ConfigEntry)) (int, error) {
	c := &s.cfg
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
			return 0, fmt.Errorf("input topics have different partition counts (%s has %d, another %d): a user's events must land on the same partition number in every input topic; give them the same count", t, n, partitions)
		}
		partitions = n
	}
	s.inputs = partitions
	if len(missing) > 0 {
		return 0, fmt.Errorf("input topic %s does not exist: create it (keyed by user_id) or pass --create-topics", strings.Join(missing, ", "))
	}
	return partitions, nil
}

// createTopics creates the topics of create and waits for their leaders.
func (s *Member) createTopics(ctx context.Context, client *kafka.Client, create []kafka.TopicConfig) error {
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
		s.cfg.Log.Info().Str("topic", t).Msg("created topic")
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
