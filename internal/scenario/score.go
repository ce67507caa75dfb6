package scenario

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/riskd/riskd/rules"
)

// ConstrainedDetectors may fire on at most a sliver of benign users (the
// others, new_device and device_integrity, only add friction).
var ConstrainedDetectors = []string{"impossible_travel", "token_replay", "velocity", "failed_login_burst"}

// Report is how decisions measure up against labels.
type Report struct {
	Caught, Total   map[string]int // attacks by class
	Missed          []string       // ids of attacks not caught
	BenignLockedOut []string       // benign users with an enforced lockout on themselves
	BenignFired     map[string]int // benign users with a decision naming each detector
	BenignUsers     int
	BenignSteppedUp []string          // benign users with an enforced step-up on themselves
	Lookalikes      []LookalikeResult // how each benign look-alike fared, in label order
}

// Score matches decisions to labels.
func Score(l Labels, ds []rules.Decision) Report {
	r := Report{Caught: map[string]int{}, Total: map[string]int{}, BenignFired: map[string]int{}, BenignUsers: len(l.Benign)}
	byEvent := map[string][]*rules.Decision{}
	for i := range ds {
		byEvent[ds[i].EventID] = append(byEvent[ds[i].EventID], &ds[i])
	}
	for _, a := range l.Attacks {
		r.Total[a.Class]++
		if catches(a, byEvent) {
			r.Caught[a.Class]++
		} else {
			r.Missed = append(r.Missed, a.ID)
		}
	}
	benign := map[string]bool{}
	for _, u := range l.Benign {
		benign[u] = true
	}
	locked, stepped := map[string]bool{}, map[string]bool{}
	fired := map[string]map[string]bool{}
	for _, d := range ds {
		if !benign[d.UserID] || d.Mode != rules.Enforce || d.Action == rules.Allow {
			continue
		}
		if d.Action == rules.Lockout && d.Subject.Kind == rules.SubjectUser {
			locked[d.UserID] = true
		}
		if d.Action == rules.StepUp && d.Subject.Kind == rules.SubjectUser {
			stepped[d.UserID] = true
		}
		for _, x := range d.Reasons {
			if fired[x.Detector] == nil {
				fired[x.Detector] = map[string]bool{}
			}
			// A sprayed user's login appears in the address's decision,
			// but that decision is about the address, not the user.
			if d.Subject.Kind == rules.SubjectUser {
				fired[x.Detector][d.UserID] = true
			}
		}
	}
	for u := range locked {
		r.BenignLockedOut = append(r.BenignLockedOut, u)
	}
	sort.Strings(r.BenignLockedOut)
	for u := range stepped {
		r.BenignSteppedUp = append(r.BenignSteppedUp, u)
	}
	sort.Strings(r.BenignSteppedUp)
	for det, us := range fired {
		r.BenignFired[det] = len(us)
	}
	r.Lookalikes = scoreLookalikes(l.Lookalikes, ds)
	return r
}

// catches reports whether an enforced decision on one of a's events names
// its detector (or one of Also) and asks for at least its action; for an
// attack on an address or a network the decision must be about one too.
func catches(a Attack, byEvent map[string][]*rules.Decision) bool {
	want, _ := rules.ParseAction(a.Action)
	names := func(x rules.Reason) bool { return x.Detector == a.Detector || slices.Contains(a.Also, x.Detector) }
	for _, id := range a.Events {
		for _, d := range byEvent[id] {
			if d.Mode == rules.Enforce && d.Action >= want && subjectFits(a.Subject, d.Subject) && slices.ContainsFunc(d.Reasons, names) {
				return true
			}
		}
	}
	return false
}

// subjectFits reports whether a decision about got can catch an attack
// whose label names the subject kind want: a spray's or a stuffing run's
// (ip or network) only by a decision about an address or a network, since
// locking a sprayed user out stops nothing; other attacks by any subject,
// as the shipped labels have always been scored.
func subjectFits(want string, got rules.Subject) bool {
	if want == rules.SubjectIP || want == SubjectNetwork {
		return got.Kind == rules.SubjectIP || got.Kind == SubjectNetwork
	}
	return true
}

// String is a short table of the report.
func (r Report) String() string {
	var b strings.Builder
	classes := make([]string, 0, len(r.Total))
	for c := range r.Total {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		fmt.Fprintf(&b, "  %-20s caught %3d of %3d\n", c, r.Caught[c], r.Total[c])
	}
	fmt.Fprintf(&b, "  benign users: %d, locked out: %d", r.BenignUsers, len(r.BenignLockedOut))
	for _, d := range ConstrainedDetectors {
		fmt.Fprintf(&b, ", %s on %d", d, r.BenignFired[d])
	}
	fmt.Fprintf(&b, "\n  benign users stepped up: %d\n", len(r.BenignSteppedUp))
	writeLookalikes(&b, r.Lookalikes)
	return b.String()
}
