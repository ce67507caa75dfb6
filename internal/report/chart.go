package report

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The charts' colours. The page's legends use them too, and the browser
// test looks for them in a screenshot.
const (
	ColorAllow   = "#43a047"
	ColorStepUp  = "#fb8c00"
	ColorLockout = "#e53935"
	ColorEnforce = "#1e88e5"
	ColorShadow  = "#8e24aa"
	colorOver    = "#bdbdbd"
)

// actionColors are the colours of allow, step_up and lockout.
var actionColors = [3]string{ColorAllow, ColorStepUp, ColorLockout}

// ActionNames are the contract's names of the actions, by index.
var ActionNames = [3]string{"allow", "step_up", "lockout"}

type rect struct {
	X, Y, W, H float64
	Fill       string
}

type tick struct {
	Pos   float64
	Label string
}

// vchart is a chart of stacked vertical bars over time.
type vchart struct {
	W, H                       int
	PlotX, PlotY, PlotW, PlotH float64
	Bars                       []vbar
	YTicks, XTicks             []tick
}

type vbar struct {
	Title string
	Segs  []rect
}

// segment is one part of a stacked bar: its value, colour and name.
type segment struct {
	Value int64
	Fill  string
	Name  string
}

const (
	chartW   = 1160
	vchartH  = 280
	plotLeft = 70.0
	plotTop  = 12.0
	plotBot  = 44.0
)

// newVChart lays out one stacked bar per bucket; parts returns a bucket's
// segments, bottom first.
func newVChart(buckets []Bucket, width time.Duration, parts func(Counts) []segment) vchart {
	c := vchart{W: chartW, H: vchartH, PlotX: plotLeft, PlotY: plotTop, PlotW: chartW - plotLeft - 12, PlotH: vchartH - plotTop - plotBot}
	var top int64
	for _, b := range buckets {
		var sum int64
		for _, s := range parts(b.Counts) {
			sum += s.Value
		}
		top = max(top, sum)
	}
	scale := niceCeil(top)
	for i := 0; i <= 4; i++ {
		v := scale * float64(i) / 4
		c.YTicks = append(c.YTicks, tick{c.PlotY + c.PlotH - c.PlotH*v/scale, strconv.FormatFloat(v, 'f', -1, 64)})
	}
	step := c.PlotW / float64(max(len(buckets), 1))
	every := (len(buckets) + 7) / 8
	for i, b := range buckets {
		x := c.PlotX + float64(i)*step
		bar := vbar{Title: bucketLabel(b.Start, width)}
		y := c.PlotY + c.PlotH
		for _, s := range parts(b.Counts) {
			bar.Title += fmt.Sprintf(", %s %d", s.Name, s.Value)
			if s.Value == 0 {
				continue
			}
			h := c.PlotH * float64(s.Value) / scale
			y -= h
			bar.Segs = append(bar.Segs, rect{x + step*0.1, y, math.Max(step*0.8, 1), h, s.Fill})
		}
		c.Bars = append(c.Bars, bar)
		if i%every == 0 {
			c.XTicks = append(c.XTicks, tick{x + step/2, bucketLabel(b.Start, width)})
		}
	}
	return c
}

// niceCeil returns the smallest of 1, 2, 4, 6, 8 times a power of ten
// that is at least v (and at least 1), so that the axis's quarters read
// in round numbers.
func niceCeil(v int64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(float64(v))))
	for _, m := range []float64{1, 2, 4, 6, 8, 10} {
		if m*p >= float64(v) {
			return m * p
		}
	}
	return 10 * p
}

// bucketLabel names a bucket by its start, to the minute below a day.
func bucketLabel(t time.Time, width time.Duration) string {
	if width < 24*time.Hour {
		return t.Format("2006-01-02 15:04")
	}
	return t.Format("2006-01-02")
}

// hchart is a chart of stacked horizontal bars, one labelled row per key.
type hchart struct {
	W, H int
	Rows []hrow
}

type hrow struct {
	Y            float64 // baseline of the label
	Label, Title string
	Value        string
	ValueX       float64
	Segs         []rect
}

const (
	rowH     = 24.0
	labelW   = 330.0
	valueW   = 150.0
	maxLabel = 44
)

// newHChart lays out one row per entry; parts returns an entry's
// segments, left first.
func newHChart(entries []Entry, parts func(Entry) []segment) hchart {
	c := hchart{W: chartW, H: int(rowH*float64(len(entries)) + 8)}
	var top int64
	for _, e := range entries {
		top = max(top, e.Count())
	}
	barW := float64(chartW) - labelW - valueW
	for i, e := range entries {
		y := 4 + rowH*float64(i)
		row := hrow{Y: y + rowH*0.68, Label: shorten(e.Key), Title: e.Key, Value: strconv.FormatInt(e.Count(), 10)}
		if e.Over > 0 {
			row.Value = fmt.Sprintf("≤ %d (±%d)", e.Count(), e.Over)
		}
		x := labelW
		for _, s := range parts(e) {
			row.Title += fmt.Sprintf(", %s %d", s.Name, s.Value)
			if s.Value == 0 {
				continue
			}
			w := math.Max(barW*float64(s.Value)/float64(max(top, 1)), 1)
			row.Segs = append(row.Segs, rect{x, y + 3, w, rowH - 6, s.Fill})
			x += w
		}
		if e.Over > 0 {
			// What the key inherited from the one it replaced (see TopK):
			// grey, as it may belong to other keys.
			w := barW * float64(e.Over) / float64(max(top, 1))
			row.Segs = append(row.Segs, rect{x, y + 3, w, rowH - 6, colorOver})
			x += w
		}
		row.ValueX = x + 6
		c.Rows = append(c.Rows, row)
	}
	return c
}

// shorten cuts s to maxLabel characters, so that a long id does not run
// over its chart; the full id is in the row's tooltip.
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:maxLabel-1]) + "…"
}

func byAction(c Counts) []segment {
	return []segment{
		{c.Action[0], ColorAllow, "allow"},
		{c.Action[1], ColorStepUp, "step_up"},
		{c.Action[2], ColorLockout, "lockout"},
	}
}

func bySanction(c Counts) []segment {
	return []segment{{c.Action[1], ColorStepUp, "step_up"}, {c.Action[2], ColorLockout, "lockout"}}
}

func byMode(c Counts) []segment {
	return []segment{{c.Enforce, ColorEnforce, "enforce"}, {c.Shadow, ColorShadow, "shadow"}}
}
