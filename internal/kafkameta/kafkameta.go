// Package kafkameta answers what the brokers know of topics: which exist
// and how many partitions each has. The streaming member and the sink
// both wait on it before they join their groups.
package kafkameta

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Partitions returns the partition count of each topic of names that
// exists; a topic without partitions (still being created) is left out.
func Partitions(ctx context.Context, client *kafka.Client, names []string) (map[string]int, error) {
	resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the brokers at %s: %w", client.Addr, err)
	}
	out := map[string]int{}
	for _, t := range resp.Topics {
		if t.Error == nil && len(t.Partitions) > 0 {
			out[t.Name] = len(t.Partitions)
		}
	}
	return out, nil
}

// HasAll reports whether every topic of names is in meta.
func HasAll(meta map[string]int, names []string) bool {
	for _, t := range names {
		if _, ok := meta[t]; !ok {
			return false
		}
	}
	return true
}
