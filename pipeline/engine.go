// Package pipeline runs events through enrichment, the keyed detector
// stages and the rules. Engine is the synchronous core shared by `riskd
// replay` and the streaming workers, which is what makes their answers the
// same.
package pipeline

import (
	"fmt"
	"reflect"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// Engine decides on events one at a time. It owns the state of the keys it
// sees and is not safe for concurrent use: one worker goroutine owns one
// Engine.
type Engine struct {
	set     *rules.Set
	geo     *geoip.Cache
	users   *detectors.Users
	ips     *detectors.IPs
	eval    rules.Evaluator
	emitAll bool
	feats   detectors.Features
	// maxFuture is how far ahead of the wall clock an event may be dated.
	maxFuture time.Duration
	// ruleErrors counts the events each rule failed on (a bounded map: the
	// set's rule ids); onRuleError is WithRuleErrors' function.
	ruleErrors  map[string]uint64
	onRuleError func(r *rules.Rule, ev *event.Event, err error)
}

// ReasonFutureTS is the rejection reason of an event dated further ahead
// of the wall clock than the detectors' state.max_future allows.
const ReasonFutureTS = "future_ts"

// Option configures an Engine.
type Option func(*Engine)

// WithEmitAll makes the engine emit an allow decision for every event whose
// user no rule fired for (`--emit all`).
func WithEmitAll(all bool) Option { return func(e *Engine) { e.emitAll = all } }

// WithGeoCache sets the size of the engine's per-IP enrichment cache.
func WithGeoCache(db *geoip.DB, size int) Option {
	return func(e *Engine) { e.geo = geoip.NewCache(db, size) }
}

// WithBreaker makes the engine demote rules with b, which the engines of a
// member share (see rules.Breaker). Without it an engine has a breaker of
// its own that tells nobody of its trips.
func WithBreaker(b *rules.Breaker) Option { return func(e *Engine) { e.eval.Breaker = b } }

// WithQuietRepeats sets the function told of every rule among the reasons
// of a decision left out as a quiet repeat. It runs on the engine's
// goroutine.
func WithQuietRepeats(f func(rule string)) Option { return func(e *Engine) { e.eval.OnQuiet = f } }

// WithRuleErrors sets the function told of every rule that failed on an
// event; the rule is skipped for that event and the others decide (see
// rules.Evaluator). It runs on the engine's goroutine.
func WithRuleErrors(f func(r *rules.Rule, ev *event.Event, err error)) Option {
	return func(e *Engine) { e.onRuleError = f }
}

// NewEngine returns an engine deciding with set, whose detector parameters
// size the state.
func NewEngine(set *rules.Set, opts ...Option) *Engine {
	e := &Engine{
		set:   set,
		users: detectors.NewUsers(set.Detectors),
		ips:   detectors.NewIPs(set.Detectors),
		geo:   geoip.NewCache(nil, 1),

		maxFuture: time.Duration(set.Detectors.State.MaxFuture),
	}
	for _, o := range opts {
		o(e)
	}
	if e.eval.Breaker == nil {
		e.eval.Breaker = rules.NewBreaker(nil)
	}
	e.eval.OnError = e.ruleFailed
	return e
}

func (e *Engine) ruleFailed(r *rules.Rule, ev *event.Event, err error) {
	if e.ruleErrors == nil {
		e.ruleErrors = map[string]uint64{}
	}
	e.ruleErrors[r.ID]++
	if e.onRuleError != nil {
		e.onRuleError(r, ev, err)
	}
}

// RuleErrors returns how many events each rule failed on (skipped for),
// by rule id; nil when none did. The map is the engine's: read it on the
// engine's goroutine.
func (e *Engine) RuleErrors() map[string]uint64 { return e.ruleErrors }

// Decide enriches ev, runs the user stage and, for login attempts with an
// address, the address stage, and appends the decisions to out. now is the
// wall clock: it stamps decided_at and bounds how far ahead an event may be
// dated (see Admit); nothing else reads it. The error, when not nil, is an
// *event.Error rejecting the event, which then changed nothing. The features of the event stay readable
// through Features until the next call. Replay calls it; the streaming
// workers call its two halves, DecideUser and DecideIP, on either side of
// the repartition topic.
func (e *Engine) Decide(ev *event.Event, now time.Time, out []rules.Decision) ([]rules.Decision, error) {
	out, toIP, err := e.DecideUser(ev, now, out)
	if err != nil || !toIP {
		return out, err
	}
	return e.DecideIP(ev, &e.feats, now, out), nil
}

// DecideUser admits ev (see Admit), enriches it, runs the user stage and its
// rules, and appends the decisions to out. toIP reports that the event goes
// on to the address stage with the features now in Features.
func (e *Engine) DecideUser(ev *event.Event, now time.Time, out []rules.Decision) (_ []rules.Decision, toIP bool, err error) {
	if err := e.Admit(ev, now); err != nil {
		return out, false, err
	}
	ev.Geo = e.geo.Lookup(ev.IP)
	e.feats = detectors.Features{}
	e.users.Process(ev, &e.feats)
	if e.feats.Stream.Duplicate {
		// Already decided under the same decision ids; deciding again on
		// state that includes the event itself would differ.
		return out, false, nil
	}
	e.eval.Memory = e.users.Current()
	out = e.eval.Evaluate(e.set, rules.UserStage, ev, &e.feats, e.emitAll, now, out)
	e.eval.Memory = nil
	return out, detectors.Wants(ev), nil
}

// Admit refuses an event dated more than state.max_future ahead of now, the
// wall clock. Such a timestamp is forged or broken: it would make the
// user's real events look late, and a run of them could move the stream
// clock past every idle key's TTL. Event time is otherwise all the engine
// reads (events from the past are decided as they were); this bound is the
// one place the wall clock limits it, in replay as in run.
func (e *Engine) Admit(ev *event.Event, now time.Time) error {
	if ahead := ev.TS.Sub(now); ahead > e.maxFuture {
		// Sub saturates at about 292 years; whole days do not.
		days := (ev.TS.Unix() - now.Unix()) / 86400
		return &event.Error{Reason: ReasonFutureTS, Field: "ts",
			Problem: fmt.Sprintf("%s is %d days ahead of this host's clock (state.max_future %s)", ev.TS.Format(time.RFC3339), days, e.maxFuture)}
	}
	return nil
}

// DecideIP runs the address stage on ev, whose user-stage features are
// userFeats, and appends the address rules' decisions to out. ev.Geo is
// looked up again when empty, from this engine's cache.
func (e *Engine) DecideIP(ev *event.Event, userFeats *detectors.Features, now time.Time, out []rules.Decision) []rules.Decision {
	if ev.Geo == (event.Geo{}) {
		ev.Geo = e.geo.Lookup(ev.IP)
	}
	if userFeats != &e.feats {
		e.feats = *userFeats
	}
	e.ips.Process(ev, &e.feats)
	e.eval.Memory = e.ips.Memory()
	out = e.eval.Evaluate(e.set, rules.IPStage, ev, &e.feats, false, now, out)
	e.eval.Memory = nil
	return out
}

// Suppressed returns how many decisions each rule's quiet repeats left
// out, by rule id; nil when none were. The map is the engine's: read it on
// the engine's goroutine.
func (e *Engine) Suppressed() map[string]uint64 { return e.eval.Suppressed }

// Breaker returns the breaker the engine's rules answer to.
func (e *Engine) Breaker() *rules.Breaker { return e.eval.Breaker }

// Features returns the features of the last event decided.
func (e *Engine) Features() *detectors.Features { return &e.feats }

// Rules returns the rule set in use.
func (e *Engine) Rules() *rules.Set { return e.set }

// SetRules makes set the rules of the next events, keeping the detector
// state: a hot reload. The detectors go on with the settings they were
// made with, so set's detector settings must equal them (see
// SameDetectors); the caller checks.
func (e *Engine) SetRules(set *rules.Set) { e.set = set }

// SameDetectors reports whether a and b have the same detector settings,
// which a hot reload cannot change: they size and shape the state.
func SameDetectors(a, b *rules.Set) bool { return reflect.DeepEqual(a.Detectors, b.Detectors) }

// StateStats reports the keys held and dropped by each stage.
type StateStats struct {
	Users, IPs, Networks           int
	UserEvictions, IPEvictions     uint64
	UserExpirations, IPExpirations uint64
}

// Stats returns the engine's state sizes and evictions.
func (e *Engine) Stats() StateStats {
	u, p := e.users.Store(), e.ips.Store()
	return StateStats{
		Users: u.Len(), IPs: p.Len(), Networks: e.ips.Networks().Len(),
		UserEvictions: u.Evictions, IPEvictions: p.Evictions,
		UserExpirations: u.Expirations, IPExpirations: p.Expirations,
	}
}
