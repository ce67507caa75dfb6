package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// StreamConfig wires a Stream. Brokers, Group, Topics, the three output
// topics, Rules and Writer are required; the rest have defaults.
type StreamConfig struct {
	Brokers        []string
	Group          string
	Topics         []string // input topics, keyed by user_id and co-partitioned
	DecisionsTopic string
	DLQTopic       string
	// IPTopic is the internal repartition topic: login attempts keyed by
	// address, with their user-stage features, for the address stage
	// (password spray). Stream creates it when missing, with as many
	// partitions as the input topics.
	IPTopic string
	// FeaturesTopic, when set, receives every accepted event's features
	// (storage.FeatureRecord, keyed by user_id) for the ClickHouse sink.
	// Stream creates it when missing, like IPTopic.
	FeaturesTopic string

	Rules        *rules.Set
	GeoIP        *geoip.DB // nil: events are not located
	GeoCacheSize int
	EmitAll      bool

	Dialer  *kafka.Dialer // connections of the group and the readers; nil for defaults
	Writer  *kafka.Writer // outputs (alerting.NewWriter); every message names its topic
	Metrics *Metrics      // nil: NewMetrics(nil)
	Log     zerolog.Logger

	// MaxBatch bounds the events whose outputs go in one write.
	MaxBatch int
	// FlushInterval bounds how long a processed event waits for its batch
	// to be written while more input keeps arriving.
	FlushInterval time.Duration
	// CommitInterval is how often acknowledged offsets are committed.
	CommitInterval time.Duration
	// MergeWait bounds how long a worker waits for a lagging input topic's
	// next event before deciding on the other topics' events, which it
	// otherwise takes in event-time order. It is spent only while a topic
	// is behind its high watermark (catching up a backlog), never when
	// the worker is caught up.
	MergeWait time.Duration
	// MergeGrace is how long an event fetched from one input topic waits
	// for the others when they have nothing buffered (see graceUntil); it
	// adds at most this to a decision's latency. Negative: no wait.
	MergeGrace time.Duration
	// IPHold bounds how long the address stage holds a login attempt back
	// waiting for the other user-stage partitions to pass its event time
	// (see hold); it delays password-spray decisions by at most this.
	IPHold time.Duration
	// DrainTimeout bounds the wait for in-flight writes when partitions are
	// handed back or the stream stops.
	DrainTimeout time.Duration
	// CreateTopics creates missing input and output topics at start with
	// Partitions partitions and ReplicationFactor replicas. Off, a missing
	// input topic is an error and a missing output topic is left to the
	// broker's auto.create.topics.enable.
	CreateTopics      bool
	Partitions        int
	ReplicationFactor int
	// StartOffset is where a partition with no committed offset starts:
	// kafka.FirstOffset (default) or kafka.LastOffset.
	StartOffset int64

	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration

	// Now stamps decided_at; time.Now when nil.
	Now func() time.Time
}

func (c *StreamConfig) defaults() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("stream: no brokers: pass --brokers HOST:PORT")
	case c.Group == "":
		return errors.New("stream: empty consumer group id: pass --group")
	case len(c.Topics) == 0:
		return errors.New("stream: no input topics: pass --topics")
	case c.DecisionsTopic == "" || c.DLQTopic == "" || c.IPTopic == "":
		return errors.New("stream: the decisions, dead-letter and repartition topics must be named")
	case c.Rules == nil:
		return errors.New("stream: no rule set")
	case c.Writer == nil:
		return errors.New("stream: no writer")
	}
	for _, t := range c.Topics {
		if t == c.DecisionsTopic || t == c.DLQTopic || t == c.IPTopic || (t == c.FeaturesTopic && t != "") {
			return fmt.Errorf("stream: topic %q is both an input and an output: the engine would consume its own output", t)
		}
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.GeoCacheSize <= 0 {
		c.GeoCacheSize = 16384
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 20 * time.Millisecond
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = time.Second
	}
	if c.MergeWait <= 0 {
		c.MergeWait = time.Second
	}
	if c.MergeGrace == 0 {
		c.MergeGrace = 5 * time.Millisecond
	}
	if c.IPHold <= 0 {
		c.IPHold = 2 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.Partitions <= 0 {
		c.Partitions = 12
	}
	if c.ReplicationFactor <= 0 {
		c.ReplicationFactor = 1
	}
	if c.StartOffset == 0 {
		c.StartOffset = kafka.FirstOffset
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Dialer == nil {
		c.Dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	}
	return nil
}

// Stream is one member of the riskd consumer fleet. Each partition number
// assigned to it gets one worker goroutine that owns that partition's user
// state and reads the partition of every input topic, and one that owns
// the same partition of the repartition topic and its address state.
// Offsets are committed only once the outputs of the events before them
// are acknowledged (at least once); a redelivered event yields the same
// decision ids.
type Stream struct {
	cfg      StreamConfig
	ready    atomic.Bool
	assigned atomic.Int32

	// users and ips hold each partition's engine across generations, so
	// that a rebalance that leaves a partition here keeps its state. Only
	// the goroutine of Run touches the maps, between generations.
	users, ips map[int]*Engine
	// inputs is the input topics' partition count, ipPartitions the
	// repartition topic's, from prepareTopics.
	inputs, ipPartitions int
}

// NewStream checks c and returns a stream ready to Run. It wraps the
// writer's Balancer so that its heartbeats reach every partition of the
// repartition topic.
func NewStream(c StreamConfig) (*Stream, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	c.Metrics.RulesInfo.WithLabelValues(c.Rules.Version).Set(1)
	// Heartbeats to the repartition topic name their partition.
	next := c.Writer.Balancer
	if next == nil {
		next = &kafka.Murmur2Balancer{}
	}
	c.Writer.Balancer = explicitBalancer{next: next}
	return &Stream{cfg: c, users: map[int]*Engine{}, ips: map[int]*Engine{}}, nil
}

// Ready reports whether the stream holds a generation of the group.
func (s *Stream) Ready() bool { return s.ready.Load() }

// Partitions returns how many partitions (of the input topics, by number,
// and of the repartition topic) the current generation gave this member.
func (s *Stream) Partitions() int { return int(s.assigned.Load()) }

// Run checks the topics, joins the group and processes the partitions it
// is assigned until ctx ends. It then drains: in-flight outputs are
// written, offsets committed and the group left, within DrainTimeout. It
// returns nil after a drain started by ctx, or the error that stopped it.
func (s *Stream) Run(ctx context.Context) error {
	c := &s.cfg
	if err := s.prepareTopics(ctx); err != nil {
		return err
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    c.Group,
		Brokers:               c.Brokers,
		Dialer:                c.Dialer,
		Topics:                append(append([]string(nil), c.Topics...), c.IPTopic),
		GroupBalancers:        []kafka.GroupBalancer{copartition{}},
		WatchPartitionChanges: true,
		StartOffset:           c.StartOffset,
		SessionTimeout:        c.SessionTimeout,
		RebalanceTimeout:      c.RebalanceTimeout,
		HeartbeatInterval:     c.HeartbeatInterval,
		JoinGroupBackoff:      time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.Log.Warn().Str("component", "group").Msgf(msg, args...)
		}),
	})
	if err != nil {
		return fmt.Errorf("stream: join group %q: %w", c.Group, err)
	}
	closed := make(chan struct{})
	go func() {
		<-ctx.Done()
		c.Log.Info().Msg("stopping: draining in-flight work and committing")
		_ = group.Close() // waits for the generation's workers to drain
		close(closed)
	}()
	for {
		gen, err := group.Next(context.Background())
		if errors.Is(err, kafka.ErrGroupClosed) {
			break
		}
		if err != nil {
			s.setReady(false)
			c.Log.Warn().Err(err).Msg("consumer group: retrying")
			continue
		}
		s.startGeneration(gen)
	}
	<-closed
	s.setReady(false)
	return nil
}

func (s *Stream) setReady(ok bool) {
	s.ready.Store(ok)
	if ok {
		s.cfg.Metrics.Ready.Set(1)
	} else {
		s.cfg.Metrics.Ready.Set(0)
	}
}

// startGeneration starts the workers of gen's assignment and its
// committer, and returns; the group waits for them before the next one.
func (s *Stream) startGeneration(gen *kafka.Generation) {
	c := &s.cfg
	c.Metrics.Generations.Inc()
	userSources := map[int][]*source{}
	ipSources := map[int][]*source{}
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			src := &source{topic: topic, partition: p.ID, offset: p.Offset}
			if topic == c.IPTopic {
				ipSources[p.ID] = append(ipSources[p.ID], src)
			} else {
				userSources[p.ID] = append(userSources[p.ID], src)
			}
		}
	}
	retain(s.users, userSources)
	retain(s.ips, ipSources)
	s.assigned.Store(int32(len(userSources) + len(ipSources)))
	c.Metrics.Partitions.WithLabelValues("user").Set(float64(len(userSources)))
	c.Metrics.Partitions.WithLabelValues("ip").Set(float64(len(ipSources)))
	c.Log.Info().Int32("generation", gen.ID).Ints("user_partitions", keys(userSources)).
		Ints("ip_partitions", keys(ipSources)).Msg("joined consumer group")

	acked := &acks{}
	var wg sync.WaitGroup
	var workers []*worker
	launch := func(stage rules.Stage, p int, srcs []*source) {
		engines := s.engines(stage)
		eng := engines[p]
		if eng == nil {
			eng = NewEngine(c.Rules, WithGeoCache(c.GeoIP, c.GeoCacheSize), WithEmitAll(c.EmitAll))
			engines[p] = eng
		}
		w := &worker{cfg: c, stage: stage, partition: p, engine: eng, sources: srcs, acks: acked, inputs: s.inputs, ipPartitions: s.ipPartitions}
		wg.Add(1)
		workers = append(workers, w)
		gen.Start(func(ctx context.Context) {
			defer wg.Done()
			w.run(ctx)
		})
	}
	for p, srcs := range userSources {
		launch(rules.UserStage, p, srcs)
	}
	for p, srcs := range ipSources {
		launch(rules.IPStage, p, srcs)
	}
	gen.Start(func(ctx context.Context) {
		t := time.NewTicker(c.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.commit(gen, acked)
			case <-ctx.Done():
				wg.Wait()
				s.commit(gen, acked)
				for _, w := range workers {
					if w.lost {
						// Outputs were lost with this state: the uncommitted
						// events come back and must not be taken for
						// duplicates, so the state is rebuilt from them.
						c.Log.Warn().Int("partition", w.partition).Str("stage", w.stage.String()).
							Msg("outputs not acknowledged before the partition was released: dropping its state")
						delete(s.engines(w.stage), w.partition)
					}
				}
				return
			}
		}
	})
	s.setReady(true)
}

func (s *Stream) engines(stage rules.Stage) map[int]*Engine {
	if stage == rules.IPStage {
		return s.ips
	}
	return s.users
}

func (s *Stream) commit(gen *kafka.Generation, a *acks) {
	offsets := a.take()
	if offsets == nil {
		return
	}
	if err := gen.CommitOffsets(offsets); err != nil {
		s.cfg.Metrics.CommitErrors.Inc()
		s.cfg.Log.Warn().Err(err).Msg("offset commit failed: events since the last commit will be redelivered")
		a.putBack(offsets)
		return
	}
	s.cfg.Metrics.Commits.Inc()
}

// copartition is the group's balancer: it deals out partition numbers, not
// partitions, so that a member gets partition p of every topic it reads.
// One user's events are on partition p of both input topics, and one
// worker must own that user's state. (kafka-go's range balancer splits each
// topic in the order the metadata lists its partitions, which only some
// brokers keep sorted.)
type copartition struct{}

func (copartition) ProtocolName() string      { return "riskd-copartition" }
func (copartition) UserData() ([]byte, error) { return nil, nil }

func (copartition) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	out := kafka.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b kafka.GroupMember) int { return strings.Compare(a.ID, b.ID) })
	var numbers []int
	for _, p := range partitions {
		numbers = append(numbers, p.ID)
	}
	slices.Sort(numbers)
	numbers = slices.Compact(numbers)
	owner := map[int]string{}
	for i, n := range numbers {
		owner[n] = ms[i*len(ms)/len(numbers)].ID // contiguous ranges, as the range balancer
	}
	reads := map[string]map[string]bool{}
	for _, m := range ms {
		out[m.ID] = map[string][]int{}
		reads[m.ID] = map[string]bool{}
		for _, t := range m.Topics {
			reads[m.ID][t] = true
		}
	}
	for _, p := range partitions {
		if m := owner[p.ID]; reads[m][p.Topic] {
			out[m][p.Topic] = append(out[m][p.Topic], p.ID)
		}
	}
	return out
}

// retain drops the engines of partitions no longer assigned.
func retain(engines map[int]*Engine, assigned map[int][]*source) {
	for p := range engines {
		if _, ok := assigned[p]; !ok {
			delete(engines, p)
		}
	}
}

func keys(m map[int][]*source) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// acks collects, per topic and partition, the offset after the last event
// whose outputs were acknowledged, for the committer. Safe for concurrent use.
type acks struct {
	mu      sync.Mutex
	offsets map[string]map[int]int64
}

func (a *acks) set(topic string, partition int, next int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.offsets == nil {
		a.offsets = map[string]map[int]int64{}
	}
	m := a.offsets[topic]
	if m == nil {
		m = map[int]int64{}
		a.offsets[topic] = m
	}
	if next > m[partition] {
		m[partition] = next
	}
}

// take returns the offsets set since the last take, nil when none.
func (a *acks) take() map[string]map[int]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.offsets
	a.offsets = nil
	return o
}

// putBack returns offsets whose commit failed, unless newer ones came.
func (a *acks) putBack(o map[string]map[int]int64) {
	for t, m := range o {
		for p, off := range m {
			a.set(t, p, off)
		}
	}
}
