package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// wire returns d as riskd writes it (contract §2).
func wire(d Decision) []byte {
	b, err := json.Marshal(map[string]any{
		"decision_id": d.DecisionID, "event_id": "e-" + d.DecisionID, "user_id": d.UserID, "subject": d.Subject,
		"action": d.Action, "score": 80, "ts": d.ExpiresAt.Add(-time.Hour).Format(time.RFC3339Nano),
		"decided_at": d.ExpiresAt.Add(-time.Hour).Format(time.RFC3339Nano), "expires_at": d.ExpiresAt.Format(time.RFC3339Nano),
		"reasons": d.Reasons, "mode": d.Mode, "rules_version": "test",
	})
	if err != nil {
		panic(err)
	}
	return b
}

// clock is a settable clock for Config.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestNewNeedsAPolicy(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		msg string
	}{
		{Config{Policy: FailOpen}, "Brokers is empty"},
		{Config{Brokers: []string{"k:9092"}}, "must be FailOpen or FailClosed"},
		{Config{Brokers: []string{"k:9092"}, Policy: FailClosed, MaxLag: -1}, "must not be negative"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("New(%+v) = %v, want an error saying %q", tc.cfg, err, tc.msg)
		}
	}
}

// TestLagPolicy drives a client's follow state by hand (partition 0 of the
// topic, a lockout of u1 at offset 0) and checks what Check answers for
// u1 and for u2, of whom nothing is known, under both policies.
func TestLagPolicy(t *testing.T) {
	type answer struct {
		u1, u2   Action
		degraded bool
	}
	for _, tc := range []struct {
		name       string
		end        int64         // the topic's end when the client looks
		read       int64         // messages read of it
		since      time.Duration // time since that look
		open, shut answer        // under FailOpen, FailClosed
	}{
		{"not caught up since start", 3, 0, 0, answer{Allow, Allow, true}, answer{StepUp, StepUp, true}},
		{"first catch-up still short", 3, 2, 0, answer{Lockout, Allow, true}, answer{Lockout, StepUp, true}},
		{"caught up", 3, 3, 0, answer{Lockout, Allow, false}, answer{Lockout, Allow, false}},
		{"caught up, then a lag within bound", 3 + 10, 3, 0, answer{Lockout, Allow, false}, answer{Lockout, Allow, false}},
		{"caught up, then a lag beyond bound", 3 + 11, 3, 0, answer{Lockout, Allow, true}, answer{Lockout, StepUp, true}},
		{"caught up, stale within bound", 3, 3, 5 * time.Second, answer{Lockout, Allow, false}, answer{Lockout, Allow, false}},
		{"caught up, stale beyond bound", 3, 3, 5*time.Second + time.Millisecond, answer{Lockout, Allow, true}, answer{Lockout, StepUp, true}},
	} {
		for _, p := range []Policy{FailOpen, FailClosed} {
			want := map[Policy]answer{FailOpen: tc.open, FailClosed: tc.shut}[p]
			t.Run(fmt.Sprintf("%s/%d", tc.name, p), func(t *testing.T) {
				clk := &clock{t0}
				var changes []bool
				c, err := New(Config{Brokers: []string{"k:9092"}, Policy: p, MaxLag: 10, MaxStaleness: 5 * time.Second, Now: clk.now,
					OnDegraded: func(d bool, _ Stats) { changes = append(changes, d) }})
				if err != nil {
					t.Fatal(err)
				}
				tr, degraded := newTracker(), true
				tr.start(0, 0)
				tr.look(t0, map[int]int64{0: min(tc.end, 3)})
				for off := range tc.read {
					if off == 0 {
						c.apply(kafka.Message{Offset: 0, Value: wire(dec("d1", Lockout, time.Hour))})
					}
					tr.read(0, off, min(tc.end, 3))
				}
				if tc.end > 3 {
					tr.look(t0, map[int]int64{0: tc.end})
				}
				clk.t = t0.Add(tc.since)
				c.publish(tr, &degraded)
				got := answer{c.Check("user", "u1").Action, c.Check("user", "u2").Action, c.Check("user", "u1").Degraded}
				if got != want || c.Check("user", "u2").Degraded != want.degraded {
					t.Errorf("Check: u1 %s, u2 %s, degraded %v; want u1 %s, u2 %s, degraded %v", got.u1, got.u2, got.degraded, want.u1, want.u2, want.degraded)
				}
				if wantChanges := fmt.Sprint(map[bool][]bool{true: nil, false: {false}}[want.degraded]); fmt.Sprint(changes) != wantChanges {
					t.Errorf("OnDegraded calls %v, want %v", changes, wantChanges)
				}
				if s := c.Stats(); s.Degraded != want.degraded || s.Ready != (tc.read >= 3) {
					t.Errorf("Stats = %+v, want Degraded %v, Ready %v", s, want.degraded, tc.read >= 3)
				}
				select {
				case <-c.Ready():
					if tc.read < 3 {
						t.Error("Ready before the first catch-up")
					}
				default:
					if tc.read >= 3 {
						t.Error("not Ready after the first catch-up")
					}
				}
			})
		}
	}
}

// TestDegradedCallback follows one client through caught up, stale and
// caught up again and stale again, and checks OnDegraded hears each
// change once.
func TestDegradedCallback(t *testing.T) {
	clk := &clock{t0}
	var changes []bool
	c, err := New(Config{Brokers: []string{"k:9092"}, Policy: FailClosed, MaxStaleness: 5 * time.Second, Now: clk.now,
		OnDegraded: func(d bool, _ Stats) { changes = append(changes, d) }})
	if err != nil {
		t.Fatal(err)
	}
	tr, degraded := newTracker(), true
	tr.start(0, 0)
	for _, step := range []time.Duration{0, time.Second, 7 * time.Second, 8 * time.Second} {
		clk.t = t0.Add(step)
		if step != 7*time.Second { // a look that reaches the end: caught up as of then
			tr.look(clk.t, map[int]int64{0: 0})
		}
		c.publish(tr, &degraded)
		c.publish(tr, &degraded)
	}
	clk.t = t0.Add(20 * time.Second)
	c.publish(tr, &degraded)
	if fmt.Sprint(changes) != "[false true false true]" {
		t.Errorf("OnDegraded calls %v, want [false true false true]", changes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Errorf("WaitCaughtUp after the catch-up: %v", err)
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	tr.start(0, 5)
	tr.start(1, 0)
	tr.look(t0, map[int]int64{0: 7, 1: 1})
	tr.look(t0.Add(time.Second), map[int]int64{0: 9, 1: 1})
	if tr.ready || tr.lag() != 5 {
		t.Fatalf("before reading: ready %v, lag %d; want false, 5", tr.ready, tr.lag())
	}
	tr.read(1, 0, 1)
	tr.read(0, 5, 9)
	tr.read(0, 6, 9)
	if !tr.ready || !tr.fresh.Equal(t0) || tr.lag() != 2 {
		t.Errorf("at the first mark: ready %v, fresh %v, lag %d; want true, %v, 2", tr.ready, tr.fresh, tr.lag(), t0)
	}
	tr.read(0, 8, 9) // offset 7 was a gap (compacted or a control record)
	if !tr.fresh.Equal(t0.Add(time.Second)) || tr.lag() != 0 || len(tr.marks) != 0 {
		t.Errorf("at the second mark: fresh %v, lag %d, marks %d; want %v, 0, 0", tr.fresh, tr.lag(), len(tr.marks), t0.Add(time.Second))
	}
}

// TestApplyCounts checks the counts and errors of messages a client cannot
// use and of subjects evicted at the cap.
func TestApplyCounts(t *testing.T) {
	var errs []error
	c, err := New(Config{Brokers: []string{"k:9092"}, Policy: FailOpen, MaxSubjects: 1, Now: (&clock{t0}).now,
		OnError: func(err error) { errs = append(errs, err) }})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range [][]byte{
		wire(about("a", Lockout, time.Hour)), wire(about("a", Lockout, time.Hour)), wire(shadow(about("s", Lockout, time.Hour))),
		[]byte("{"), wire(about("b", Lockout, 2*time.Hour)), wire(about("c", StepUp, time.Minute)),
	} {
		c.apply(kafka.Message{Topic: "risk-decisions", Partition: 1, Offset: int64(i), Value: v})
	}
	s := c.Stats()
	if s.Applied != 2 || s.Ignored != 2 || s.Bad != 1 || s.Evicted != 2 || s.Subjects != 1 {
		t.Errorf("Stats = %+v, want Applied 2, Ignored 2, Bad 1, Evicted 2, Subjects 1", s)
	}
	if len(errs) != 3 || !errors.Is(errs[0], ErrBadDecision) || !strings.Contains(errs[0].Error(), "partition 1 offset 3") ||
		!strings.Contains(errs[1].Error(), "forgot") || !strings.Contains(errs[2].Error(), "did not keep decision c") {
		t.Errorf("errors %q, want the bad message at partition 1 offset 3, then an eviction and a drop", errs)
	}
	if r := c.Check("user", "b"); r.Action != Lockout || r.DecisionID != "b" {
		t.Errorf("Check(b) = %+v, want its lockout", r)
	}
}

// TestNoEngineImports checks the client imports nothing of riskd: a
// service that imports it must not pull the engine in.
func TestNoEngineImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); strings.HasPrefix(p, "github.com/riskd/") {
				t.Errorf("%s imports %s: the client depends on the decision contract alone", name, p)
			}
		}
	}
}
