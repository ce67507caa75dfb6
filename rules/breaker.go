package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker demotes an enforced rule to shadow when its lockouts pass a
// ceiling of its BreakerLimits: so many in one minute, or so large a share
// of the events of its stage. A rule that suddenly locks out most users is
// a broken rule, and in a risk engine a lockout is also a denial of
// service: the breaker keeps one bad edit from locking out thousands of
// innocent users while the other rules go on deciding. A demoted rule
// stays demoted until Reset, or until a reload changes its definition
// (Carry).
//
// Counts are kept per minute of event time, so replay trips where run
// would on the same stream. One Breaker serves every worker of a member
// and is safe for concurrent use: Demoted, asked for every rule that
// fires, reads without a lock; the counts take a mutex once per batch of
// events and once per lockout. The ceilings are per member: a fleet of n
// members lets n times MaxPerMinute through before every member has
// tripped, while MaxShare holds whatever the split.
type Breaker struct {
	mu     sync.Mutex
	events [ring]stageMinute
	rules  map[string]*ruleCounts // by rule id: bounded by the set in force (Carry)
	// current maps the rule ids of the set in force to their
	// fingerprints, once Carry has told it: a batch still deciding with the
	// rules before a reload must not count or trip a rule since changed.
	current map[string]string
	demoted atomic.Pointer[map[string]Demotion]
	onTrip  func(Demotion)
}

// ruleCounts are a rule's lockouts per minute, for the definition of it
// whose fingerprint is fp.
type ruleCounts struct {
	fp      string
	minutes [ring]ruleMinute
}

// ring is how many minutes the breaker keeps: the longest window.
const ring = int(maxBreakerWindow / time.Minute)

type stageMinute struct {
	minute int64
	n      [2]int64 // by Stage
}

type ruleMinute struct{ minute, n int64 }

// Demotion is a rule the breaker demoted, and why.
type Demotion struct {
	Rule        string
	Fingerprint string    // of the rule's definition when demoted
	Why         string    // the ceiling passed, with the counts
	At          time.Time // event time of the lockout that tripped it
}

// Entry is the demotion as a decision's breaker field lists it.
func (d Demotion) Entry() Demoted { return Demoted{Rule: d.Rule, Why: d.Why, Since: d.At} }

// NewBreaker returns a breaker that tells onTrip (when not nil) of every
// rule it demotes, on the goroutine of the worker that tripped it.
func NewBreaker(onTrip func(Demotion)) *Breaker {
	b := &Breaker{rules: map[string]*ruleCounts{}, onTrip: onTrip}
	b.demoted.Store(&map[string]Demotion{})
	return b
}

// Demoted returns why r is demoted, if it is: a demotion of another
// definition of the rule (before a reload) does not hold r.
func (b *Breaker) Demoted(r *Rule) (Demotion, bool) {
	if b == nil {
		return Demotion{}, false
	}
	d, ok := (*b.demoted.Load())[r.ID]
	return d, ok && d.Fingerprint == r.Fingerprint
}

// fire returns r as it decides now: in its own mode and action, or, when
// the breaker demoted it, in shadow (or asking for a step-up instead of a
// lockout, as its breaker.demote_to says).
func (e *Evaluator) fire(r *Rule) fired {
	fr := fired{r: r, mode: r.Mode, action: r.Action}
	if d, ok := e.Breaker.Demoted(r); ok && r.Mode == Enforce {
		fr.demoted = &d
		if r.Breaker.DemoteTo == DemoteStepUp {
			fr.action = min(r.Action, StepUp)
		} else {
			fr.mode = Shadow
		}
	}
	return fr
}

// Demotions returns the rules demoted now, by rule id.
func (b *Breaker) Demotions() []Demotion {
	m := *b.demoted.Load()
	return slices.SortedFunc(maps.Values(m), func(x, y Demotion) int { return strings.Compare(x.Rule, y.Rule) })
}

// Reset lifts rule id's demotion and forgets its counts; it reports
// whether the rule was demoted.
func (b *Breaker) Reset(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.rules, id)
	return b.setDemoted(func(m map[string]Demotion) { delete(m, id) }, id)
}

// Carry makes set the rules in force: it keeps the demotions and counts
// of set's rules whose definitions a reload left as they were and lifts or
// drops the others, as a reload carries state over: a rule changed by an
// analyst starts afresh, and a rule removed is no longer demoted. It
// returns the demotions it lifted.
func (b *Breaker) Carry(set *Set) (lifted []Demotion) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.current = make(map[string]string, len(set.Rules))
	for _, r := range set.Rules {
		b.current[r.ID] = r.Fingerprint
	}
	for id, c := range b.rules {
		if b.current[id] != c.fp {
			delete(b.rules, id)
		}
	}
	next := map[string]Demotion{}
	for id, d := range *b.demoted.Load() {
		if b.current[id] == d.Fingerprint {
			next[id] = d
		} else {
			lifted = append(lifted, d)
		}
	}
	b.demoted.Store(&next)
	return lifted
}

// setDemoted applies change to a copy of the demotions and stores it,
// reporting whether id was demoted before. b.mu is held.
func (b *Breaker) setDemoted(change func(map[string]Demotion), id string) bool {
	old := *b.demoted.Load()
	_, was := old[id]
	next := maps.Clone(old)
	change(next)
	b.demoted.Store(&next)
	return was
}

// seen counts n events of stage in minute.
func (b *Breaker) seen(stage Stage, minute, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := &b.events[slot(minute)]
	switch {
	case m.minute > minute:
		return // a slot a later minute took: too old to count
	case m.minute < minute:
		*m = stageMinute{minute: minute}
	}
	m.n[stage] += n
}

func slot(minute int64) int { return int(uint64(minute) % uint64(ring)) }

// lockout counts a lockout that r (enforced) emitted at ts and demotes r
// when it passes a ceiling.
func (b *Breaker) lockout(r *Rule, ts time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := (*b.demoted.Load())[r.ID]; ok {
		return
	}
	if fp, ok := b.current[r.ID]; b.current != nil && (!ok || fp != r.Fingerprint) {
		return // a batch deciding with the rules before a reload
	}
	minute := ts.Unix() / 60
	counts := b.rules[r.ID]
	if counts == nil || counts.fp != r.Fingerprint {
		counts = &ruleCounts{fp: r.Fingerprint}
		b.rules[r.ID] = counts
	}
	c := &counts.minutes[slot(minute)]
	switch {
	case c.minute > minute:
		return
	case c.minute < minute:
		*c = ruleMinute{minute: minute}
	}
	c.n++
	why := b.passed(r, &counts.minutes, minute)
	if why == "" {
		return
	}
	d := Demotion{Rule: r.ID, Fingerprint: r.Fingerprint, Why: why, At: ts}
	b.setDemoted(func(m map[string]Demotion) { m[r.ID] = d }, r.ID)
	if b.onTrip != nil {
		b.onTrip(d)
	}
}

// passed returns the ceiling of r that its counts pass at minute, or "".
// b.mu is held.
func (b *Breaker) passed(r *Rule, counts *[ring]ruleMinute, minute int64) string {
	lim := r.Breaker
	if n := counts[slot(minute)].n; lim.MaxPerMinute > 0 && n > int64(lim.MaxPerMinute) {
		return fmt.Sprintf("%d lockouts in one minute, over the ceiling of %d per minute", n, lim.MaxPerMinute)
	}
	if lim.MaxShare <= 0 {
		return ""
	}
	from := minute - int64(time.Duration(lim.Window)/time.Minute)
	var locks, events int64
	for i := range ring {
		if c := counts[i]; c.minute > from && c.minute <= minute {
			locks += c.n
		}
		if e := b.events[i]; e.minute > from && e.minute <= minute {
			events += e.n[r.Stage]
		}
	}
	if events >= int64(lim.MinEvents) && events > 0 && float64(locks) > lim.MaxShare*float64(events) {
		return fmt.Sprintf("%d lockouts for %d events in %s, over the ceiling of %.4g%%", locks, events, lim.Window, lim.MaxShare*100)
	}
	return ""
}

// count counts an event of stage at ts for the breaker, handing the counts
// over once a minute of event time or 512 events.
func (e *Evaluator) count(stage Stage, ts time.Time) {
	if e.Breaker == nil {
		return
	}
	minute := ts.Unix() / 60
	if minute != e.seenAt || e.seen[stage] >= 512 {
		e.flush()
		e.seenAt = minute
	}
	e.seen[stage]++
}

// flush hands the events counted over to the breaker.
func (e *Evaluator) flush() {
	for s, n := range e.seen {
		if n > 0 {
			e.Breaker.seen(Stage(s), e.seenAt, n)
		}
	}
	e.seen = [2]int64{}
}

// countLockouts tells the breaker of the enforced rules that locked out
// in d, an enforced lockout emitted that no decision in force covered.
func (e *Evaluator) countLockouts(d *Decision, group []fired) {
	if e.Breaker == nil || d.Mode != Enforce || d.Action != Lockout {
		return
	}
	e.flush()
	for _, fr := range group {
		if fr.mode == Enforce && fr.action == Lockout {
			e.Breaker.lockout(fr.r, d.TS)
		}
	}
}
