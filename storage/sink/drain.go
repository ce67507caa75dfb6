package sink

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
)

// endOffsets returns the end offset of every partition of topics, trying
// again while some partition has no answer (nil when none comes before ctx
// ends).
func endOffsets(ctx context.Context, client *kafka.Client, topics []string) map[kafkameta.TopicPartition]int64 {
	for ctx.Err() == nil {
		if out, ok := tryEndOffsets(ctx, client, topics); ok {
			return out
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// tryEndOffsets asks once for the end offset of every partition of topics,
// and reports false unless every partition answered.
func tryEndOffsets(ctx context.Context, client *kafka.Client, topics []string) (map[kafkameta.TopicPartition]int64, bool) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, false
	}
	req := map[string][]kafka.OffsetRequest{}
	n := 0
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
			n++
		}
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, false
	}
	out := map[kafkameta.TopicPartition]int64{}
	for t, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error == nil {
				out[kafkameta.TopicPartition{Topic: t, Partition: p.Partition}] = p.LastOffset
			}
		}
	}
	return out, n > 0 && len(out) == n
}

// caughtUp reports whether every partition in ends has been read to its end
// offset, here (consumed) or by any member of the group (committed).
func caughtUp(ctx context.Context, client *kafka.Client, group string, ends, consumed map[kafkameta.TopicPartition]int64) bool {
	if ends == nil {
		return true // no offsets to go by: stop at the first quiet second
	}
	if caughtUpLocal(ends, consumed) {
		return true
	}
	req := map[string][]int{}
	for tp := range ends {
		req[tp.Topic] = append(req[tp.Topic], tp.Partition)
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: req})
	if err != nil {
		return false
	}
	for tp, end := range ends {
		pos := consumed[tp]
		for _, p := range resp.Topics[tp.Topic] {
			if p.Partition == tp.Partition {
				pos = max(pos, p.CommittedOffset)
			}
		}
		if pos < end {
			return false
		}
	}
	return true
}

// caughtUpLocal reports whether every partition in ends has been read to
// its end offset here (consumed), which needs no request.
func caughtUpLocal(ends, consumed map[kafkameta.TopicPartition]int64) bool {
	for tp, end := range ends {
		if consumed[tp] < end {
			return false
		}
	}
	return true
}
