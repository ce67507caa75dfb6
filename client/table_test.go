package client

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// dec returns an enforced decision about user u1 with id, action and an
// expiry that far after t0.
func dec(id string, a Action, expiry time.Duration) Decision {
	return Decision{DecisionID: id, Subject: Subject{"user", "u1"}, Action: a, Mode: Enforce, ExpiresAt: t0.Add(expiry),
		Reasons: []Reason{{Rule: "r-" + id, Detector: "failed_login_burst", Summary: "s"}}}
}

func shadow(d Decision) Decision { d.Mode = Shadow; return d }

func TestTableCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		apply   []Decision
		at      time.Duration // when Check asks, after t0
		want    Action
		wantID  string
		wantEnd time.Duration
		outs    []outcome
	}{
		{name: "nothing", want: Allow},
		{name: "lockout in force", apply: []Decision{dec("d1", Lockout, time.Hour)}, want: Lockout, wantID: "d1", wantEnd: time.Hour, outs: []outcome{applied}},
		{name: "step-up in force", apply: []Decision{dec("d1", StepUp, time.Hour)}, want: StepUp, wantID: "d1", wantEnd: time.Hour},
		{name: "shadow lockout never counts", apply: []Decision{shadow(dec("d1", Lockout, time.Hour))}, want: Allow, outs: []outcome{unchanged}},
		{name: "shadow lockout beside an enforced step-up", apply: []Decision{dec("d1", StepUp, time.Hour), shadow(dec("d2", Lockout, 2*time.Hour))},
			want: StepUp, wantID: "d1", wantEnd: time.Hour},
		{name: "allow lifts nothing", apply: []Decision{dec("d1", Lockout, time.Hour), dec("d2", Allow, 2*time.Hour)}, want: Lockout, wantID: "d1", wantEnd: time.Hour, outs: []outcome{applied, unchanged}},
		{name: "expired on arrival", apply: []Decision{dec("d1", Lockout, -time.Second)}, want: Allow, outs: []outcome{expired}},
		{name: "expires on its time", apply: []Decision{dec("d1", Lockout, time.Hour)}, at: time.Hour, want: Allow},
		{name: "in force until just before", apply: []Decision{dec("d1", Lockout, time.Hour)}, at: time.Hour - time.Millisecond, want: Lockout, wantID: "d1", wantEnd: time.Hour},
		{name: "redelivery changes nothing", apply: []Decision{dec("d1", Lockout, time.Hour), dec("d1", Lockout, time.Hour)}, want: Lockout, wantID: "d1", wantEnd: time.Hour, outs: []outcome{applied, unchanged}},
		{name: "later weaker does not erase a stronger in force", apply: []Decision{dec("d1", Lockout, time.Hour), dec("d2", StepUp, 2*time.Hour)},
			at: 30 * time.Minute, want: Lockout, wantID: "d1", wantEnd: time.Hour, outs: []outcome{applied, applied}},
		{name: "the weaker applies once the stronger ends", apply: []Decision{dec("d1", Lockout, time.Hour), dec("d2", StepUp, 2*time.Hour)},
			at: 90 * time.Minute, want: StepUp, wantID: "d2", wantEnd: 2 * time.Hour},
		{name: "stronger wins over an earlier weaker", apply: []Decision{dec("d1", StepUp, time.Hour), dec("d2", Lockout, time.Minute)},
			want: Lockout, wantID: "d2", wantEnd: time.Minute},
		{name: "same order in either arrival order", apply: []Decision{dec("d2", Lockout, time.Minute), dec("d1", StepUp, time.Hour)},
			want: Lockout, wantID: "d2", wantEnd: time.Minute},
		{name: "a later expiry extends", apply: []Decision{dec("d1", Lockout, time.Hour), dec("d2", Lockout, 2*time.Hour)}, want: Lockout, wantID: "d2", wantEnd: 2 * time.Hour},
		{name: "an earlier expiry does not shorten", apply: []Decision{dec("d1", Lockout, 2*time.Hour), dec("d2", Lockout, time.Hour)},
			want: Lockout, wantID: "d1", wantEnd: 2 * time.Hour, outs: []outcome{applied, unchanged}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable(10)
			var outs []outcome
			for _, d := range tc.apply {
				outs = append(outs, tb.apply(d, t0))
			}
			if tc.outs != nil && fmt.Sprint(outs) != fmt.Sprint(tc.outs) {
				t.Errorf("outcomes %v, want %v", outs, tc.outs)
			}
			a, o := tb.check(Subject{"user", "u1"}, t0.Add(tc.at))
			var wantEnd time.Time
			if tc.wantID != "" {
				wantEnd = t0.Add(tc.wantEnd)
			}
			if a != tc.want || o.decisionID != tc.wantID || !o.until.Equal(wantEnd) {
				t.Errorf("check = %s %q until %v, want %s %q until %v", a, o.decisionID, o.until, tc.want, tc.wantID, wantEnd)
			}
			if tc.wantID != "" && (len(o.reasons) != 1 || o.reasons[0].Rule != "r-"+tc.wantID) {
				t.Errorf("reasons %v, want those of %s", o.reasons, tc.wantID)
			}
		})
	}
}

func about(id string, a Action, expiry time.Duration) Decision {
	d := dec(id, a, expiry)
	d.Subject.ID = id
	return d
}

// TestTableCap fills a table of three subjects and checks which subject
// makes way: always the one whose actions end soonest, the newcomer
// included.
func TestTableCap(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  Decision
		at   time.Duration // when the newcomer arrives
		out  outcome
		held []string
	}{
		{"evicts the soonest-ending", about("new", Lockout, 90*time.Minute), 0, evicted, []string{"b", "c", "new"}},
		{"drops a newcomer ending soonest", about("new", Lockout, 10*time.Minute), 0, dropped, []string{"a", "b", "c"}},
		{"sweeps the expired first", about("new", StepUp, 70*time.Minute), 45 * time.Minute, applied, []string{"b", "c", "new"}},
		{"a known subject needs no room", func() Decision { d := about("b3", Lockout, 3*time.Hour); d.Subject.ID = "b"; return d }(), 0, applied, []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable(3)
			// a ends at 30 min, b at 2 h (its step-up outlives its lockout), c at 1 h.
			for _, d := range []Decision{about("a", Lockout, 30*time.Minute), about("b", Lockout, time.Minute), about("c", StepUp, time.Hour)} {
				tb.apply(d, t0)
			}
			b := about("b2", StepUp, 2*time.Hour)
			b.Subject.ID = "b"
			tb.apply(b, t0)
			if out := tb.apply(tc.add, t0.Add(tc.at)); out != tc.out {
				t.Errorf("apply = %v, want %v", out, tc.out)
			}
			var held []string
			for _, id := range []string{"a", "b", "c", "new"} {
				if _, ok := tb.subjects[Subject{"user", id}]; ok {
					held = append(held, id)
				}
			}
			if fmt.Sprint(held) != fmt.Sprint(tc.held) || tb.len() != len(tb.byEnd) {
				t.Errorf("held %v (heap %d), want %v", held, len(tb.byEnd), tc.held)
			}
		})
	}
}

func TestTableSweep(t *testing.T) {
	tb := newTable(100)
	for i := range 10 {
		tb.apply(about(fmt.Sprint(i), Lockout, time.Duration(i+1)*time.Minute), t0)
	}
	if n := tb.sweep(t0.Add(5 * time.Minute)); n != 5 || tb.len() != 5 {
		t.Errorf("sweep at 5 min forgot %d, holds %d; want 5 and 5", n, tb.len())
	}
	if n := tb.sweep(t0.Add(time.Hour)); n != 5 || tb.len() != 0 {
		t.Errorf("sweep at 1 h forgot %d, holds %d; want 5 and 0", n, tb.len())
	}
}

// BenchmarkCheck measures Check from parallel request goroutines on a
// client holding 100,000 subjects.
func BenchmarkCheck(b *testing.B) {
	c, err := New(Config{Brokers: []string{"k:9092"}, Policy: FailOpen})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range 100_000 {
		d := about(fmt.Sprint(i), Lockout, time.Hour)
		d.ExpiresAt = now.Add(time.Hour)
		c.table.apply(d, now)
	}
	ids := make([]string, 1024) // subjects held
	for i := range ids {
		ids[i] = fmt.Sprint(i * 97 % 200_000)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Check("user", ids[i%len(ids)])
			i++
		}
	})
}
