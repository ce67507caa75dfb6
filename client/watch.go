package client

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// watch looks at the topic every interval and hands each look to the
// follow goroutine: the partitions' end offsets, which measure the lag,
// and for a partition not seen before where to start reading it. On the
// first look that is Config.Lookback ago, by message timestamp; a
// partition added later is read from its beginning, since everything in
// it is new.
func (c *Client) watch(ctx context.Context, kc *kafka.Client, out chan<- look) {
	known := map[int]bool{}
	for {
		l := c.lookAt(ctx, kc, known)
		for p := range l.starts {
			known[p] = true
		}
		select {
		case out <- l:
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(c.interval()):
		case <-ctx.Done():
			return
		}
	}
}

// lookAt takes one look at the topic; known are the partitions already
// being read.
func (c *Client) lookAt(ctx context.Context, kc *kafka.Client, known map[int]bool) look {
	// The time is taken before asking, so that everything written before
	// it is below the ends the brokers answer.
	l := look{at: c.cfg.Now()}
	md, err := kc.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.cfg.Topic}})
	if err != nil {
		l.err = fmt.Errorf("client: cannot reach the brokers at %v: %w", c.cfg.Brokers, err)
		return l
	}
	var parts, added []int
	for _, t := range md.Topics {
		if t.Name != c.cfg.Topic {
			continue
		}
		if t.Error != nil {
			l.err = fmt.Errorf("client: topic %s: %w (is Config.Topic riskd's --decisions-topic, and has riskd created it?)", c.cfg.Topic, t.Error)
			return l
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
			if !known[p.ID] {
				added = append(added, p.ID)
			}
		}
	}
	if len(parts) == 0 {
		l.err = fmt.Errorf("client: topic %s has no partitions yet (is Config.Topic riskd's --decisions-topic?)", c.cfg.Topic)
		return l
	}
	if l.ends, l.err = c.offsets(ctx, kc, parts, kafka.LastOffset); l.err != nil || len(added) == 0 {
		return l
	}
	from := kafka.FirstOffset
	if len(known) == 0 {
		from = l.at.Add(-c.cfg.Lookback).UnixMilli()
	}
	if l.starts, l.err = c.offsets(ctx, kc, added, from); l.err != nil {
		return l
	}
	for p, off := range l.starts {
		if off < 0 { // no message since the lookback: start at the end
			l.starts[p] = l.ends[p]
		}
	}
	return l
}

// offsets asks the brokers for the offset of each partition at ts: its
// first or end offset (kafka.FirstOffset, kafka.LastOffset), or the first
// at or after a time in Unix milliseconds (-1 when there is none).
func (c *Client) offsets(ctx context.Context, kc *kafka.Client, parts []int, ts int64) (map[int]int64, error) {
	req := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		req[i] = kafka.OffsetRequest{Partition: p, Timestamp: ts}
	}
	resp, err := kc.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.cfg.Topic: req}})
	if err != nil {
		return nil, fmt.Errorf("client: listing the offsets of %s: %w", c.cfg.Topic, err)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[c.cfg.Topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("client: listing the offsets of %s partition %d: %w", c.cfg.Topic, po.Partition, po.Error)
		}
		switch ts {
		case kafka.FirstOffset:
			out[po.Partition] = po.FirstOffset
		case kafka.LastOffset:
			out[po.Partition] = po.LastOffset
		default:
			out[po.Partition] = -1
			for off := range po.Offsets { // one entry when a message was found
				out[po.Partition] = off
			}
		}
	}
	if len(out) != len(parts) {
		return nil, fmt.Errorf("client: the brokers gave the offsets of %d of the %d partitions of %s", len(out), len(parts), c.cfg.Topic)
	}
	return out, nil
}
