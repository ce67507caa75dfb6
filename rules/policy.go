package rules

import (
	"fmt"
	"time"

	"github.com/riskd/riskd/detectors"
)

// Policy is how decisions are made from the rules that fire, beyond the
// rules themselves: when a repeat is left out, how long offences are
// remembered, how long an escalated expiry may grow, and the ceilings of
// the lockout breaker. It is the `decisions` section of a rule file; a
// reload may change it, unlike the detectors section.
type Policy struct {
	// RepeatExtension is, by the action of a repeat, the share of an
	// in-force decision's lifetime by which the repeat (same subject, same
	// or weaker action) may move the expiry later and still be left out.
	RepeatExtension RepeatExtension `yaml:"repeat_extension"`
	// OffenceWindow is how long a subject's offences count towards the
	// next one's escalation (the offences of expires_expr).
	OffenceWindow detectors.Duration `yaml:"offence_window"`
	// MaxExpires caps an expiry computed by expires_expr.
	MaxExpires detectors.Duration `yaml:"max_expires"`
	// Breaker holds the ceilings of every rule that sets none of its own.
	Breaker BreakerLimits `yaml:"breaker"`
}

// RepeatExtension is Policy.RepeatExtension for each action. At 1, the
// default for lockouts, a lockout is emitted again only once the one in
// force has expired, unless its expiry escalates: at most one lockout per
// subject per lifetime. Step-ups default to 0.5: a new signal that keeps
// a user stepped up for half an hour more is worth a decision.
type RepeatExtension struct {
	StepUp  float64 `yaml:"step_up"`
	Lockout float64 `yaml:"lockout"`
}

// of returns the share for a repeat of action a.
func (x RepeatExtension) of(a Action) float64 {
	if a == Lockout {
		return x.Lockout
	}
	return x.StepUp
}

// BreakerLimits are the ceilings past which an enforced rule's lockouts
// trip the breaker, demoting the rule to shadow. A ceiling of 0 is off.
type BreakerLimits struct {
	// MaxPerMinute is the most lockouts the rule may emit in one minute of
	// event time on one member.
	MaxPerMinute int `yaml:"max_per_minute"`
	// MaxShare is the most lockouts the rule may emit per event of its
	// stage over Window, once MinEvents were seen in it.
	MaxShare  float64            `yaml:"max_share"`
	MinEvents int                `yaml:"min_events"`
	Window    detectors.Duration `yaml:"window"`
	// DemoteTo is what a demoted rule does: DemoteShadow (the default)
	// records its decisions and enforces none; DemoteStepUp enforces a
	// step-up where it asked for a lockout, for a rule whose attacks an
	// attacker could otherwise switch off by tripping it (a brute force
	// on many accounts at once).
	DemoteTo string `yaml:"demote_to"`
}

// The values of BreakerLimits.DemoteTo.
const (
	DemoteShadow = "shadow"
	DemoteStepUp = "step_up"
)

// maxBreakerWindow is the longest breaker window: the breaker counts in
// minutes, in a ring of this many.
const maxBreakerWindow = 60 * time.Minute

// DefaultPolicy returns the policy of a pack with no decisions section.
func DefaultPolicy() Policy {
	return Policy{
		RepeatExtension: RepeatExtension{StepUp: 0.5, Lockout: 1},
		OffenceWindow:   detectors.Duration(24 * time.Hour),
		MaxExpires:      detectors.Duration(7 * 24 * time.Hour),
		Breaker: BreakerLimits{
			MaxPerMinute: 100, MaxShare: 0.05, MinEvents: 1000,
			Window: detectors.Duration(10 * time.Minute), DemoteTo: DemoteShadow,
		},
	}
}

// Validate reports the first value out of range.
func (p *Policy) Validate() error {
	switch {
	case p.RepeatExtension.StepUp < 0 || p.RepeatExtension.StepUp > 100:
		return fmt.Errorf("decisions.repeat_extension.step_up %v is outside 0..100 (a share of the lifetime of the decision in force)", p.RepeatExtension.StepUp)
	case p.RepeatExtension.Lockout < 0 || p.RepeatExtension.Lockout > 100:
		return fmt.Errorf("decisions.repeat_extension.lockout %v is outside 0..100 (a share of the lifetime of the decision in force)", p.RepeatExtension.Lockout)
	case p.OffenceWindow <= 0:
		return fmt.Errorf("decisions.offence_window must be positive, like 24h")
	case p.MaxExpires <= 0:
		return fmt.Errorf("decisions.max_expires must be positive, like 7d")
	}
	return p.Breaker.validate("decisions.breaker")
}

func (b *BreakerLimits) validate(at string) error {
	switch {
	case b.MaxPerMinute < 0:
		return fmt.Errorf("%s.max_per_minute %d is negative (0 turns the ceiling off)", at, b.MaxPerMinute)
	case b.MaxShare < 0 || b.MaxShare > 1:
		return fmt.Errorf("%s.max_share %v is outside 0..1 (0 turns the ceiling off)", at, b.MaxShare)
	case b.MinEvents < 0:
		return fmt.Errorf("%s.min_events %d is negative", at, b.MinEvents)
	case b.Window < detectors.Duration(time.Minute) || time.Duration(b.Window) > maxBreakerWindow:
		return fmt.Errorf("%s.window %s is outside 1m..1h", at, b.Window)
	case b.DemoteTo != DemoteShadow && b.DemoteTo != DemoteStepUp:
		return fmt.Errorf("%s.demote_to %q is not shadow or step_up", at, b.DemoteTo)
	}
	return nil
}

// breakerSpec is a rule's breaker section: the keys it sets override the
// pack's decisions.breaker, which may be in a file read after the rule's.
type breakerSpec struct {
	MaxPerMinute *int                `yaml:"max_per_minute"`
	MaxShare     *float64            `yaml:"max_share"`
	MinEvents    *int                `yaml:"min_events"`
	Window       *detectors.Duration `yaml:"window"`
	DemoteTo     *string             `yaml:"demote_to"`
}

// over returns def with the keys s sets.
func (s *breakerSpec) over(def BreakerLimits) BreakerLimits {
	if s == nil {
		return def
	}
	if s.MaxPerMinute != nil {
		def.MaxPerMinute = *s.MaxPerMinute
	}
	if s.MaxShare != nil {
		def.MaxShare = *s.MaxShare
	}
	if s.MinEvents != nil {
		def.MinEvents = *s.MinEvents
	}
	if s.Window != nil {
		def.Window = *s.Window
	}
	if s.DemoteTo != nil {
		def.DemoteTo = *s.DemoteTo
	}
	return def
}

// policySpec decodes a decisions section into p, as detectorsSpec does
// for the detectors: keys left out keep their defaults.
type policySpec struct {
	p       *Policy
	decoded bool
	err     error
}

// UnmarshalYAML decodes the section into s.p and keeps its error in s.err.
func (s *policySpec) UnmarshalYAML(unmarshal func(any) error) error {
	s.decoded, s.err = true, unmarshal(s.p)
	return nil
}
