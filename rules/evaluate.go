package rules

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// Evaluator runs a Set's rules on events. One per worker; not safe for
// concurrent use.
//
// OnError, when set, hears of every rule that failed on an event (a run-time
// error of its expression, such as a conversion of a string that is not a
// number). Such a rule is skipped for that event and every other rule still
// decides: a rule that cannot be evaluated must not take the other rules'
// lockouts with it (fail safe, not fail open). An expires_expr that fails
// falls back to the rule's expires and is reported the same way.
//
// Memory, when set before an Evaluate, is the state of the key whose event
// it is: the decisions in force it remembers make a repeat that asks for
// nothing more quiet (left out, and counted in Suppressed by the ids of
// its rules) and give expires_expr the subject's offences. Breaker, when
// set, demotes rules past their lockout ceilings to shadow.
type Evaluator struct {
	OnError    func(r *Rule, ev *event.Event, err error)
	OnQuiet    func(rule string) // told of each rule of a quiet repeat, when set
	Memory     Memory
	Breaker    *Breaker
	Suppressed map[string]uint64 // bounded by the rule ids of the sets used

	vm    vm.VM
	fired []fired
	env   Env
	ipKey netip.Addr
	ipStr string
	// seen is the events of the minute seenAt not yet counted by Breaker.
	seenAt int64
	seen   [2]int64
}

// Memory is the part of a key's state that remembers the decisions in
// force; detectors.UserState and detectors.IPState are Memories.
type Memory interface {
	// Remembered returns the list, nil when there is none, unless alloc.
	Remembered(alloc bool) *detectors.Decided
}

// networkMemory is a Memory that keeps the decisions about the network
// apart (the address stage's: the network's own state), so that a repeat
// from another address of the network is quiet too.
type networkMemory interface {
	NetworkRemembered(alloc bool) *detectors.Decided
}

// remembered returns the Memory's list for decisions about kind.
func (e *Evaluator) remembered(kind string, alloc bool) *detectors.Decided {
	if n, ok := e.Memory.(networkMemory); ok && kind == SubjectNetwork {
		return n.NetworkRemembered(alloc)
	}
	return e.Memory.Remembered(alloc)
}

// fired is a rule that fired, in the mode and with the action it decides
// with: a rule the breaker demoted decides in shadow, or asks for a step-up
// rather than a lockout (breaker.demote_to), and demoted says why.
type fired struct {
	r       *Rule
	mode    Mode
	action  Action
	demoted *Demotion
}

// Evaluate appends to out the decisions of set's rules of stage for ev with
// features f: one per subject that a rule fired for, with the strongest
// enforced action, the combined score and every fired rule as a reason,
// except quiet repeats (see Evaluator). With emitAll, the user stage emits
// a decision for every event: its quiet repeats too, and an allow
// decision for the user when no rule fired for them. now
// stamps decided_at only. A rule whose expression fails is skipped and
// reported to OnError.
func (e *Evaluator) Evaluate(set *Set, stage Stage, ev *event.Event, f *detectors.Features, emitAll bool, now time.Time, out []Decision) []Decision {
	if ev.IP != e.ipKey {
		e.ipKey, e.ipStr = ev.IP, ""
		if ev.IP.IsValid() {
			e.ipStr = ev.IP.String()
		}
	}
	e.count(stage, ev.TS)
	e.env = newEnv(ev, f, e.ipStr)
	e.fired = e.fired[:0]
	for _, r := range set.Rules {
		if r.Stage != stage {
			continue
		}
		res, err := e.vm.Run(r.program, &e.env)
		if err != nil {
			e.failed(r, ev, fmt.Errorf("rule %s (%s:%d): %w", r.ID, r.File, r.Line, err))
			continue
		}
		if res != true {
			continue
		}
		if _, ok := subjectID(r.Subject, ev); ok {
			e.fired = append(e.fired, e.fire(r))
		}
	}
	userDecided := false
	for _, kind := range []string{SubjectUser, SubjectToken, SubjectDevice, SubjectIP, SubjectNetwork} {
		var group []fired
		for _, fr := range e.fired {
			if fr.r.Subject == kind {
				group = append(group, fr)
			}
		}
		if len(group) == 0 {
			continue
		}
		userDecided = userDecided || kind == SubjectUser
		id, _ := subjectID(kind, ev)
		d := e.combine(set, stage, ev, f, Subject{kind, id}, group, now)
		covered := e.covered(set, &d, !emitAll)
		if covered && !emitAll {
			continue // a quiet repeat
		}
		out = append(out, d)
		if !covered {
			e.remember(set, &d, group)
			e.countLockouts(&d, group)
		}
	}
	if emitAll && stage == UserStage && !userDecided {
		out = append(out, e.combine(set, stage, ev, f, Subject{SubjectUser, ev.UserID}, nil, now))
	}
	return out
}

func (e *Evaluator) failed(r *Rule, ev *event.Event, err error) {
	if e.OnError != nil {
		e.OnError(r, ev, err)
	}
}

func (e *Evaluator) combine(set *Set, stage Stage, ev *event.Event, f *detectors.Features, subj Subject, group []fired, now time.Time) Decision {
	d := Decision{
		EventID: ev.ID, UserID: ev.UserID, Subject: subj, TS: ev.TS, DecidedAt: now, ExpiresAt: ev.TS,
		Mode: Enforce, RulesVersion: set.Version,
	}
	// The enforced rules decide. Shadow rules (rules on trial, and rules
	// the breaker demoted) decide only when no enforced rule fired, and
	// then the decision is shadow so that nobody acts on it: a rule nobody
	// enforces must never take the place of what the enforced rules ask
	// for. Their reasons are listed either way, in shadow mode.
	var enf, shd []fired
	for _, fr := range group {
		if fr.mode == Shadow {
			shd = append(shd, fr)
		} else {
			enf = append(enf, fr)
		}
	}
	deciding := enf
	if len(enf) == 0 && len(shd) > 0 {
		deciding, d.Mode = shd, Shadow
	}
	d.Action = strongest(deciding)
	keep := 1.0
	for _, fr := range deciding {
		keep *= 1 - fr.r.Score/100
		if fr.action == d.Action && d.Action != Allow {
			life, err := fr.r.lifetime(&e.vm, e.offences(set, &d, fr.r), time.Duration(set.Policy.MaxExpires))
			if err != nil {
				e.failed(fr.r, ev, err)
			}
			if exp := ev.TS.Add(life); exp.After(d.ExpiresAt) {
				d.ExpiresAt = exp
			}
		}
	}
	d.Score = math.Round((1-keep)*1000) / 10
	for _, fr := range append(enf, shd...) {
		r := fr.r
		evidence, summary, _ := f.Evidence(r.Detector, stage == IPStage)
		if subj.Kind == SubjectNetwork && r.Detector == detectors.FailedLoginBurst {
			evidence, summary = f.Network, f.Network.Summary
		}
		if summary == "" {
			summary = r.Description
		}
		d.Reasons = append(d.Reasons, Reason{Rule: r.ID, Detector: r.Detector, Summary: summary, Mode: fr.mode,
			Action: fr.action, Score: r.Score, Evidence: evidence})
		if fr.demoted != nil {
			d.Breaker = append(d.Breaker, fr.demoted.Entry())
		}
	}
	d.DecisionID = DecisionID(&d, stage)
	return d
}

func strongest(rs []fired) Action {
	a := Allow
	for _, fr := range rs {
		a = max(a, fr.action)
	}
	return a
}
