// Package backtest re-decides the features stored in ClickHouse with
// candidate rules and reports what would have changed, rule by rule.
package backtest

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/storage"
)

// Config wires Run.
type Config struct {
	Conn     driver.Conn
	DB       string
	Rules    *rules.Set // the candidate rules
	From, To time.Time
	Progress func(events int) // called every 10,000 events, may be nil
}

// Report is what the candidate rules would have decided on the
// stored events, against what was decided.
type Report struct {
	From          time.Time    `json:"from"`
	To            time.Time    `json:"to"`
	RulesVersion  string       `json:"rules_version"`
	Events        int          `json:"events"`
	Decided       int          `json:"decisions_stored"`
	Would         int          `json:"decisions_candidate"`
	Added         int          `json:"added"`
	Removed       int          `json:"removed"`
	Changed       int          `json:"changed"`
	Rules         []RuleResult `json:"rules"`
	UsersAffected []string     `json:"users_affected"`
	Changes       []Change     `json:"changes"`
}

// RuleResult is one rule's part in a backtest.
type RuleResult struct {
	Rule     string `json:"rule"`
	Detector string `json:"detector"`
	Mode     string `json:"mode"`
	Hits     int    `json:"hits"`  // events it fired on under the candidate rules
	Users    int    `json:"users"` // distinct users of those events
	Added    int    `json:"added"` // decisions it is a reason of that were not made
	Removed  int    `json:"removed"`
	Changed  int    `json:"changed"`
}

// Change is one decision that would differ: Was or Now is empty when the
// decision would be added or removed.
type Change struct {
	EventID string   `json:"event_id"`
	UserID  string   `json:"user_id"`
	Subject string   `json:"subject"` // kind:id
	Was     string   `json:"was,omitempty"`
	Now     string   `json:"now,omitempty"`
	Rules   []string `json:"rules"`
}

// Run re-evaluates the candidate rules over the features stored for
// [From, To). Rules are pure functions of the event, its enrichment and
// the features, all of which are stored, so this is exact for rule
// changes; changes to detector parameters need a replay instead.
func Run(ctx context.Context, c Config) (*Report, error) {
	stored, err := storage.ReadDecisions(ctx, c.Conn, c.DB, c.From, c.To)
	if err != nil {
		return nil, fmt.Errorf("backtest: read decisions: %w", err)
	}
	t := &tally{was: map[key]storage.StoredDecision{}, now: map[key]rules.Decision{},
		results: map[string]*RuleResult{}, ruleUsers: map[string]map[string]bool{}, users: map[string]bool{}}
	for _, d := range stored {
		t.was[key{d.EventID, d.SubjectKind, d.SubjectID}] = d
	}
	t.r = &Report{From: c.From, To: c.To, RulesVersion: c.Rules.Version, Decided: len(t.was)}
	for _, rl := range c.Rules.Rules {
		t.results[rl.ID] = &RuleResult{Rule: rl.ID, Detector: rl.Detector, Mode: string(rl.Mode)}
		t.ruleUsers[rl.ID] = map[string]bool{}
	}
	if err := t.decide(ctx, c); err != nil {
		return nil, err
	}
	t.compare()
	return t.finish(), nil
}

// key names a decision: its event and subject.
type key struct{ event, kind, id string }

// tally is a backtest in progress: the stored decisions (was), the
// candidate rules' (now) and the counts per rule.
type tally struct {
	r         *Report
	was       map[key]storage.StoredDecision
	now       map[key]rules.Decision
	results   map[string]*RuleResult
	ruleUsers map[string]map[string]bool
	users     map[string]bool // affected by a change
}

// decide evaluates the candidate rules over every stored event of the
// period, each stage's row with its own features.
func (t *tally) decide(ctx context.Context, c Config) error {
	var eval rules.Evaluator
	var out []rules.Decision
	at := time.Now()
	n, err := storage.ReadEvents(ctx, c.Conn, c.DB, c.From, c.To, func(se *storage.StoredEvent) error {
		out = eval.Evaluate(c.Rules, rules.UserStage, &se.Event, &se.Features, false, at, out[:0])
		if se.Stage == 1 {
			out = eval.Evaluate(c.Rules, rules.IPStage, &se.Event, &se.Features, false, at, out)
		}
		for _, d := range out {
			t.now[key{d.EventID, string(d.Subject.Kind), d.Subject.ID}] = d
			for _, reason := range d.Reasons {
				if res := t.results[reason.Rule]; res != nil {
					res.Hits++
					t.ruleUsers[reason.Rule][d.UserID] = true
				}
			}
		}
		t.r.Events++
		if c.Progress != nil && t.r.Events%10000 == 0 {
			c.Progress(t.r.Events)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backtest: after %d events: %w", n, err)
	}
	return nil
}

// count applies f to the results of the rules ids that are in the set.
func (t *tally) count(ids []string, f func(*RuleResult)) {
	for _, id := range ids {
		if res := t.results[id]; res != nil {
			f(res)
		}
	}
}

// compare lists the decisions added, changed and removed.
func (t *tally) compare() {
	r := t.r
	r.Would = len(t.now)
	for k, d := range t.now {
		old, ok := t.was[k]
		ids := reasonRules(d)
		subject := k.kind + ":" + k.id
		switch {
		case !ok:
			r.Added++
			t.count(ids, func(x *RuleResult) { x.Added++ })
			r.Changes = append(r.Changes, Change{EventID: k.event, UserID: d.UserID, Subject: subject, Now: actionText(d.Action.String(), string(d.Mode)), Rules: ids})
		case old.Action != d.Action.String() || old.Mode != string(d.Mode):
			r.Changed++
			t.count(ids, func(x *RuleResult) { x.Changed++ })
			r.Changes = append(r.Changes, Change{EventID: k.event, UserID: d.UserID, Subject: subject,
				Was: actionText(old.Action, old.Mode), Now: actionText(d.Action.String(), string(d.Mode)), Rules: ids})
		default:
			continue
		}
		t.users[d.UserID] = true
	}
	for k, old := range t.was {
		if _, ok := t.now[k]; ok {
			continue
		}
		r.Removed++
		t.count(old.Rules, func(x *RuleResult) { x.Removed++ })
		r.Changes = append(r.Changes, Change{EventID: k.event, UserID: old.UserID, Subject: k.kind + ":" + k.id, Was: actionText(old.Action, old.Mode), Rules: old.Rules})
		t.users[old.UserID] = true
	}
}

// finish fills in the per-rule results and sorts the report.
func (t *tally) finish() *Report {
	r := t.r
	for id, res := range t.results {
		res.Users = len(t.ruleUsers[id])
		r.Rules = append(r.Rules, *res)
	}
	sort.Slice(r.Rules, func(i, j int) bool { return r.Rules[i].Rule < r.Rules[j].Rule })
	for u := range t.users {
		r.UsersAffected = append(r.UsersAffected, u)
	}
	sort.Strings(r.UsersAffected)
	sort.Slice(r.Changes, func(i, j int) bool {
		a, b := r.Changes[i], r.Changes[j]
		if a.EventID != b.EventID {
			return a.EventID < b.EventID
		}
		return a.Subject < b.Subject
	})
	return r
}

func reasonRules(d rules.Decision) []string {
	ids := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		ids[i] = r.Rule
	}
	return ids
}

func actionText(action, mode string) string {
	if mode == string(rules.Shadow) {
		return action + " (shadow)"
	}
	return action
}

// WriteText prints the report for a person: totals, the rules table, and
// the first changes.
func (r *Report) WriteText(w io.Writer, maxChanges int) {
	fmt.Fprintf(w, "backtest of rules %s over %s .. %s: %d events\n", r.RulesVersion,
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.Events)
	fmt.Fprintf(w, "decisions: %d stored, %d with these rules: %d added, %d removed, %d changed; %d users affected\n\n",
		r.Decided, r.Would, r.Added, r.Removed, r.Changed, len(r.UsersAffected))
	fmt.Fprintf(w, "%-34s %-20s %-8s %7s %6s %6s %8s %8s\n", "rule", "detector", "mode", "hits", "users", "added", "removed", "changed")
	for _, x := range r.Rules {
		fmt.Fprintf(w, "%-34s %-20s %-8s %7d %6d %6d %8d %8d\n", x.Rule, x.Detector, x.Mode, x.Hits, x.Users, x.Added, x.Removed, x.Changed)
	}
	if len(r.Changes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nchanges (first %d of %d; --json for all):\n", min(maxChanges, len(r.Changes)), len(r.Changes))
	for _, ch := range r.Changes[:min(maxChanges, len(r.Changes))] {
		was, now := ch.Was, ch.Now
		if was == "" {
			was = "-"
		}
		if now == "" {
			now = "-"
		}
		fmt.Fprintf(w, "  %-12s %-10s %-28s %-16s -> %-16s %s\n", ch.EventID, ch.UserID, ch.Subject, was, now, strings.Join(ch.Rules, ","))
	}
}
