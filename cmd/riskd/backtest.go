package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/riskd/riskd/storage"
	"github.com/riskd/riskd/storage/backtest"
)

// backtestCmd is `riskd backtest`: candidate rules over stored features,
// compared with what was decided.
func backtestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("clickhouse", "", "ClickHouse DSN clickhouse://HOST:PORT/DB holding risk_features and risk_decisions")
	rulesDir := fs.String("rules", "", "folder of the candidate rule files (default: the shipped pack)")
	fromS := fs.String("from", "", "start of the period, RFC 3339 or YYYY-MM-DD (inclusive)")
	toS := fs.String("to", "", "end of the period, RFC 3339 or YYYY-MM-DD (exclusive)")
	asJSON := fs.Bool("json", false, "write the report as JSON (every change included)")
	maxChanges := fs.Int("changes", 50, "changes listed in the text report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" || *fromS == "" || *toS == "" {
		return usageError("backtest needs --clickhouse DSN --from T --to T")
	}
	from, err := parseTime(*fromS)
	if err != nil {
		return usageError("--from: " + err.Error())
	}
	to, err := parseTime(*toS)
	if err != nil {
		return usageError("--to: " + err.Error())
	}
	if !to.After(from) {
		return usageError("--to must be after --from")
	}
	set, err := loadRules(*rulesDir)
	if err != nil {
		return err
	}
	conn, db, err := storage.Open(*dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(stderr, "backtest: rules %s (%d rules) over %s .. %s in %s\n", set.Version, len(set.Rules), from.Format(time.RFC3339), to.Format(time.RFC3339), db)
	rep, err := backtest.Run(ctx, backtest.Config{
		Conn: conn, DB: db, Rules: set, From: from, To: to,
		Progress: func(n int) {
			fmt.Fprintf(stderr, "backtest: %d events, %.0f events/s\n", n, float64(n)/time.Since(start).Seconds())
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "backtest: %d events in %s\n", rep.Events, time.Since(start).Round(time.Millisecond))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.WriteText(stdout, *maxChanges)
	return nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return t, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t, nil
}
