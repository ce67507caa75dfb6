package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/internal/retry"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// Durable state, the model being Kafka Streams' changelog topics: every
// change of a partition's detector state goes to partition p of the
// stage's compacted changelog topic (Config.UserStateTopic,
// IPStateTopic), keyed by the state key, with a tombstone when the key is
// evicted or expires. With them goes, per input partition, the offset up
// to which the state has applied the input (appliedPrefix keys). A batch's
// state is written only after its decisions and other outputs are
// acknowledged, and its offsets are committed only after both: so the
// state never holds an event whose decisions were lost, and after a crash
// the events after the applied offset, and only those, are decided again
// (their decisions keep their ids).

// appliedPrefix starts the changelog keys that hold applied offsets: 0xff
// is never in UTF-8, and every state key (a user id, an address) is UTF-8.
const appliedPrefix = "\xffapplied\x00"

// partState is one partition's engine, kept across generations while the
// partition stays assigned, and how far its state has applied each input.
type partState struct {
	engine *pipeline.Engine
	// applied maps an input (sourceKey) to the offset after the last
	// message whose effects are in the state and whose outputs were
	// acknowledged. The writer goroutine updates it; the next generation's
	// worker reads it after this one's ended.
	applied  map[string]int64
	restored bool
}

func sourceKey(topic string, partition int) string {
	return topic + "\x00" + strconv.Itoa(partition)
}

// changelog returns the stage's changelog topic, "" when state is not kept.
func (c *Config) changelog(stage rules.Stage) string {
	if stage == rules.IPStage {
		return c.IPStateTopic
	}
	return c.UserStateTopic
}

// stateChanges adds to b the changelog messages of the state changed by its
// events, and the applied offsets of its sources.
func (w *worker) stateChanges(b *batch) {
	topic := w.cfg.changelog(w.stage)
	if topic == "" {
		return
	}
	err := w.engine.Changes(w.stage, func(key string, value []byte) {
		b.state = append(b.state, kafka.Message{Topic: topic, Partition: w.partition, Key: []byte(key), Value: value})
	})
	if err != nil {
		w.cfg.Log.Error().Err(err).Str("stage", w.stageID).Msg("cannot encode state; the key is not in the changelog until its next change")
	}
	for i, next := range b.next {
		if next >= 0 {
			s := w.sources[i]
			b.state = append(b.state, kafka.Message{Topic: topic, Partition: w.partition,
				Key: []byte(appliedPrefix + sourceKey(s.topic, s.partition)), Value: []byte(strconv.FormatInt(next, 10))})
		}
	}
}

// restore reads the worker's changelog partition from its start to its end
// into the engine, before the first event is decided, and returns the
// applied offsets it holds. Keys in an encoding this binary cannot read
// are left out (counted and logged), never misread.
func (w *worker) restore(ctx context.Context) (map[string]int64, error) {
	c := w.cfg
	topic := c.changelog(w.stage)
	applied := map[string]int64{}
	start := time.Now()
	unreadable := 0
	read, err := readPartition(ctx, c, topic, w.partition, func(m *kafka.Message) {
		if k, ok := strings.CutPrefix(string(m.Key), appliedPrefix); ok {
			if n, err := strconv.ParseInt(string(m.Value), 10, 64); err == nil {
				applied[k] = n
			}
			return
		}
		if err := w.engine.Restore(w.stage, string(m.Key), m.Value); err != nil {
			unreadable++
			if errors.Is(err, detectors.ErrStateVersion) && unreadable == 1 {
				c.Log.Warn().Err(err).Str("topic", topic).Int("partition", w.partition).Msg("state in an encoding this binary cannot read: those keys start empty")
			}
		}
	})
	if err != nil {
		return nil, err
	}
	// The keys held now, not the entries read: a key changed many times,
	// or dropped by a tombstone, is one key or none.
	keys := w.engine.Stats().Users
	if w.stage == rules.IPStage {
		keys = w.engine.Stats().IPs
	}
	c.Metrics.RestoredKeys.WithLabelValues(w.stageID).Add(float64(keys))
	c.Metrics.UnreadableState.WithLabelValues(w.stageID).Add(float64(unreadable))
	c.Metrics.RestoreSeconds.WithLabelValues(w.stageID).Observe(time.Since(start).Seconds())
	c.Log.Info().Str("stage", w.stageID).Int("partition", w.partition).Int("keys", keys).Int("unreadable", unreadable).
		Int64("changelog_messages", read).Dur("took", time.Since(start)).Msg("state restored")
	return applied, nil
}

// readPartition calls f with every message of partition of topic, from its
// first offset to the end it had when reading began, in order, and returns
// how many offsets that spanned. It fails when the partition cannot be read
// or makes no progress three times running.
func readPartition(ctx context.Context, c *Config, topic string, partition int, f func(*kafka.Message)) (int64, error) {
	conn, err := c.Dialer.DialLeader(ctx, "tcp", c.Brokers[0], topic, partition)
	if err != nil {
		return 0, fmt.Errorf("restore %s/%d: %w", topic, partition, err)
	}
	defer conn.Close()
	first, end, err := conn.ReadOffsets()
	if err != nil {
		return 0, fmt.Errorf("restore %s/%d: %w", topic, partition, err)
	}
	stuck := 0
	for off := first; off < end; {
		from := off
		if _, err := conn.Seek(off, kafka.SeekAbsolute); err != nil {
			return 0, fmt.Errorf("restore %s/%d at %d: %w", topic, partition, off, err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		batch := conn.ReadBatch(1, 16<<20)
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			off = m.Offset + 1
			f(&m)
		}
		if err := batch.Close(); err != nil && ctx.Err() == nil && off < end {
			return 0, fmt.Errorf("restore %s/%d at %d: %w", topic, partition, off, err)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if off > from {
			stuck = 0
		} else if stuck++; stuck == 3 {
			return 0, fmt.Errorf("restore %s/%d: no progress at offset %d of %d", topic, partition, off, end)
		}
	}
	return end - first, nil
}

// prepareState restores the partition's state when it is new to this
// member, retrying until it succeeds (deciding on an empty state would
// forget every user's devices and tokens), and starts each source at the
// offset its state has applied when that is past the committed one: the
// events before it are in the state and their outputs were written. It
// reports false when ctx ended first.
func (w *worker) prepareState(ctx context.Context) bool {
	ps := w.state
	if w.cfg.changelog(w.stage) != "" && !ps.restored {
		// A changelog created a moment ago answers Not Leader for a few
		// tens of milliseconds although its metadata names a leader: the
		// first retries come soon, and that answer is not an error yet.
		wait := retry.Backoff(20*time.Millisecond, 10*time.Second)
		for try := 1; ; try++ {
			applied, err := w.restore(ctx)
			if err == nil {
				ps.applied, ps.restored = applied, true
				break
			}
			if ctx.Err() != nil {
				return false
			}
			ev := w.cfg.Log.Error()
			if try <= 5 && (errors.Is(err, kafka.NotLeaderForPartition) || errors.Is(err, kafka.LeaderNotAvailable)) {
				ev = w.cfg.Log.Debug()
			}
			ev.Err(err).Str("stage", w.stageID).Int("partition", w.partition).
				Msg("cannot restore state; retrying before deciding any event of this partition")
			if !retry.Sleep(ctx, wait.NextBackOff()) {
				return false
			}
		}
	}
	for _, src := range w.sources {
		if next, ok := ps.applied[sourceKey(src.topic, src.partition)]; ok && next > src.offset {
			src.offset = next
		}
	}
	return true
}

// applyAcked records the applied offsets of acknowledged batches, whose
// state is in the changelog. It runs on the writer goroutine.
func (w *worker) applyAcked(b *batch) {
	if w.state.applied == nil {
		w.state.applied = map[string]int64{}
	}
	for i, next := range b.next {
		if next >= 0 {
			s := w.sources[i]
			w.state.applied[sourceKey(s.topic, s.partition)] = next
		}
	}
}

// writeState writes the changelog messages of group, after its outputs
// were acknowledged, and reports false when ctx ended first. A key changed
// by several of the group's batches is written once, at its last change:
// each message is the key's whole state, and the changelog then reads as
// it will once compacted. A state message the broker refuses is dropped
// like a heartbeat (logged): the key's next change writes it again.
//
// The applied offsets go in a second write, once every state message is
// acknowledged: kafka-go sends a partition's messages in requests of 100
// and goes on after one that failed, so in one write an applied offset
// could be stored while a state before it was not, and a restore would
// skip events whose state it lacks.
func (w *worker) writeState(ctx context.Context, l *lane, group []*batch) bool {
	msgs := group[0].state
	if len(group) > 1 {
		msgs = lastPerKey(group)
	}
	states, applied := &batch{}, &batch{}
	for _, m := range msgs {
		if bytes.HasPrefix(m.Key, []byte(appliedPrefix)) {
			applied.add(m, -1)
		} else {
			states.add(m, -1)
		}
	}
	for _, b := range []*batch{states, applied} {
		if len(b.msgs) > 0 && !w.writeGroup(ctx, l, []*batch{b}) {
			return false
		}
	}
	return true
}

// lastPerKey returns the state messages of group in order, each key's
// last one only.
func lastPerKey(group []*batch) []kafka.Message {
	n := 0
	for _, g := range group {
		n += len(g.state)
	}
	seen := make(map[string]struct{}, n)
	out := make([]kafka.Message, n)
	i := n
	for gi := len(group) - 1; gi >= 0; gi-- {
		msgs := group[gi].state
		for j := len(msgs) - 1; j >= 0; j-- {
			if _, dup := seen[string(msgs[j].Key)]; dup {
				continue
			}
			seen[string(msgs[j].Key)] = struct{}{}
			i--
			out[i] = msgs[j]
		}
	}
	return out[i:]
}
