package stream

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// Config wires a Member. Brokers, Group, Topics, the three output
// topics, Rules and Writer are required; the rest have defaults.
type Config struct {
	Brokers        []string
	Group          string
	Topics         []string // input topics, keyed by user_id and co-partitioned
	DecisionsTopic string
	DLQTopic       string
	// IPTopic is the internal repartition topic: login attempts keyed by
	// the network of their address (its IPv4 /24 or IPv6 /48, so that one
	// partition counts every address of a network), with their user-stage
	// features, for the address stage (password spray). Member creates it when missing, with as many
	// partitions as the input topics.
	IPTopic string
	// FeaturesTopic, when set, receives every accepted event's features
	// (record.Feature, keyed by user_id) for the ClickHouse sink.
	// Member creates it when missing, like IPTopic.
	FeaturesTopic string
	// UserStateTopic and IPStateTopic, when set, are the compacted
	// changelog topics of the two stages' detector state (see
	// changelog.go): partition p's state is restored from them before its
	// first event, so that it survives restarts and moves. The Member
	// creates them when missing, compacted, with the partition counts of
	// the input and repartition topics.
	UserStateTopic, IPStateTopic string

	Rules        *rules.Set
	GeoIP        *geoip.DB // nil: events are not located
	GeoCacheSize int
	EmitAll      bool

	// Dialer makes the connections of the group, the readers and the
	// changelog restores; its TLS and SASL settings are also those of the
	// member's admin clients. Nil: plain connections.
	Dialer  *kafka.Dialer
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
	// for the topics listed before it in Topics when they have nothing
	// buffered (see graceUntil); it adds at most this to the latency of a
	// decision on a later topic's event (a transaction), and nothing to the
	// first topic's (a login). Negative: no wait.
	MergeGrace time.Duration
	// IPHold bounds how long the address stage holds a login attempt back
	// waiting for the other user-stage partitions to pass its event time
	// (see hold); it delays password-spray decisions by at most this.
	IPHold time.Duration
	// DrainTimeout bounds the wait for in-flight writes when partitions are
	// handed back or the stream stops.
	DrainTimeout time.Duration
	// MaxMessageBytes bounds every message the stream writes (messageSize:
	// key, value, headers and framing). An output over it is not written:
	// its input goes to the dead-letter topic instead (output_too_large),
	// and a dead letter over it is cut to fit. Default
	// DefaultMaxMessageBytes, for brokers' default message.max.bytes
	// (1048588); raise both together. The writer's BatchBytes is raised to
	// it when lower.
	MaxMessageBytes int
	// StallTimeout is how long a partition's output writes may keep
	// failing before it counts as stalled (riskd_partitions_stalled,
	// Member.Stalled, /readyz 503). Default 30 s: longer than a leader
	// election or a broker restart, short enough to page on.
	StallTimeout time.Duration
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

	// transport carries Dialer's TLS and SASL to the admin clients (see
	// client); nil, kafka-go's default, for plain connections.
	transport kafka.RoundTripper
}

// client returns a kafka.Client of the brokers, over the TLS and SASL of
// Dialer, whose requests time out after timeout.
func (c *Config) client(timeout time.Duration) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: c.transport}
}

// defaults checks c (see check) and fills in the defaults.
func (c *Config) defaults() error {
	if err := c.check(); err != nil {
		return err
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
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxMessageBytes < minMaxMessageBytes {
		return fmt.Errorf("stream: max message bytes %d is too small: a dead letter's headers need %d", c.MaxMessageBytes, minMaxMessageBytes)
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 30 * time.Second
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
		// Long enough for a drain: a member still draining when the
		// rebalance times out is dropped from the group, and its
		// partitions are decided by another member while it writes.
		c.RebalanceTimeout = max(10*time.Second, c.DrainTimeout+5*time.Second)
	}
	if c.DrainTimeout >= c.RebalanceTimeout {
		return fmt.Errorf("stream: the drain timeout (%s) must be below the group's rebalance timeout (%s): a member still draining would be dropped from the group while another takes its partitions; lower --drain-timeout", c.DrainTimeout, c.RebalanceTimeout)
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
	if d := c.Dialer; d.TLS != nil || d.SASLMechanism != nil {
		// One transport, so that the clients share its connections.
		c.transport = &kafka.Transport{TLS: d.TLS, SASL: d.SASLMechanism, ClientID: d.ClientID, DialTimeout: d.Timeout}
	}
	return nil
}

// check reports a required setting missing or topics that clash.
func (c *Config) check() error {
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
	return nil
}
