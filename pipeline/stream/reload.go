package stream

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// addReload creates the collectors of the rules in force and of their hot
// reloads, named as Prometheus names its own.
func (m *Metrics) addReload() {
	m.RulesInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "riskd_rules_info", Help: "The rules version in use (value 1).",
	}, []string{"version"})
	m.ReloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "riskd_rules_last_reload_success", Help: "1 when the last load of the rules succeeded (at start or a reload), 0 when it failed and the rules before it stay in force.",
	})
	m.ReloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "riskd_rules_last_reload_timestamp_seconds", Help: "When the rules were last loaded or a reload was last tried, Unix seconds.",
	})
}

// ErrDetectorsChanged is the error of a reload whose detector settings
// differ from those in force.
var ErrDetectorsChanged = errors.New("the detector settings (detectors.yaml) changed: they size and shape the detector state, so they take effect at the next start of riskd run; the rules in force stay")

// Rules returns the rule set in force. It is safe for concurrent use.
func (s *Member) Rules() *rules.Set { return s.rules.Load() }

// SetRules puts set in force in place of the rules in force: every worker
// decides with it from its next batch on, keeping its detector state and
// the batches in flight (decisions carry the rules_version that made
// them). The lockout breaker keeps the demotions of the rules set leaves
// unchanged and lifts the others. A set whose detector settings differ is refused with
// ErrDetectorsChanged. It is safe for concurrent use.
func (s *Member) SetRules(set *rules.Set) error {
	s.setRules.Lock()
	defer s.setRules.Unlock()
	if !pipeline.SameDetectors(set, s.rules.Load()) {
		return ErrDetectorsChanged
	}
	old := s.rules.Swap(set)
	s.carryBreaker(set)
	if old.Version != set.Version {
		s.cfg.Metrics.RulesInfo.DeleteLabelValues(old.Version)
	}
	s.cfg.Metrics.RulesInfo.WithLabelValues(set.Version).Set(1)
	return nil
}

// ReloadDone records in the reload metrics that loading the rules ended,
// with ok saying whether the new set is in force. It is safe for
// concurrent use.
func (m *Metrics) ReloadDone(ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.ReloadSuccess.Set(v)
	m.ReloadTime.Set(float64(time.Now().UnixNano()) / 1e9)
}

// takeRules makes the rules in force the engine's, between batches. A
// worker without a member (a unit test's) keeps its engine's.
func (w *worker) takeRules() {
	if w.rules == nil {
		return
	}
	if set := w.rules.Load(); set != nil && set != w.engine.Rules() {
		w.engine.SetRules(set)
	}
}
