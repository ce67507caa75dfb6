package stream

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/riskd/riskd/rules"
)

// addPolicy creates the collectors of the decision policy: quiet repeats
// and the lockout breaker. Their rule label takes the rule ids of the
// sets loaded, which analysts' files bound.
func (m *Metrics) addPolicy() {
	m.Suppressed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskd_decisions_suppressed_total",
		Help: "Decisions left out as quiet repeats (asking for nothing more than a decision in force for the same subject), by each rule among their reasons.",
	}, []string{"rule"})
	m.BreakerDemoted = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "riskd_rules_breaker_demoted",
		Help: "1 while the lockout breaker holds the rule demoted to shadow on this member; reset with POST /-/rules/RULE/reset or a reload that changes the rule.",
	}, []string{"rule"})
	m.BreakerTrips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskd_rules_breaker_trips_total",
		Help: "Times the lockout breaker demoted the rule to shadow on this member (its lockouts passed max_per_minute or max_share).",
	}, []string{"rule"})
}

// quiet counts a quiet repeat of rule (pipeline.WithQuietRepeats).
func (m *Metrics) quiet(rule string) { m.Suppressed.WithLabelValues(rule).Inc() }

// newBreaker returns the member's lockout breaker, which logs and counts
// every rule it demotes.
func newBreaker(m *Metrics, log zerolog.Logger) *rules.Breaker {
	return rules.NewBreaker(func(d rules.Demotion) {
		m.BreakerTrips.WithLabelValues(d.Rule).Inc()
		m.BreakerDemoted.WithLabelValues(d.Rule).Set(1)
		log.Error().Str("rule", d.Rule).Time("event_time", d.At).Str("why", d.Why).
			Msg("lockout breaker: rule demoted to shadow; its decisions are recorded but not enforced until an analyst resets it (POST /-/rules/" + d.Rule + "/reset) or a reload changes the rule")
	})
}

// ErrUnknownRule is the error of a reset of a rule the rules in force do
// not have.
var ErrUnknownRule = errors.New("no such rule in the rules in force")

// ResetRule lifts the lockout breaker's demotion of rule id, reporting
// whether it was demoted; ErrUnknownRule when the rule is neither in force
// nor demoted. It is safe for concurrent use.
func (s *Member) ResetRule(id string) (bool, error) {
	// The gauge goes first: a trip right after the reset sets it again.
	s.cfg.Metrics.BreakerDemoted.DeleteLabelValues(id)
	was := s.breaker.Reset(id)
	if !was && s.Rules().RuleByID(id) == nil {
		return false, ErrUnknownRule
	}
	if was {
		s.cfg.Log.Warn().Str("rule", id).Msg("lockout breaker reset: the rule is enforced again")
	}
	return was, nil
}

// Demotions returns the rules the lockout breaker holds demoted on this
// member. It is safe for concurrent use.
func (s *Member) Demotions() []rules.Demotion { return s.breaker.Demotions() }

// carryBreaker keeps the demotions of the rules a reload left unchanged
// and lifts the others (see rules.Breaker.Carry). s.setRules is held.
func (s *Member) carryBreaker(set *rules.Set) {
	for _, d := range s.breaker.Carry(set) {
		s.cfg.Metrics.BreakerDemoted.DeleteLabelValues(d.Rule)
		s.cfg.Log.Warn().Str("rule", d.Rule).Msg("lockout breaker reset by a reload that changed the rule")
	}
}
