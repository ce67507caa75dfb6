package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/riskd/riskd/internal/report"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/storage"
)

// maxDecisionLine is the longest decision line read: a longer one is an
// error, not a reason to hold a whole file in memory.
const maxDecisionLine = 16 << 20

// reportFlags are the settings of `riskd report`.
type reportFlags struct {
	decisions, dsn, out string
	from, to            time.Time
}

// parseReportFlags parses and checks the command line of `riskd report`:
// one source (a file, or ClickHouse with a period) and --out.
func parseReportFlags(args []string, stderr io.Writer) (*reportFlags, error) {
	f := &reportFlags{}
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.decisions, "decisions", "", "JSON Lines decisions (contract §2) to report on, as riskd replay writes them (- for stdin)")
	fs.StringVar(&f.dsn, "clickhouse", "", "instead of --decisions: ClickHouse DSN clickhouse://HOST:PORT/DB holding risk_decisions")
	fromS := fs.String("from", "", "with --clickhouse: start of the period, RFC 3339 or YYYY-MM-DD, UTC (inclusive)")
	toS := fs.String("to", "", "with --clickhouse: end of the period, RFC 3339 or YYYY-MM-DD, UTC (exclusive)")
	fs.StringVar(&f.out, "out", "", "the HTML page to write (- for stdout)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, usageError(fmt.Sprintf("report takes no arguments, got %q", fs.Args()))
	case (f.decisions == "") == (f.dsn == ""):
		return nil, usageError("report needs --decisions FILE or --clickhouse DSN --from T --to T (one of them)")
	case f.out == "":
		return nil, usageError("report needs --out FILE.html (- for stdout)")
	case f.decisions != "" && (*fromS != "" || *toS != ""):
		return nil, usageError("--from and --to go with --clickhouse; a --decisions file is reported whole")
	case f.dsn != "" && (*fromS == "" || *toS == ""):
		return nil, usageError("report --clickhouse needs --from T --to T")
	}
	if f.dsn == "" {
		return f, nil
	}
	var err error
	if f.from, err = parseTime(*fromS); err != nil {
		return nil, usageError("--from: " + err.Error())
	}
	if f.to, err = parseTime(*toS); err != nil {
		return nil, usageError("--to: " + err.Error())
	}
	if !f.to.After(f.from) {
		return nil, usageError("--to must be after --from")
	}
	return f, nil
}

// reportCmd is `riskd report`: decisions from a file or ClickHouse,
// aggregated while they stream, written as one self-contained HTML page.
func reportCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f, err := parseReportFlags(args, stderr)
	if err != nil {
		return err
	}
	agg := report.New(report.DefaultLimits)
	meta := report.Meta{Generated: time.Now()}
	if f.dsn != "" {
		conn, db, err := storage.Open(f.dsn)
		if err != nil {
			return err
		}
		defer conn.Close()
		meta.Source, meta.From, meta.To = "ClickHouse "+db+"."+storage.DecisionsTable, f.from, f.to
		if _, err := storage.EachDecision(ctx, conn, db, f.from, f.to, agg.Add); err != nil {
			return fmt.Errorf("%w (is the DSN's database the one riskd run --clickhouse writes to?)", err)
		}
	} else {
		meta.Source = displayName(f.decisions)
		if err := readDecisionsFile(f.decisions, stdin, agg); err != nil {
			return err
		}
	}
	if err := writeReport(f.out, stdout, agg, meta); err != nil {
		return err
	}
	if f.out != "-" {
		fmt.Fprintf(stderr, "report: %d decisions from %s written to %s\n", agg.Decisions, meta.Source, f.out)
	}
	return nil
}

// readDecisionsFile adds every decision of the JSON Lines file name (stdin
// for "-") to agg, line by line; blank lines are skipped, and a line that
// is not a decision stops the report with its line number.
func readDecisionsFile(name string, stdin io.Reader, agg *report.Aggregate) error {
	in := stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("--decisions: %w", err)
		}
		defer file.Close()
		in = file
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxDecisionLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var d rules.Decision
		// Called directly: json.Unmarshal would check the line once
		// before UnmarshalJSON checks it again, a quarter of the time.
		if err := d.UnmarshalJSON(b); err != nil {
			return fmt.Errorf("%s:%d: not a decision (contract §2): %v; fix or remove the line", displayName(name), line, err)
		}
		if err := agg.Add(&d); err != nil {
			return fmt.Errorf("%s:%d: %v; fix or remove the line", displayName(name), line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s:%d: line longer than %d MiB: not a decision; is this a JSON Lines file?", displayName(name), line+1, maxDecisionLine>>20)
		}
		return fmt.Errorf("%s:%d: %w", displayName(name), line+1, err)
	}
	return nil
}

// writeReport renders the page to out (stdout for "-") through a file
// beside it, renamed into place once complete: a failed report leaves no
// half page, and an earlier one stays.
func writeReport(out string, stdout io.Writer, agg *report.Aggregate, meta report.Meta) error {
	if out == "-" {
		return report.Render(stdout, agg, meta)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	w := bufio.NewWriter(tmp)
	err = report.Render(w, agg, meta)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	return nil
}
