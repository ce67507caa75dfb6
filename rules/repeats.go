package rules

import (
	"time"

	"github.com/riskd/riskd/detectors"
)

// offenceAction marks the entries of a key's memory that count a rule's
// offences for its expires_expr, keyed by subject and rule: allow is never
// in force, so these entries cover nothing.
const offenceAction = uint8(Allow)

// ruleSubject is the memory key of r's offences against a subject.
func ruleSubject(subject uint64, r *Rule) uint64 {
	return detectors.SubjectHash(r.ID, "") ^ subject
}

// offences returns the subject's earlier offences against r, which r's
// expires_expr reads: the decisions r made about it, each within the
// offence window of the end of the one before. They are kept per rule
// (and only for rules with an expires_expr), so that a user an attacker
// had locked out by brute force does not get a longer lockout from
// another rule. 0 without a Memory.
func (e *Evaluator) offences(set *Set, d *Decision, r *Rule) uint32 {
	if e.Memory == nil || r.expires == nil {
		return 0
	}
	mem := e.remembered(d.Subject.Kind, false)
	if mem == nil {
		return 0
	}
	h := ruleSubject(detectors.SubjectHash(d.Subject.Kind, d.Subject.ID), r)
	return mem.Offences(h, offenceAction, d.TS.UnixMilli(), time.Duration(set.Policy.OffenceWindow).Milliseconds())
}

// covered reports whether d, enforced, asks for nothing more than a
// decision the Memory holds in force: the same subject, the same or a
// stronger action, and an expiry d moves later by no more than the
// policy's repeat_extension (for d's action) of that decision's lifetime
// when the action is the same, and not at all when it is stronger (a
// weaker decision that outlasts a lockout is news). When leave, a covered
// d is counted in Suppressed: it is left out.
func (e *Evaluator) covered(set *Set, d *Decision, leave bool) bool {
	if e.Memory == nil || d.Mode != Enforce || d.Action == Allow {
		return false
	}
	mem := e.remembered(d.Subject.Kind, false)
	if mem == nil {
		return false
	}
	h := detectors.SubjectHash(d.Subject.Kind, d.Subject.ID)
	ts, exp := d.TS.UnixMilli(), d.ExpiresAt.UnixMilli()
	c := mem.Covering(h, uint8(d.Action), ts)
	if c == nil {
		return false
	}
	grace := 0.0
	if c.Action == uint8(d.Action) {
		grace = set.Policy.RepeatExtension.of(d.Action) * float64(c.Expires-c.Issued)
	}
	if float64(exp-c.Expires) > grace {
		return false
	}
	if leave {
		if e.Suppressed == nil {
			e.Suppressed = map[string]uint64{}
		}
		for _, r := range d.Reasons {
			e.Suppressed[r.Rule]++
			if e.OnQuiet != nil {
				e.OnQuiet(r.Rule)
			}
		}
	}
	return true
}

// remember records d, an enforced decision emitted that no decision in
// force covered, and the offences of its deciding rules that escalate.
func (e *Evaluator) remember(set *Set, d *Decision, group []fired) {
	if e.Memory == nil || d.Mode != Enforce || d.Action == Allow {
		return
	}
	mem := e.remembered(d.Subject.Kind, true)
	h := detectors.SubjectHash(d.Subject.Kind, d.Subject.ID)
	ts, exp, window := d.TS.UnixMilli(), d.ExpiresAt.UnixMilli(), time.Duration(set.Policy.OffenceWindow).Milliseconds()
	mem.Record(h, uint8(d.Action), ts, exp, window)
	for _, fr := range group {
		if fr.mode == Enforce && fr.action == d.Action && fr.r.expires != nil {
			mem.Record(ruleSubject(h, fr.r), offenceAction, ts, exp, window)
		}
	}
}
