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
	mu      sync.Mutex
	events  [ring]stageMinute
	rules   map[string]*[ring]ruleMinute // bounded by the rule ids of the sets in use
	demoted atomic.Pointer[map[string]Demotion]
	onTrip  func(Demotion)
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

// NewBreaker returns a breaker that tells onTrip (when not nil) of every
// rule it demotes, on the goroutine of the worker that tripped it.
func NewBreaker(onTrip func(Demotion)) *Breaker {
	b := &Breaker{rules: map[string]*[ring]ruleMinute{}, onTrip: onTrip}
	b.demoted.Store(&map[string]Demotion{})
	return b
}

// Demoted returns why rule id is demoted, if it is.
func (b *Breaker) Demoted(id string) (Demotion, bool) {
	if b == nil {
		return Demotion{}, false
	}
	d, ok := (*b.demoted.Load())[id]
	return d, ok
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

// Carry keeps the demotions of set's rules whose definitions a reload left
// as they were and lifts the others, as a reload carries state over: a
// rule changed by an analyst starts afresh. The counts of rules set no
// longer has are dropped.
func (b *Breaker) Carry(set *Set) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id := range b.rules {
		if set.RuleByID(id) == nil {
			delete(b.rules, id)
		}
	}
	next := map[string]Demotion{}
	for id, d := range *b.demoted.Load() {
		if r := set.RuleByID(id); r != nil && r.Fingerprint == d.Fingerprint {
			next[id] = d
		} else {
			delete(b.rules, id)
		}
	}
	b.demoted.Store(&next)
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
	minute := ts.Unix() / 60
	counts := b.rules[r.ID]
	if counts == nil {
		counts = &[ring]ruleMinute{}
		b.rules[r.ID] = counts
	}
	c := &counts[slot(minute)]
	switch {
	case c.minute > minute:
		return
	case c.minute < minute:
		*c = ruleMinute{minute: minute}
	}
	c.n++
	why := b.passed(r, counts, minute)
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
