package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/internal/report"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
)

// writeDecisionLines writes ds as JSON Lines to a file in dir; every third
// is turned to shadow, with its rules, so that every chart has both modes.
func writeDecisionLines(t *testing.T, dir string, ds []rules.Decision) string {
	t.Helper()
	var buf bytes.Buffer
	for i, d := range ds {
		if i%3 == 0 {
			d.Mode = rules.Shadow
			d.Reasons = append([]rules.Reason(nil), d.Reasons...)
			for j := range d.Reasons {
				d.Reasons[j].Mode = rules.Shadow
			}
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(b, '\n'))
	}
	path := filepath.Join(dir, "decisions.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReportCommand checks riskd report's flags, and that a bad line is an
// error naming its line that leaves no page behind.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	good := writeDecisionLines(t, dir, []rules.Decision{
		{DecisionID: "a", Subject: rules.Subject{Kind: "user", ID: "u1"}, Action: rules.Lockout, Mode: rules.Enforce, TS: at},
		{DecisionID: "b", Subject: rules.Subject{Kind: "ip", ID: "192.0.2.1"}, Action: rules.StepUp, Mode: rules.Enforce, TS: at.Add(time.Hour)},
	})
	lines, _ := os.ReadFile(good)
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := file("malformed.jsonl", string(lines)+"\n{\"decision_id\": \"c\", \"action\": \n")
	badMode := file("mode.jsonl", strings.Replace(string(lines), `"mode":"enforce"`, `"mode":"loud"`, 1))
	long := file("long.jsonl", string(lines)+`{"decision_id":"`+strings.Repeat("x", maxDecisionLine)+"\"}\n")
	out := filepath.Join(dir, "report.html")
	for _, tc := range []struct {
		name           string
		args           []string
		status         int
		stderr, stdout string
		page           string // what the page at out contains; "" for no page
	}{
		{"a file", []string{"--decisions", good, "--out", out}, 0, "report: 2 decisions from " + good, "", "2 decisions"},
		{"an empty file", []string{"--decisions", file("empty.jsonl", "\n"), "--out", out}, 0, "report: 0 decisions", "", "No decisions"},
		{"stdin to stdout", []string{"--decisions", "-", "--out", "-"}, 0, "", "Source: stdin", ""},
		{"a malformed line", []string{"--decisions", malformed, "--out", out}, 1, "malformed.jsonl:4: not a decision (contract §2): unexpected end of JSON input", "", ""},
		{"a bad mode", []string{"--decisions", badMode, "--out", out}, 1, `mode.jsonl:2: decision "b": mode "loud" is neither enforce nor shadow`, "", ""},
		{"a line too long", []string{"--decisions", long, "--out", out}, 1, "long.jsonl:3: line longer than 16 MiB", "", ""},
		{"a missing file", []string{"--decisions", filepath.Join(dir, "nope.jsonl"), "--out", out}, 1, "--decisions: open", "", ""},
		{"no source", []string{"--out", out}, 2, "report needs --decisions FILE or --clickhouse DSN", "", ""},
		{"two sources", []string{"--decisions", good, "--clickhouse", "clickhouse://127.0.0.1:1/x", "--out", out}, 2, "(one of them)", "", ""},
		{"no out", []string{"--decisions", good}, 2, "report needs --out FILE.html", "", ""},
		{"a period on a file", []string{"--decisions", good, "--from", "2026-03-01", "--out", out}, 2, "--from and --to go with --clickhouse", "", ""},
		{"clickhouse without a period", []string{"--clickhouse", "clickhouse://127.0.0.1:1/x", "--out", out}, 2, "report --clickhouse needs --from T --to T", "", ""},
		{"a bad time", []string{"--clickhouse", "clickhouse://127.0.0.1:1/x", "--from", "March", "--to", "2026-04-01", "--out", out}, 2, `--from: "March" is neither`, "", ""},
		{"a period backwards", []string{"--clickhouse", "clickhouse://127.0.0.1:1/x", "--from", "2026-04-01", "--to", "2026-03-01", "--out", out}, 2, "--to must be after --from", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			var stdout, stderr bytes.Buffer
			status := run(context.Background(), append([]string{"report"}, tc.args...), bytes.NewReader(lines), &stdout, &stderr)
			if status != tc.status || !strings.Contains(stderr.String(), tc.stderr) || !strings.Contains(stdout.String(), tc.stdout) {
				t.Fatalf("status %d (want %d)\nstderr: %s\nstdout: %.300s", status, tc.status, stderr.String(), stdout.String())
			}
			page, err := os.ReadFile(out)
			switch {
			case tc.page == "" && err == nil:
				t.Errorf("a page was written although the report failed or went to stdout")
			case tc.page != "" && !strings.Contains(string(page), tc.page):
				t.Errorf("page lacks %q (%v)", tc.page, err)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(dir, ".report.html.*")); len(leftovers) > 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}
		})
	}
}

// TestReportClickHouse reports on the decisions stored in ClickHouse for a
// period, and checks the page counts them all and names the table, never
// the DSN.
func TestReportClickHouse(t *testing.T) {
	dsn, db := chtest.DSN(t)
	conn, _ := chtest.Open(t, dsn)
	fx := chtest.NewFixture(t, "../../")
	fx.Store(t, conn, db)
	out := filepath.Join(t.TempDir(), "report.html")
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), []string{"report", "--clickhouse", dsn, "--from", "2026-03-01", "--to", "2026-03-08", "--out", out}, nil, &stdout, &stderr)
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr.String())
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("<p>%d decisions", len(fx.DecisionIDs)), "Source: ClickHouse " + db + ".risk_decisions",
		"asked for 2026-03-01T00:00:00Z to 2026-03-08T00:00:00Z", "<svg"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(string(page), dsn) {
		t.Errorf("page shows the DSN")
	}
}

// TestReportInChromium renders the report of the shipped traffic's
// decisions in headless Chromium (Debian's chromium package) and checks
// the screenshot shows the charts: each colour the charts use covers far
// more than its legend squares could.
func TestReportInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if testing.Short() {
			t.Skip("-short: no chromium to render the report in")
		}
		t.Fatal("chromium is not installed: run scripts/deps.sh (it installs Debian's chromium package), then the tests again")
	}
	traffic, _ := testenv.ShippedTraffic(t)
	ds, _ := testenv.ReplayAll(t, traffic, true)
	dir := t.TempDir()
	in := writeDecisionLines(t, dir, ds)
	page := filepath.Join(dir, "report.html")
	var stdout, stderr bytes.Buffer
	if status := run(context.Background(), []string{"report", "--decisions", in, "--out", page}, nil, &stdout, &stderr); status != 0 {
		t.Fatalf("status %d: %s", status, stderr.String())
	}
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Its own profile and HOME: Chromium writes both, and the test may run
	// as a user without either.
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+shot, "--window-size=1280,2000", "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, b)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	counts := colourCounts(img, report.ColorAllow, report.ColorStepUp, report.ColorLockout, report.ColorEnforce, report.ColorShadow)
	// A legend square is 12x12 pixels and each colour has at most four.
	for c, n := range counts {
		if n < 2000 {
			t.Errorf("%d pixels of %s in the screenshot, want at least 2000: the charts were not drawn (see %s)", n, c, shot)
		}
	}
	t.Logf("pixels by colour: %v", counts)
}

// colourCounts counts the pixels of img within 4 of each #rrggbb colour
// on every channel (antialiasing and colour handling may shift them).
func colourCounts(img image.Image, colours ...string) map[string]int {
	type rgb struct{ r, g, b int }
	want := map[string]rgb{}
	for _, c := range colours {
		var v rgb
		fmt.Sscanf(c, "#%02x%02x%02x", &v.r, &v.g, &v.b)
		want[c] = v
	}
	out := map[string]int{}
	for _, c := range colours {
		out[c] = 0
	}
	near := func(a, b int) bool { return a-b <= 4 && b-a <= 4 }
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			for c, v := range want {
				if near(int(r>>8), v.r) && near(int(g>>8), v.g) && near(int(b>>8), v.b) {
					out[c]++
				}
			}
		}
	}
	return out
}
