package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"
)

// Meta says where the decisions came from, for the page's header.
type Meta struct {
	Source    string    // a file name or the ClickHouse table read, never a DSN
	Generated time.Time // when the report was made
	From, To  time.Time // the period asked for, when there was one
}

// TopN is how many rows the top lists show.
const TopN = 15

// maxBars is the most time buckets a chart shows.
const maxBars = 96

//go:embed page.html.tmpl
var pageText string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"f":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"add": func(a, b float64) float64 { return a + b },
}).Parse(pageText))

type legendItem struct {
	Name, Color string
	Count       int64
}

type topList struct {
	Chart  hchart
	Legend []legendItem
	Note   string
}

// page is what the template shows; every string from the data reaches the
// HTML through html/template, which escapes it for where it lands.
type page struct {
	Meta                       Meta
	Generated, Period, Asked   string
	Decisions                  int64
	BucketWidth                string
	Actions, Modes             []legendItem
	ActionChart, ModeChart     vchart
	SanctionChart              *vchart // step_up and lockout alone, when allows would dwarf them
	Rules, Subjects, Detectors topList
}

// Render writes the report of a as one HTML page that loads nothing: its
// style and its SVG charts are inline.
func Render(w io.Writer, a *Aggregate, m Meta) error {
	p := page{Meta: m, Generated: m.Generated.UTC().Format(time.RFC3339), Decisions: a.Decisions}
	if !m.From.IsZero() {
		p.Asked = m.From.UTC().Format(time.RFC3339) + " to " + m.To.UTC().Format(time.RFC3339)
	}
	if a.Decisions > 0 {
		p.Period = a.First.Format(time.RFC3339) + " to " + a.Last.Format(time.RFC3339)
		buckets, width := a.Buckets(maxBars)
		p.BucketWidth = widthText(width)
		p.ActionChart = newVChart(buckets, width, byAction)
		p.ModeChart = newVChart(buckets, width, byMode)
		if c := a.Counts; c.Action[0] > 0 && c.Action[1]+c.Action[2] > 0 {
			sc := newVChart(buckets, width, bySanction)
			p.SanctionChart = &sc
		}
	}
	for i, s := range byAction(a.Counts) {
		p.Actions = append(p.Actions, legendItem{ActionNames[i], s.Fill, s.Value})
	}
	for _, s := range byMode(a.Counts) {
		p.Modes = append(p.Modes, legendItem{s.Name, s.Fill, s.Value})
	}
	p.Rules = newTopList(a.Rules, "rules", byMode)
	p.Subjects = newTopList(a.Subjects, "subjects", bySanction)
	p.Detectors = newTopList(a.Detectors, "detectors", byAction)
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func newTopList(t *TopK, what string, parts func(Counts) []segment) topList {
	top := t.Top(TopN)
	l := topList{Chart: newHChart(top, func(e Entry) []segment { return parts(e.Counts) })}
	for _, s := range parts(Counts{}) {
		l.Legend = append(l.Legend, legendItem{Name: s.Name, Color: s.Fill})
	}
	if t.Evicted() > 0 {
		l.Note = fmt.Sprintf("There were more than %d distinct %s, the most this report tracks at once: "+
			"the list comes from a bounded counter (Space-Saving), and a count shown as ≤ N (±E) "+
			"may overstate the truth by up to E (the grey part of its bar).", t.Capacity(), what)
	}
	return l
}

// widthText names a bucket width: 5 minutes, 1 hour, 7 days.
func widthText(d time.Duration) string {
	unit, n := "minute", int64(d/time.Minute)
	switch {
	case d%(24*time.Hour) == 0:
		unit, n = "day", int64(d/(24*time.Hour))
	case d%time.Hour == 0:
		unit, n = "hour", int64(d/time.Hour)
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}
