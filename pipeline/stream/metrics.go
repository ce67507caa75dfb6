package stream

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// Metrics are the streaming path's Prometheus collectors, all named riskd_*.
// They are safe for concurrent use; workers update them after each batch.
type Metrics struct {
	Events        *prometheus.CounterVec   // topic, type
	Rejected      *prometheus.CounterVec   // reason
	Duplicates    prometheus.Counter       //
	Signals       *prometheus.CounterVec   // detector
	RuleHits      *prometheus.CounterVec   // rule, mode
	Decisions     *prometheus.CounterVec   // action, subject_kind
	EventLatency  prometheus.Histogram     // event time to decision acknowledged
	IngestLatency prometheus.Histogram     // message timestamp to decision acknowledged
	Lag           *prometheus.GaugeVec     // topic, partition
	StateKeys     *prometheus.GaugeVec     // stage, partition
	Evictions     *prometheus.CounterVec   // stage
	Expirations   *prometheus.CounterVec   // stage
	Batches       prometheus.Counter       //
	WriteErrors   *prometheus.CounterVec   // kind: retriable, permanent
	Stalled       *prometheus.GaugeVec     // stage
	Commits       prometheus.Counter       //
	CommitErrors  prometheus.Counter       //
	Generations   prometheus.Counter       //
	Partitions    *prometheus.GaugeVec     // stage
	Ready         prometheus.Gauge         //
	RulesInfo     *prometheus.GaugeVec     // version
	Outputs       *prometheus.CounterVec   // topic
	BatchSize     prometheus.Histogram     //
	Processing    *prometheus.HistogramVec // stage: per-event CPU time in the worker
	HoldTimeouts  prometheus.Counter       //
	HoldOverflows prometheus.Counter       //
	RuleErrors    *prometheus.CounterVec   // rule
	// The changelog restore, by stage: keys restored, keys left out for an
	// encoding this binary cannot read, seconds per partition restored.
	RestoredKeys    *prometheus.CounterVec
	UnreadableState *prometheus.CounterVec
	RestoreSeconds  *prometheus.HistogramVec
	// Hot reloads of the rules (see Member.SetRules and ReloadDone).
	ReloadSuccess prometheus.Gauge
	ReloadTime    prometheus.Gauge
	// The decision policy: quiet repeats and the lockout breaker, by rule.
	Suppressed     *prometheus.CounterVec
	BreakerDemoted *prometheus.GaugeVec
	BreakerTrips   *prometheus.CounterVec
}

// latencyBuckets go from a millisecond to a day: the event-time latency of
// a backlog being caught up is hours, a live decision's is milliseconds.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 4, 12)

// NewMetrics creates the collectors and registers them with reg (which may
// be nil, for tests that do not serve them).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_events_total", Help: "Events consumed, by source topic and event type (rejected events have type \"invalid\").",
		}, []string{"topic", "type"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_events_rejected_total", Help: "Events sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskd_events_duplicate_total", Help: "Redelivered events (event_id already seen for the user); they change no state.",
		}),
		Signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_detector_signals_total", Help: "Detector signals (a detector fired on an event), by detector.",
		}, []string{"detector"}),
		RuleHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_rule_hits_total", Help: "Rules that fired, by rule and mode.",
		}, []string{"rule", "mode"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_decisions_total", Help: "Decisions produced, by action and subject kind.",
		}, []string{"action", "subject_kind"}),
		EventLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "riskd_decision_event_time_lag_seconds", Help: "From an event's ts to the broker acknowledging its decisions.",
			Buckets: latencyBuckets,
		}),
		IngestLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "riskd_decision_ingest_latency_seconds", Help: "From an event's Kafka message timestamp to the broker acknowledging its decisions.",
			Buckets: latencyBuckets,
		}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "riskd_consumer_lag_messages", Help: "The partition's high watermark minus the offset this instance last committed for it: messages not yet decided, written and committed.",
		}, []string{"topic", "partition"}),
		StateKeys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "riskd_state_keys", Help: "Keys held in detector state, by stage (user, ip) and partition.",
		}, []string{"stage", "partition"}),
		Evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_state_evictions_total", Help: "Keys dropped from detector state because the key cap was reached (least recently used first).",
		}, []string{"stage"}),
		Expirations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskd_state_expirations_total", Help: "Keys dropped from detector state after their event-time TTL.",
		}, []string{"stage"}),
		Commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskd_offset_commits_total", Help: "Offset commits to the consumer group.",
		}),
		CommitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskd_offset_commit_errors_total", Help: "Failed offset commits; the events after the last commit are redelivered.",
		}),
		Generations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskd_group_generations_total", Help: "Consumer group generations joined (rebalances).",
		}),
		Partitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "riskd_assigned_partitions", Help: "Partitions assigned to this instance, by stage.",
		}, []string{"stage"}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "riskd_ready", Help: "1 when the instance is in the consumer group and can reach the brokers.",
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "riskd_batch_events", Help: "Events per output batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		Processing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "riskd_processing_seconds", Help: "Time a worker spends on one input message, by stage.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"stage"}),
	}
	m.addOutputs()
	m.addRestore()
	m.addReload()
	m.addPolicy()
	if reg != nil {
		reg.MustRegister(m.Events, m.Rejected, m.Duplicates, m.Signals, m.RuleHits, m.Decisions,
			m.EventLatency, m.IngestLatency, m.Lag, m.StateKeys, m.Evictions, m.Expirations,
			m.Batches, m.WriteErrors, m.Commits, m.CommitErrors, m.Generations, m.Partitions,
			m.Ready, m.RulesInfo, m.Outputs, m.BatchSize, m.Processing, m.HoldTimeouts,
			m.Stalled, m.HoldOverflows, m.RuleErrors, m.RestoredKeys, m.UnreadableState, m.RestoreSeconds,
			m.ReloadSuccess, m.ReloadTime, m.Suppressed, m.BreakerDemoted, m.BreakerTrips)
	}
	return m
}

// addOutputs creates the collectors of the output side: writes, stalls,
// the address stage's hold and rule failures.
func (m *Metrics) addOutputs() {
	m.Batches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskd_output_batches_total", Help: "Output batches acknowledged by the broker.",
	})
	m.WriteErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskd_output_write_errors_total",
		Help: "Output messages whose write failed, by kind: retriable (written again after a backoff) or permanent (the broker refuses that message: it is dead-lettered instead).",
	}, []string{"kind"})
	m.Stalled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "riskd_partitions_stalled",
		Help: "Partitions, by stage, whose output write under way has not succeeded (failing or hanging) for the stall timeout, 30 s; their offsets stand still, and /readyz answers 503 while any is.",
	}, []string{"stage"})
	m.Outputs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskd_output_messages_total", Help: "Messages produced, by topic.",
	}, []string{"topic"})
	m.HoldTimeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskd_ip_hold_timeouts_total",
		Help: "Login attempts the address stage decided out of event-time order because a user-stage partition fell more than --ip-hold behind.",
	})
	m.HoldOverflows = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskd_ip_hold_overflow_total",
		Help: "Login attempts the address stage decided before their turn because its hold was full (100,000 attempts or 64 MiB of messages).",
	})
	m.RuleErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskd_rule_errors_total",
		Help: "Rule evaluations that failed at run time, by rule; the rule is skipped for that event and the other rules decide.",
	}, []string{"rule"})
}

// observeDecisions counts ds and their reasons.
func (m *Metrics) observeDecisions(ds []rules.Decision) {
	for i := range ds {
		d := &ds[i]
		m.Decisions.WithLabelValues(d.Action.String(), string(d.Subject.Kind)).Inc()
		for _, r := range d.Reasons {
			m.RuleHits.WithLabelValues(r.Rule, string(r.Mode)).Inc()
		}
	}
}

// observeSignals counts the detectors that fired in f.
func (m *Metrics) observeSignals(f *detectors.Features, ipStage bool) {
	if ipStage {
		if f.Fired(detectors.FailedLoginBurst, true) {
			m.Signals.WithLabelValues(detectors.FailedLoginBurst).Inc()
		}
		return
	}
	for _, id := range detectors.IDs() {
		if f.Fired(id, false) {
			m.Signals.WithLabelValues(id).Inc()
		}
	}
}

// observeState publishes an engine's state size and the evictions and
// expirations since the last call, given as the previous stats.
func (m *Metrics) observeState(stage string, partition int, now, prev pipeline.StateStats) {
	p := strconv.Itoa(partition)
	if stage == "ip" {
		m.StateKeys.WithLabelValues(stage, p).Set(float64(now.IPs))
		m.Evictions.WithLabelValues(stage).Add(float64(now.IPEvictions - prev.IPEvictions))
		m.Expirations.WithLabelValues(stage).Add(float64(now.IPExpirations - prev.IPExpirations))
		return
	}
	m.StateKeys.WithLabelValues(stage, p).Set(float64(now.Users))
	m.Evictions.WithLabelValues(stage).Add(float64(now.UserEvictions - prev.UserEvictions))
	m.Expirations.WithLabelValues(stage).Add(float64(now.UserExpirations - prev.UserExpirations))
}

// addRestore creates the collectors of the state restore.
func (m *Metrics) addRestore() {
	m.RestoredKeys = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskd_state_restored_keys_total", Help: "State keys restored from the changelog topics, by stage.",
	}, []string{"stage"})
	m.UnreadableState = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskd_state_unreadable_total", Help: "Changelog entries in a state encoding this binary cannot read (or corrupt), left out of the restore: those keys start empty.",
	}, []string{"stage"})
	m.RestoreSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "riskd_state_restore_seconds", Help: "Time to restore one partition's state from its changelog, by stage.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
	}, []string{"stage"})
}
