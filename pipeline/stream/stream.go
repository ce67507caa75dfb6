// Package stream is the streaming member of the riskd fleet: it joins the
// consumer group, assigns partition p of every input topic to one member,
// merges the inputs on event time, runs the user and address stages of
// pipeline.Engine, and writes decisions, dead letters and feature records
// before it commits the offsets they came from. It owns every Kafka
// concern of the engine: topics, batching, acknowledgements, heartbeats,
// the address stage's hold and the metrics of all of them.
package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/kafkameta"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// Member is one member of the riskd consumer fleet. Each partition number
// assigned to it gets one worker goroutine that owns that partition's user
// state and reads the partition of every input topic, and one that owns
// the same partition of the repartition topic and its address state.
// Offsets are committed only once the outputs of the events before them
// are acknowledged (at least once); a redelivered event yields the same
// decision ids.
type Member struct {
	cfg      Config
	rules    atomic.Pointer[rules.Set] // in force (see SetRules)
	setRules sync.Mutex                // one SetRules at a time
	ready    atomic.Bool
	assigned atomic.Int32
	// isolated writes the messages a shared batch was refused for, one per
	// request (see worker.attempt).
	isolated *kafka.Writer
	ruleErrs *ruleErrors
	breaker  *rules.Breaker // the member's, shared by its workers' engines

	// users and ips hold each partition's engine across generations, so
	// that a rebalance that leaves a partition here keeps its state. Only
	// the goroutine of Run touches the maps, between generations.
	users, ips map[int]*partState
	// inputs is the input topics' partition count, ipPartitions the
	// repartition topic's, from prepareTopics and then each generation.
	inputs, ipPartitions int

	// mu guards workers, the current generation's (for Stalled), drain,
	// how the last generation ended, and held, the partition numbers whose
	// state is here (for the next join, on the group's goroutine).
	mu      sync.Mutex
	workers []*worker
	held    []int
	drain   *DrainReport
}

// New checks c and returns a stream ready to Run. It wraps the
// writer's Balancer so that its heartbeats reach every partition of the
// repartition topic and its changelog messages the partition of their
// state, and raises its BatchBytes to MaxMessageBytes when
// lower (kafka-go refuses a larger message outright).
func New(c Config) (*Member, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	c.Metrics.RulesInfo.WithLabelValues(c.Rules.Version).Set(1)
	c.Metrics.ReloadDone(true)
	// Heartbeats to the repartition topic and changelog messages name
	// their partition.
	next := c.Writer.Balancer
	if next == nil {
		next = &kafka.Murmur2Balancer{}
	}
	fixed := map[string]bool{}
	for _, t := range []string{c.UserStateTopic, c.IPStateTopic} {
		if t != "" {
			fixed[t] = true
		}
	}
	c.Writer.Balancer = explicitBalancer{next: next, fixed: fixed}
	const kafkaGoBatchBytes = 1 << 20 // kafka.Writer's default BatchBytes
	if batch := c.Writer.BatchBytes; (batch == 0 && c.MaxMessageBytes > kafkaGoBatchBytes) || (batch > 0 && batch < int64(c.MaxMessageBytes)) {
		c.Writer.BatchBytes = int64(c.MaxMessageBytes)
	}
	s := &Member{cfg: c, users: map[int]*partState{}, ips: map[int]*partState{}}
	s.rules.Store(c.Rules)
	s.isolated = isolatedWriter(c.Writer)
	s.ruleErrs = newRuleErrors(c.Metrics, c.Log)
	s.breaker = newBreaker(c.Metrics, c.Log)
	s.breaker.Carry(c.Rules)
	return s, nil
}

// Ready reports whether the stream holds a generation of the group. It is
// safe for concurrent use.
func (s *Member) Ready() bool { return s.ready.Load() }

// Partitions returns how many partitions (of the input topics, by number,
// and of the repartition topic) the current generation gave this member.
// It is safe for concurrent use.
func (s *Member) Partitions() int { return int(s.assigned.Load()) }

// Stalled returns how many of the partitions this member holds have had
// their output writes failing for StallTimeout or longer: their offsets
// stand still and their lag grows. /readyz answers 503 while it is not 0.
// It is safe for concurrent use.
func (s *Member) Stalled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := time.Now(), 0
	for _, w := range s.workers {
		if w.stalled(now, s.cfg.StallTimeout) {
			n++
		}
	}
	return n
}

// Run checks the topics, joins the group and processes the partitions it
// is assigned until ctx ends. It then drains: in-flight outputs are
// written, offsets committed and the group left, within DrainTimeout;
// LastDrain tells how that went. It returns nil after a drain started by
// ctx, or the error that stopped it. Run is called once.
func (s *Member) Run(ctx context.Context) error {
	c := &s.cfg
	defer s.isolated.Close()
	if err := s.prepareTopics(ctx); err != nil {
		return err
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    c.Group,
		Brokers:               c.Brokers,
		Dialer:                c.Dialer,
		Topics:                append(append([]string(nil), c.Topics...), c.IPTopic),
		GroupBalancers:        []kafka.GroupBalancer{copartition{held: s.heldPartitions}},
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
		c.Log.Info().Msg("stopping: draining in-flight work, then committing what was acknowledged")
		_ = group.Close() // waits for the generation's workers to drain
		close(closed)
	}()
	for {
		gen, err := group.Next(context.Background())
		if errors.Is(err, kafka.ErrGroupClosed) {
			break
		}
		if err != nil {
			// No backoff here: kafka-go's group paces its own joins
			// (JoinGroupBackoff after an error, the broker's rebalance
			// timeout for RebalanceInProgress) and Next only reports them,
			// so a wait here would delay a generation already joined, not
			// the next join. Nor jitter: members that rejoin together are
			// settled by one rebalance rather than one each.
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

func (s *Member) setReady(ok bool) {
	s.ready.Store(ok)
	if ok {
		s.cfg.Metrics.Ready.Set(1)
	} else {
		s.cfg.Metrics.Ready.Set(0)
	}
}

// startGeneration starts the workers of gen's assignment and its
// committer, and returns; the group waits for them before the next one.
func (s *Member) startGeneration(gen *kafka.Generation) {
	c := &s.cfg
	c.Metrics.Generations.Inc()
	s.refreshPartitions()
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
	// A worker's sources follow --topics: an event waits only for the
	// topics listed before its own (see graceUntil).
	for _, srcs := range userSources {
		slices.SortFunc(srcs, func(a, b *source) int {
			return slices.Index(c.Topics, a.topic) - slices.Index(c.Topics, b.topic)
		})
	}
	retain(s.users, userSources, c.Metrics, stageName(rules.UserStage))
	retain(s.ips, ipSources, c.Metrics, stageName(rules.IPStage))
	s.assigned.Store(int32(len(userSources) + len(ipSources)))
	c.Metrics.Partitions.WithLabelValues("user").Set(float64(len(userSources)))
	c.Metrics.Partitions.WithLabelValues("ip").Set(float64(len(ipSources)))
	c.Log.Info().Int32("generation", gen.ID).Ints("user_partitions", keys(userSources)).
		Ints("ip_partitions", keys(ipSources)).Msg("joined consumer group")

	g := &generation{gen: gen, acks: &acks{}, progress: newProgress(gen.Assignments)}
	launch := func(stage rules.Stage, p int, srcs []*source) {
		states := s.states(stage)
		ps := states[p]
		if ps == nil {
			ps = &partState{engine: pipeline.NewEngine(s.rules.Load(), pipeline.WithGeoCache(c.GeoIP, c.GeoCacheSize), pipeline.WithEmitAll(c.EmitAll), pipeline.WithRuleErrors(s.ruleErrs.report),
				pipeline.WithBreaker(s.breaker), pipeline.WithQuietRepeats(c.Metrics.quiet))}
			if c.changelog(stage) != "" {
				ps.engine.TrackChanges(stage)
			}
			states[p] = ps
		}
		// prev starts at the engine's totals: a state kept from the last
		// generation has counted its evictions and expirations already.
		w := &worker{cfg: c, rules: &s.rules, stage: stage, stageID: stageName(stage), partition: p, engine: ps.engine, state: ps, sources: srcs, acks: g.acks, progress: g.progress,
			isolated: s.isolated, inputs: s.inputs, ipPartitions: s.ipPartitions, prev: ps.engine.Stats()}
		g.wg.Add(1)
		g.workers = append(g.workers, w)
		gen.Start(func(ctx context.Context) {
			defer g.wg.Done()
			w.run(ctx)
		})
	}
	for p, srcs := range userSources {
		launch(rules.UserStage, p, srcs)
	}
	for p, srcs := range ipSources {
		launch(rules.IPStage, p, srcs)
	}
	s.mu.Lock()
	s.workers = g.workers
	s.held = heldNumbers(s.users, s.ips)
	s.mu.Unlock()
	gen.Start(func(ctx context.Context) { s.commitLoop(ctx, g) })
	gen.Start(func(ctx context.Context) { s.pollLag(ctx, g) })
	s.setReady(true)
}

// refreshPartitions reads the input and repartition topics' partition
// counts again, so that a generation started after partitions were added
// validates observations against the new count. On any doubt (an error,
// input topics that disagree) it keeps the counts it has.
func (s *Member) refreshPartitions() {
	c := &s.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client := c.client(5 * time.Second)
	meta, err := kafkameta.Partitions(ctx, client, append(append([]string(nil), c.Topics...), c.IPTopic))
	if err != nil {
		return
	}
	n := meta[c.Topics[0]]
	for _, t := range c.Topics {
		if meta[t] != n {
			return
		}
	}
	if n > 0 && n != s.inputs {
		c.Log.Warn().Int("was", s.inputs).Int("now", n).Msg("input topics' partition count changed")
		s.inputs = n
	}
	if ip := meta[c.IPTopic]; ip > 0 {
		s.ipPartitions = ip
	}
}

func (s *Member) states(stage rules.Stage) map[int]*partState {
	if stage == rules.IPStage {
		return s.ips
	}
	return s.users
}

// heldPartitions returns the partition numbers this member holds state
// for, which its next join asks to keep (see copartition). Safe for
// concurrent use.
func (s *Member) heldPartitions() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.held)
}

// heldNumbers lists the partition numbers of either stage's states.
func heldNumbers(users, ips map[int]*partState) []int {
	var out []int
	for p := range users {
		out = append(out, p)
	}
	for p := range ips {
		if _, ok := users[p]; !ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
