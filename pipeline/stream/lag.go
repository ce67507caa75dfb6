package stream

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
)

// lagPoll is how often the committer asks the brokers for the high
// watermarks of the generation's partitions, so that a partition whose
// worker is stuck (and so fetches nothing) still shows its lag growing.
// Fetches report them too, for free, on every batch.
const lagPoll = 10 * time.Second

// progress tracks, for each partition a generation reads, the newest high
// watermark seen and the offset last committed, and publishes their
// difference as riskd_consumer_lag_messages: messages not yet decided,
// written and committed. Workers report high watermarks at each flush, the
// committer the offsets it committed (both publish the partitions they
// touch) and the high watermarks it polls (published at its next tick).
// Safe for concurrent use.
type progress struct {
	mu    sync.Mutex
	parts map[kafkameta.TopicPartition]*partProgress
}

type partProgress struct {
	hwm int64
	// committed is the offset committed for the partition, or where its
	// reading started while nothing was committed; -1 while unknown (no
	// commit and no message yet).
	committed int64
}

// newProgress starts tracking the partitions of assignments, from the
// offsets committed for them (kafka-go gives kafka.FirstOffset or
// LastOffset, negative, where none is).
func newProgress(assignments map[string][]kafka.PartitionAssignment) *progress {
	p := &progress{parts: map[kafkameta.TopicPartition]*partProgress{}}
	for topic, parts := range assignments {
		for _, a := range parts {
			p.parts[kafkameta.TopicPartition{Topic: topic, Partition: a.ID}] = &partProgress{committed: max(a.Offset, -1)}
		}
	}
	return p
}

// fetched records a partition's high watermark as a fetch or a poll
// reported it, and publishes the partition's lag to m (when not nil);
// first, when not negative, is the first offset read, which stands for
// the committed offset while there is none.
func (p *progress) fetched(m *Metrics, topic string, partition int, hwm, first int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tp := kafkameta.TopicPartition{Topic: topic, Partition: partition}
	pp := p.parts[tp]
	if pp == nil {
		return
	}
	pp.hwm = max(pp.hwm, hwm)
	if pp.committed < 0 && first >= 0 {
		pp.committed = first
	}
	if m != nil {
		pp.publish(m, tp)
	}
}

// committedOffsets records offsets committed and publishes their
// partitions' lag to m.
func (p *progress) committedOffsets(m *Metrics, offsets map[string]map[int]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for topic, parts := range offsets {
		for partition, off := range parts {
			tp := kafkameta.TopicPartition{Topic: topic, Partition: partition}
			if pp := p.parts[tp]; pp != nil {
				pp.committed = max(pp.committed, off)
				pp.publish(m, tp)
			}
		}
	}
}

func (pp *partProgress) publish(m *Metrics, tp kafkameta.TopicPartition) {
	if pp.committed >= 0 {
		m.Lag.WithLabelValues(tp.Topic, strconv.Itoa(tp.Partition)).Set(float64(max(0, pp.hwm-pp.committed)))
	}
}

// publish sets the lag gauge of every partition whose committed offset is
// known.
func (p *progress) publish(m *Metrics) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tp, pp := range p.parts {
		pp.publish(m, tp)
	}
}

// forget removes the generation's partitions from the lag gauge: their
// next owner (maybe this member again) publishes them.
func (p *progress) forget(m *Metrics) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tp := range p.parts {
		m.Lag.DeleteLabelValues(tp.Topic, strconv.Itoa(tp.Partition))
	}
}

// poll asks the brokers for the partitions' high watermarks. Errors are
// left for the next poll: the fetches' watermarks stand meanwhile.
func (p *progress) poll(ctx context.Context, c *Config) {
	p.mu.Lock()
	req := map[string][]kafka.OffsetRequest{}
	for tp := range p.parts {
		req[tp.Topic] = append(req[tp.Topic], kafka.LastOffsetOf(tp.Partition))
	}
	p.mu.Unlock()
	if len(req) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client := c.client(5 * time.Second)
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return
	}
	for topic, parts := range resp.Topics {
		for _, po := range parts {
			if po.Error == nil {
				p.fetched(nil, topic, po.Partition, po.LastOffset, -1)
			}
		}
	}
}
