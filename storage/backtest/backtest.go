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

// Config is what Run backtests: the candidate rules over the period
// [From, To) of the features and decisions stored in ClickHouse.
type Config struct {
	Conn     driver.Conn
	DB       string     // the database holding risk_features and risk_decisions
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
	Stored        int          `json:"decisions_stored"`    // decisions made
	Candidate     int          `json:"decisions_candidate"` // decisions the candidate rules make
	Added         int          `json:"added"`
	Removed       int          `json:"removed"`
	Changed       int          `json:"changed"`
	Rules         []RuleResult `json:"rules"`
	UsersAffected []string     `json:"users_affected"`
	Changes       []Change     `json:"changes"`
}

// RuleResult is one candidate rule's row in a Report.
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
	was, err := readStored(ctx, c)
	if err != nil {
		return nil, err
	}
	r := &Report{From: c.From, To: c.To, RulesVersion: c.Rules.Version, Stored: len(was)}
	t := newTally(c.Rules)
	now, err := decide(ctx, c, r, t)
	if err != nil {
		return nil, err
	}
	r.Candidate = len(now)
	r.compare(t, was, now)
	// After compare: the rows are copies, and compare counts into them.
	r.Rules = t.rows()
	sortChanges(r.Changes)
	return r, nil
}

// key names one decision: the event's, on one subject.
type key struct{ event, kind, id string }

// subject is the key's subject as reports write it, kind:id.
func (k key) subject() string { return k.kind + ":" + k.id }

// readStored returns the decisions stored for the period by key.
func readStored(ctx context.Context, c Config) (map[key]storage.StoredDecision, error) {
	stored, err := storage.ReadDecisions(ctx, c.Conn, c.DB, c.From, c.To)
	if err != nil {
		return nil, fmt.Errorf("backtest: read decisions: %w", err)
	}
	was := make(map[key]storage.StoredDecision, len(stored))
	for _, d := range stored {
		was[key{d.EventID, d.SubjectKind, d.SubjectID}] = d
	}
	return was, nil
}

// decide runs the candidate rules over the stored events, as the engine
// would have, counting the events in r and the hits in t, and returns
// their decisions by key.
func decide(ctx context.Context, c Config, r *Report, t *tally) (map[key]rules.Decision, error) {
	now := map[key]rules.Decision{}
	var eval rules.Evaluator
	var out []rules.Decision
	mem := newMemories()
	// One instant for the whole run: it only stamps decided_at, which is
	// not compared.
	at := time.Now()
	n, err := storage.ReadEvents(ctx, c.Conn, c.DB, c.From, c.To, func(se *storage.StoredEvent) error {
		// An event has one row: the address stage's for a login attempt,
		// which carries the user stage's features too. Each stage decides
		// with the memory of its key.
		eval.Memory = mem.of(rules.UserStage, &se.Event)
		out = eval.Evaluate(c.Rules, rules.UserStage, &se.Event, &se.Features, false, at, out[:0])
		// Only the address stage's row carries the address features
		// that the address-stage rules read.
		if se.Stage == 1 {
			eval.Memory = mem.of(rules.IPStage, &se.Event)
			out = eval.Evaluate(c.Rules, rules.IPStage, &se.Event, &se.Features, false, at, out)
		}
		for _, d := range out {
			now[key{d.EventID, string(d.Subject.Kind), d.Subject.ID}] = d
			t.hit(d)
		}
		r.Events++
		if c.Progress != nil && r.Events%10000 == 0 {
			c.Progress(r.Events)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backtest: after %d events: %w", n, err)
	}
	return now, nil
}

// compare counts and lists in r the decisions that differ between was,
// the stored ones, and now, the candidate rules', crediting each
// difference to the rules that are its reasons, and lists the users they
// concern.
func (r *Report) compare(t *tally, was map[key]storage.StoredDecision, now map[key]rules.Decision) {
	users := map[string]bool{}
	for k, d := range now {
		old, ok := was[k]
		ids := reasonRules(d)
		switch {
		case !ok:
			r.Added++
			t.count(ids, func(x *RuleResult) { x.Added++ })
			r.Changes = append(r.Changes, Change{EventID: k.event, UserID: d.UserID, Subject: k.subject(), Now: actionText(d.Action.String(), string(d.Mode)), Rules: ids})
		case old.Action != d.Action.String() || old.Mode != string(d.Mode):
			r.Changed++
			t.count(ids, func(x *RuleResult) { x.Changed++ })
			r.Changes = append(r.Changes, Change{EventID: k.event, UserID: d.UserID, Subject: k.subject(),
				Was: actionText(old.Action, old.Mode), Now: actionText(d.Action.String(), string(d.Mode)), Rules: ids})
		default:
			continue
		}
		users[d.UserID] = true
	}
	for k, old := range was {
		if _, ok := now[k]; ok {
			continue
		}
		r.Removed++
		t.count(old.Rules, func(x *RuleResult) { x.Removed++ })
		r.Changes = append(r.Changes, Change{EventID: k.event, UserID: old.UserID, Subject: k.subject(), Was: actionText(old.Action, old.Mode), Rules: old.Rules})
		users[old.UserID] = true
	}
	for u := range users {
		r.UsersAffected = append(r.UsersAffected, u)
	}
	sort.Strings(r.UsersAffected)
}

// sortChanges orders changes by event, then subject: map order would
// make two runs' reports differ.
func sortChanges(changes []Change) {
	sort.Slice(changes, func(i, j int) bool {
		a, b := changes[i], changes[j]
		if a.EventID != b.EventID {
			return a.EventID < b.EventID
		}
		return a.Subject < b.Subject
	})
}

// tally is the rules table of a report being made, by rule id. Rules
// that are reasons but not in the candidate set (stored decisions of a
// deleted rule) are not counted.
type tally struct {
	results map[string]*RuleResult
	users   map[string]map[string]bool // the users of each rule's hits
}

// newTally returns an empty table of set's rules.
func newTally(set *rules.Set) *tally {
	t := &tally{results: map[string]*RuleResult{}, users: map[string]map[string]bool{}}
	for _, rl := range set.Rules {
		t.results[rl.ID] = &RuleResult{Rule: rl.ID, Detector: rl.Detector, Mode: string(rl.Mode)}
		t.users[rl.ID] = map[string]bool{}
	}
	return t
}

// hit counts a candidate decision for each rule that is its reason.
func (t *tally) hit(d rules.Decision) {
	for _, reason := range d.Reasons {
		if res := t.results[reason.Rule]; res != nil {
			res.Hits++
			t.users[reason.Rule][d.UserID] = true
		}
	}
}

// count applies f to the results of the rules ruleIDs.
func (t *tally) count(ruleIDs []string, f func(*RuleResult)) {
	for _, id := range ruleIDs {
		if res := t.results[id]; res != nil {
			f(res)
		}
	}
}

// rows returns the rules table sorted by rule id, with Users filled in.
func (t *tally) rows() []RuleResult {
	var out []RuleResult
	for id, res := range t.results {
		res.Users = len(t.users[id])
		out = append(out, *res)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out
}

// reasonRules returns the ids of the rules that are d's reasons.
func reasonRules(d rules.Decision) []string {
	ids := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		ids[i] = r.Rule
	}
	return ids
}

// actionText is an action as Change shows it, marked when it is only
// recorded (shadow mode).
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
		r.Stored, r.Candidate, r.Added, r.Removed, r.Changed, len(r.UsersAffected))
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
