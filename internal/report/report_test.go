package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/riskd/riskd/rules"
)

var t0 = time.Date(2026, 10, 5, 9, 0, 0, 0, time.UTC) // a Monday

func decision(ts time.Time, action rules.Action, mode rules.Mode, subject string, reasons ...rules.Reason) *rules.Decision {
	return &rules.Decision{DecisionID: "d", Subject: rules.Subject{Kind: "user", ID: subject}, Action: action, Mode: mode, TS: ts, Reasons: reasons}
}

// TestBuckets checks decisions land in the right UTC bucket, empty buckets
// are kept, and the width grows to fit the number of bars asked for.
func TestBuckets(t *testing.T) {
	a := New(DefaultLimits)
	for _, d := range []*rules.Decision{
		decision(t0, rules.Allow, rules.Enforce, "u1"),
		decision(t0.Add(59*time.Second), rules.Lockout, rules.Shadow, "u1"),
		decision(t0.Add(3*time.Minute), rules.StepUp, rules.Enforce, "u2"),
		decision(t0.In(time.FixedZone("X", 5*3600)).Add(10*time.Minute), rules.StepUp, rules.Enforce, "u2"),
	} {
		if err := a.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		bars   int
		width  time.Duration
		starts []time.Time
		totals []int64
	}{
		{100, time.Minute, []time.Time{t0, t0.Add(time.Minute)}, []int64{2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}},
		{5, 5 * time.Minute, []time.Time{t0, t0.Add(5 * time.Minute), t0.Add(10 * time.Minute)}, []int64{3, 0, 1}},
		{1, 15 * time.Minute, []time.Time{t0}, []int64{4}},
	} {
		bs, width := a.Buckets(tc.bars)
		if width != tc.width || len(bs) != len(tc.totals) {
			t.Fatalf("Buckets(%d): width %s, %d buckets; want %s, %d", tc.bars, width, len(bs), tc.width, len(tc.totals))
		}
		for i, b := range bs {
			if b.Counts.Total() != tc.totals[i] {
				t.Errorf("Buckets(%d)[%d] total %d, want %d", tc.bars, i, b.Counts.Total(), tc.totals[i])
			}
		}
		for i, s := range tc.starts {
			if !bs[i].Start.Equal(s) || bs[i].Start.Location() != time.UTC {
				t.Errorf("Buckets(%d)[%d] starts %s, want %s UTC", tc.bars, i, bs[i].Start, s)
			}
		}
	}
	bs, _ := a.Buckets(1)
	if want := (Counts{Action: [3]int64{1, 2, 1}, Enforce: 3, Shadow: 1}); bs[0].Counts != want {
		t.Errorf("counts %+v, want %+v", bs[0].Counts, want)
	}
}

// TestBucketsBounded checks that decisions spread over years keep no more
// buckets than the limit, and lose none.
func TestBucketsBounded(t *testing.T) {
	a := New(Limits{Subjects: 10, Rules: 10, Detectors: 10, Buckets: 50})
	n := 0
	for ts := t0; ts.Before(t0.AddDate(3, 0, 0)); ts = ts.Add(7 * time.Hour) {
		if err := a.Add(decision(ts, rules.Allow, rules.Enforce, "u")); err != nil {
			t.Fatal(err)
		}
		n++
		if len(a.series.counts) > 50 {
			t.Fatalf("%d buckets kept, limit 50", len(a.series.counts))
		}
	}
	bs, width := a.Buckets(96)
	var sum int64
	for _, b := range bs {
		sum += b.Counts.Total()
	}
	if sum != int64(n) || len(bs) > 50 || width != 28*24*time.Hour {
		t.Errorf("%d decisions in %d buckets of %s; want %d in at most 50 of 28 days", sum, len(bs), width, n)
	}
	if wd := bs[0].Start.Weekday(); wd != time.Monday {
		t.Errorf("a 28-day bucket starts on %s, want Monday", wd)
	}
}

// TestTopK checks the order of the top list, that counts are exact while
// the keys fit, and that a frequent key survives a flood of rare ones.
func TestTopK(t *testing.T) {
	k := NewTopK(4)
	for i, key := range strings.Fields("b a c a b a d") {
		k.Add(key, i%3, i%2 == 1)
	}
	var got []string
	for _, e := range k.Top(10) {
		got = append(got, fmt.Sprintf("%s=%d", e.Key, e.Count()))
	}
	if strings.Join(got, " ") != "a=3 b=2 c=1 d=1" || k.Evicted() != 0 {
		t.Errorf("top %v (evicted %d), want a=3 b=2 c=1 d=1, none evicted", got, k.Evicted())
	}
	if top := k.Top(2); len(top) != 2 || top[0].Counts != (Counts{Action: [3]int64{1, 1, 1}, Shadow: 3}) {
		t.Errorf("Top(2) = %+v, want a first, once per action, all shadow", top)
	}
	heavy := NewTopK(10)
	for i := range 10_000 {
		heavy.Add(fmt.Sprintf("rare-%d", i), 0, false)
		if i%5 == 0 {
			heavy.Add("heavy", 2, false)
		}
	}
	top := heavy.Top(1)[0]
	if top.Key != "heavy" || top.Counts.Total() != 2000 || heavy.Evicted() == 0 || len(heavy.index) != 10 {
		t.Errorf("top %+v, evicted %d, tracked %d; want heavy with 2000 counted, evictions, 10 tracked", top, heavy.Evicted(), len(heavy.index))
	}
}

// TestClip checks long ids are cut to MaxKey bytes of valid UTF-8.
func TestClip(t *testing.T) {
	a := New(DefaultLimits)
	long := strings.Repeat("é", 1000) // two bytes each: the cut falls mid-rune
	if err := a.Add(decision(t0, rules.Lockout, rules.Enforce, long, rules.Reason{Rule: strings.Repeat("r", 5000), Detector: "velocity"})); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*TopK{a.Subjects, a.Rules} {
		key := k.Top(1)[0].Key
		if len(key) > MaxKey || !strings.HasSuffix(key, "…") || !utf8.ValidString(key) {
			t.Errorf("key of %d bytes (valid UTF-8 %v): %.40q…", len(key), utf8.ValidString(key), key)
		}
	}
	if got := a.Detectors.Top(1)[0].Key; got != "velocity" {
		t.Errorf("short id changed to %q", got)
	}
}

// TestAddRejects checks decisions outside the contract are errors, not
// counted.
func TestAddRejects(t *testing.T) {
	for _, tc := range []struct {
		d    *rules.Decision
		want string
	}{
		{decision(t0, rules.Allow, "", "u"), `mode "" is neither enforce nor shadow`},
		{decision(t0, rules.Action(7), rules.Enforce, "u"), "action 7"},
		{decision(time.Time{}, rules.Allow, rules.Enforce, "u"), "no ts"},
		{decision(t0, rules.Lockout, rules.Enforce, "u", rules.Reason{Rule: "r", Mode: "loud"}), `rule "r": mode "loud"`},
	} {
		a := New(DefaultLimits)
		err := a.Add(tc.d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add: %v, want an error with %q", err, tc.want)
		}
		if a.Decisions != 0 {
			t.Errorf("Add counted a rejected decision")
		}
	}
}

// hostile are ids an attacker can choose (a username, a device id).
var hostile = []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`, `</svg><iframe src="https://evil.example/">`, `' onmouseover='alert(3)`}

// TestRenderEscapes checks that ids from the data come out as text, never
// as markup, and that the page loads nothing from anywhere.
func TestRenderEscapes(t *testing.T) {
	a := New(DefaultLimits)
	for i, h := range hostile {
		r := rules.Reason{Rule: "rule" + h, Detector: "det" + h, Mode: rules.Shadow}
		if err := a.Add(decision(t0.Add(time.Duration(i)*time.Hour), rules.Lockout, rules.Enforce, h, r)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := Render(&buf, a, Meta{Source: `file<b>.jsonl`, Generated: t0}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	allowed := map[string]bool{}
	for _, tag := range strings.Fields("!DOCTYPE html head meta title style body h1 h2 p div span i svg line text g rect") {
		allowed[tag], allowed["/"+tag] = true, true
	}
	for _, m := range regexp.MustCompile(`<(/?[!a-zA-Z0-9]+)`).FindAllStringSubmatch(page, -1) {
		if !allowed[m[1]] {
			t.Errorf("page has a <%s> tag: data reached the HTML unescaped", m[1])
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "user:&#34;&gt;&lt;img src=x", "rule&lt;script&gt;", "det&lt;script&gt;", "file&lt;b&gt;.jsonl"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q: an id is missing or escaped differently", want)
		}
	}
	// Self-contained: no tag has an attribute or style that fetches (the
	// data, escaped, holds no '<', so the tags are the page's own).
	for _, tag := range regexp.MustCompile(`<[^>]*>`).FindAllString(page, -1) {
		if m := regexp.MustCompile(`(?i)\b(src|href)\s*=|url\(`).FindString(tag); m != "" {
			t.Errorf("tag %s fetches something", tag)
		}
	}
	if strings.Contains(page, "@import") {
		t.Errorf("the style imports something")
	}
}

// TestRenderCharts checks every chart is drawn with its colours, and what
// an empty input and an overflowing top list say.
func TestRenderCharts(t *testing.T) {
	a := New(Limits{Subjects: 3, Rules: 10, Detectors: 10, Buckets: 100})
	for i := range 20 {
		r := rules.Reason{Rule: "burst", Detector: "failed_login_burst", Mode: rules.Mode([]string{"enforce", "shadow"}[i%2])}
		if err := a.Add(decision(t0.Add(time.Duration(i)*time.Minute), rules.Action(i%3), rules.Enforce, fmt.Sprint("u", i), r)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := Render(&buf, a, Meta{Source: "x", Generated: t0}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<svg"); n != 6 {
		t.Errorf("%d charts, want 6 (three over time, rules, subjects, detectors)", n)
	}
	for _, c := range []string{ColorAllow, ColorStepUp, ColorLockout, ColorEnforce, ColorShadow} {
		if !strings.Contains(page, `fill="`+c+`"`) {
			t.Errorf("no bar of colour %s", c)
		}
	}
	for _, want := range []string{"One bar per 1 minute", "more than 3 distinct subjects", "20 decisions"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	buf.Reset()
	if err := Render(&buf, New(DefaultLimits), Meta{Source: "empty", Generated: t0}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No decisions: nothing to chart.") || strings.Contains(buf.String(), "<svg") {
		t.Errorf("empty report: want the no-decisions line and no chart")
	}
}
