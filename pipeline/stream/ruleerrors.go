package stream

import (
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/rules"
)

// ruleErrorLogEvery is the least time between two log lines about one
// rule's failures; the ones in between are counted and the count given in
// the next line.
const ruleErrorLogEvery = 10 * time.Second

// ruleErrors hears of rules that failed on an event (pipeline.WithRuleErrors): it
// counts them in riskd_rule_errors_total{rule} (rule ids are the loaded
// rules', a bounded set) and logs at most one line per rule per
// ruleErrorLogEvery, naming the event by its id only, never its content.
// Safe for concurrent use: every engine of the stream calls report from
// its worker's goroutine.
type ruleErrors struct {
	metrics *Metrics
	log     zerolog.Logger
	every   time.Duration

	mu   sync.Mutex
	last map[string]*ruleErrorLog // by rule id
}

type ruleErrorLog struct {
	at         time.Time
	suppressed int
}

func newRuleErrors(m *Metrics, log zerolog.Logger) *ruleErrors {
	return &ruleErrors{metrics: m, log: log, every: ruleErrorLogEvery, last: map[string]*ruleErrorLog{}}
}

// report counts r's failure on ev and logs it unless r was logged less
// than every ago.
func (re *ruleErrors) report(r *rules.Rule, ev *event.Event, err error) {
	re.metrics.RuleErrors.WithLabelValues(r.ID).Inc()
	now := time.Now()
	re.mu.Lock()
	l := re.last[r.ID]
	if l == nil {
		l = &ruleErrorLog{}
		re.last[r.ID] = l
	}
	if !l.at.IsZero() && now.Sub(l.at) < re.every {
		l.suppressed++
		re.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.at, l.suppressed = now, 0
	re.mu.Unlock()
	msg := err.Error()
	if len(msg) > maxProblemBytes {
		msg = strings.ToValidUTF8(msg[:maxProblemBytes], "") + "..."
	}
	re.log.Error().Str("rule", r.ID).Str("event_id", event.Bound(ev.ID)).Str("error", msg).
		Int("suppressed_since_last_line", suppressed).
		Msg("rule failed on an event and was skipped; the other rules decided it (further failures of this rule are counted in riskd_rule_errors_total and logged at most once per interval)")
}
