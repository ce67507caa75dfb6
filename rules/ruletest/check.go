package ruletest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// Sample is one line of sample events for Check, with where it came
// from so that a report can point at it.
type Sample struct {
	Source string // the file, as reports name it
	Line   int    // 1-based line number in Source
	Data   []byte // the JSON Lines line
}

// SplitSamples returns the non-blank lines of data, a JSON Lines file that
// reports call source, as samples.
func SplitSamples(source string, data []byte) []Sample {
	var out []Sample
	n := 0
	for line := range bytes.Lines(data) {
		n++
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, Sample{Source: source, Line: n, Data: line})
		}
	}
	return out
}

// Failure is a rule that failed at run time on sample events: the
// engine skipped it on each of them.
type Failure struct {
	Rule    *rules.Rule
	Events  int    // sample events it failed on
	Sample  Sample // the first of them
	EventID string // its event_id
	Err     error  // the first error
}

// CheckReport is what Check found.
type CheckReport struct {
	Events    int            // sample events decided
	Rejected  int            // sample lines the decoder or the engine refused
	Rejection string         // the first refusal, as "source:line: reason"
	Failures  []Failure      // rules that failed, in the set's order
	Fired     map[string]int // events each rule fired on, by rule id
}

// OK reports whether no rule failed on any sample.
func (r *CheckReport) OK() bool { return len(r.Failures) == 0 }

// Problems returns one line per failing rule, promtool style:
//
//	file:line: rule "ID" fails on N of M sample events, e.g. event EVENT_ID (SOURCE:LINE): message
func (r *CheckReport) Problems() []string {
	out := make([]string, len(r.Failures))
	for i, f := range r.Failures {
		out[i] = fmt.Sprintf("%s:%d: rule %q fails on %d of %d sample events, e.g. event %s (%s:%d): %s",
			f.Rule.File, f.Rule.Line, f.Rule.ID, f.Events, r.Events, f.EventID, f.Sample.Source, f.Sample.Line, RunErrorMessage(f.Err))
	}
	return out
}

// Silent returns the rules of set that fired on no sample event, in the
// set's order. That is no error (the samples may hold nothing they look
// for) but worth a look: a condition that can never hold is a typo.
func (r *CheckReport) Silent(set *rules.Set) []*rules.Rule {
	var out []*rules.Rule
	for _, rl := range set.Rules {
		if r.Fired[rl.ID] == 0 {
			out = append(out, rl)
		}
	}
	return out
}

// RunErrorMessage is the one-line message of a rule's run-time error: what
// failed and where in the condition, without the wrapping that names the
// rule and the source excerpt that expr appends.
func RunErrorMessage(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Sprintf("when, line %d of the condition: %s", fe.Line, fe.Message)
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// Check decides on samples with set, as a replay of them would, and
// reports the rules that failed at run time (the engine skips such a rule
// on that event) and how often each rule fired. Each source's samples are
// decided in order by an engine of their own, as a replay of that file
// would; opts configure those engines (pipeline.WithGeoCache gives locations).
// Sample lines the decoder rejects, or dated more than state.max_future
// ahead of the wall clock, are counted and skipped.
func Check(set *rules.Set, samples []Sample, opts ...pipeline.Option) CheckReport {
	rep := CheckReport{Fired: map[string]int{}}
	failed := map[*rules.Rule]int{} // index in rep.Failures
	var cur *Sample
	onError := func(r *rules.Rule, ev *event.Event, err error) {
		i, ok := failed[r]
		if !ok {
			i = len(rep.Failures)
			failed[r] = i
			rep.Failures = append(rep.Failures, Failure{Rule: r, Sample: *cur, EventID: ev.ID, Err: err})
		}
		rep.Failures[i].Events++
	}
	opts = append(opts[:len(opts):len(opts)], pipeline.WithRuleErrors(onError))
	var eng *pipeline.Engine
	var out []rules.Decision
	for i := range samples {
		s := &samples[i]
		if i == 0 || s.Source != samples[i-1].Source {
			eng = pipeline.NewEngine(set, opts...)
		}
		ev, err := event.Decode(s.Data)
		if err == nil {
			cur = s
			out, err = eng.Decide(&ev, time.Now(), out[:0])
		}
		if err != nil {
			if rep.Rejected++; rep.Rejection == "" {
				rep.Rejection = fmt.Sprintf("%s:%d: %v", s.Source, s.Line, err)
			}
			continue
		}
		rep.Events++
		for _, d := range out {
			for _, reason := range d.Reasons {
				rep.Fired[reason.Rule]++
			}
		}
	}
	sortFailures(set, rep.Failures)
	return rep
}

// sortFailures puts failures in the order of the set's rules.
func sortFailures(set *rules.Set, fs []Failure) {
	order := make(map[*rules.Rule]int, len(set.Rules))
	for i, r := range set.Rules {
		order[r] = i
	}
	slices.SortFunc(fs, func(a, b Failure) int { return cmp.Compare(order[a.Rule], order[b.Rule]) })
}
