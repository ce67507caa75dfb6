// Package report aggregates a stream of risk decisions (contract §2) in
// bounded memory and renders what an analyst wants to see of them as one
// self-contained HTML page with inline SVG charts: decisions over time by
// action, shadow against enforced, the top rules, subjects and detectors.
// It reads no files and opens no connections: the caller feeds it
// decisions, from a JSON Lines file or from ClickHouse.
package report

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riskd/riskd/rules"
)

// Limits bound the memory a report takes, whatever the input's size.
type Limits struct {
	// Subjects, Rules and Detectors are the most keys of each kind tracked
	// at once (see TopK); beyond them the top lists are approximate and
	// the page says so.
	Subjects, Rules, Detectors int
	// Buckets is the most time buckets kept while reading: when the
	// decisions span more, the buckets are widened.
	Buckets int
}

// DefaultLimits keep a report of any input within a few megabytes.
var DefaultLimits = Limits{Subjects: 20_000, Rules: 2_000, Detectors: 200, Buckets: 2_000}

// Aggregate is what a report shows, counted decision by decision.
type Aggregate struct {
	Decisions   int64
	Counts      Counts    // every decision by action and mode
	First, Last time.Time // earliest and latest ts seen
	Subjects    *TopK     // step_up and lockout decisions per subject
	Rules       *TopK     // decisions per fired rule, by the rule's mode
	Detectors   *TopK     // decisions naming each detector
	series      series
}

// New returns an empty Aggregate bounded by lim.
func New(lim Limits) *Aggregate {
	return &Aggregate{
		Subjects:  NewTopK(lim.Subjects),
		Rules:     NewTopK(lim.Rules),
		Detectors: NewTopK(lim.Detectors),
		series:    newSeries(lim.Buckets),
	}
}

// Add counts d. A decision with an action or mode outside contract §2 is
// an error and is not counted.
func (a *Aggregate) Add(d *rules.Decision) error {
	action := int(d.Action)
	if action > int(rules.Lockout) {
		return fmt.Errorf("decision %q: action %d is none of allow, step_up, lockout", d.DecisionID, action)
	}
	shadow, err := isShadow(d.Mode)
	if err != nil {
		return fmt.Errorf("decision %q: %w", d.DecisionID, err)
	}
	if d.TS.IsZero() {
		return fmt.Errorf("decision %q: no ts", d.DecisionID)
	}
	ruleShadow := make([]bool, len(d.Reasons))
	for i, r := range d.Reasons {
		ruleShadow[i] = shadow
		if r.Mode != "" {
			if ruleShadow[i], err = isShadow(r.Mode); err != nil {
				return fmt.Errorf("decision %q, rule %q: %w", d.DecisionID, r.Rule, err)
			}
		}
	}
	ts := d.TS.UTC()
	if a.Decisions == 0 || ts.Before(a.First) {
		a.First = ts
	}
	if a.Decisions == 0 || ts.After(a.Last) {
		a.Last = ts
	}
	a.Decisions++
	a.Counts.add(action, shadow)
	a.series.add(ts.Unix(), action, shadow)
	if d.Action != rules.Allow {
		a.Subjects.Add(clip(d.Subject.Kind+":"+d.Subject.ID), action, shadow)
	}
	for i, r := range d.Reasons {
		a.Rules.Add(clip(r.Rule), action, ruleShadow[i])
		if !namedBefore(d.Reasons[:i], r.Detector) {
			a.Detectors.Add(clip(r.Detector), action, shadow)
		}
	}
	return nil
}

// namedBefore reports whether an earlier reason of the same decision names
// detector, so that a decision counts once per detector.
func namedBefore(rs []rules.Reason, detector string) bool {
	for _, r := range rs {
		if r.Detector == detector {
			return true
		}
	}
	return false
}

// MaxKey is the most bytes of an id a top list keeps: device ids and
// usernames come from outside, and thousands of megabyte-long ones kept
// whole would defeat the bound on memory. Longer ids are cut (and end in
// "…"), so ids that share their first MaxKey bytes count as one.
const MaxKey = 256

func clip(s string) string {
	if len(s) <= MaxKey {
		return s
	}
	cut := MaxKey - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + "…"
}

func isShadow(m rules.Mode) (bool, error) {
	switch m {
	case rules.Enforce:
		return false, nil
	case rules.Shadow:
		return true, nil
	}
	return false, fmt.Errorf("mode %q is neither enforce nor shadow", string(m))
}

func (c *Counts) add(action int, shadow bool) {
	c.Action[action]++
	if shadow {
		c.Shadow++
	} else {
		c.Enforce++
	}
}

// monday shifts buckets of a week and longer to start on a Monday
// (1970-01-05, UTC); every step divides it, so buckets nest.
const monday = 4 * 86400

// steps are the bucket widths in seconds, each a multiple of the one
// before, so that widening merges whole buckets; past the last, widths
// double.
var steps = []int64{60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 28 * 86400, 364 * 86400}

// series counts decisions per time bucket (UTC), widening its buckets when
// they would exceed max.
type series struct {
	max    int
	width  int64
	counts map[int64]*Counts // by bucket start, Unix seconds
	lo, hi int64             // first and last bucket start
}

func newSeries(limit int) series {
	return series{max: max(limit, 2), width: steps[0], counts: map[int64]*Counts{}}
}

func floorTo(t, width int64) int64 {
	s := t - monday
	q := s / width
	if s%width < 0 {
		q--
	}
	return q*width + monday
}

func nextStep(w int64) int64 {
	for _, s := range steps {
		if s > w {
			return s
		}
	}
	return w * 2
}

func (s *series) add(unix int64, action int, shadow bool) {
	b := floorTo(unix, s.width)
	if len(s.counts) == 0 {
		s.lo, s.hi = b, b
	}
	s.lo, s.hi = min(s.lo, b), max(s.hi, b)
	for (s.hi-s.lo)/s.width+1 > int64(s.max) {
		s.widen(nextStep(s.width))
		b = floorTo(unix, s.width)
	}
	c := s.counts[b]
	if c == nil {
		c = &Counts{}
		s.counts[b] = c
	}
	c.add(action, shadow)
}

// widen merges the buckets into buckets width wide.
func (s *series) widen(width int64) {
	merged := make(map[int64]*Counts, len(s.counts))
	for start, c := range s.counts {
		b := floorTo(start, width)
		m := merged[b]
		if m == nil {
			m = &Counts{}
			merged[b] = m
		}
		m.merge(c)
	}
	s.width, s.counts = width, merged
	s.lo, s.hi = floorTo(s.lo, width), floorTo(s.hi, width)
}

func (c *Counts) merge(o *Counts) {
	for i := range c.Action {
		c.Action[i] += o.Action[i]
	}
	c.Enforce += o.Enforce
	c.Shadow += o.Shadow
}

// Bucket is one time bucket of the series.
type Bucket struct {
	Start  time.Time
	Counts Counts
}

// Buckets returns the decisions per time bucket, every bucket from the
// first to the last (empty ones too), in the smallest width that needs at
// most n of them, and that width.
func (a *Aggregate) Buckets(n int) ([]Bucket, time.Duration) {
	s := a.series
	if len(s.counts) == 0 {
		return nil, time.Duration(s.width) * time.Second
	}
	width := s.width
	for (floorTo(s.hi, width)-floorTo(s.lo, width))/width+1 > int64(max(n, 1)) {
		width = nextStep(width)
	}
	lo, hi := floorTo(s.lo, width), floorTo(s.hi, width)
	out := make([]Bucket, (hi-lo)/width+1)
	for i := range out {
		out[i].Start = time.Unix(lo+int64(i)*width, 0).UTC()
	}
	for start, c := range s.counts {
		out[(floorTo(start, width)-lo)/width].Counts.merge(c)
	}
	return out, time.Duration(width) * time.Second
}
