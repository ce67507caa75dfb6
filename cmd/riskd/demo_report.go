package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/storage"
)

// report writes what the demo caught, received and measured, and where to
// look next.
func (d *demo) report(ctx context.Context, stdout io.Writer, traffic [][]byte, labels scenario.Labels, res demoRun) error {
	ds, lat := res.down.results()
	if d.f.out != "" {
		if err := writeDecisions(d.f.out, ds); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\nriskd demo: %d events through the streaming path (embedded broker, %d partitions, group riskd-demo)\n\n", len(traffic), d.f.partitions)
	fmt.Fprintf(stdout, "attacks caught (a decision naming the expected detector, at least the expected action):\n%s\n", scenario.Score(labels, ds))
	fmt.Fprintf(stdout, "decisions received by the downstream consumer: %d\n", len(ds))
	for _, line := range countDecisions(ds) {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	fmt.Fprintf(stdout, "\nthroughput: %d events in %s, %.0f events/s (produced in %s at %s)\n", len(traffic), res.elapsed.Round(time.Millisecond),
		float64(len(traffic))/res.elapsed.Seconds(), res.producedIn.Round(time.Millisecond), rateText(d.f.rate))
	if len(lat) > 0 {
		fmt.Fprintf(stdout, "latency, event produced to decision received downstream: p50 %s, p90 %s, p99 %s, max %s (%d decisions)\n",
			pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), pct(lat, 1), len(lat))
	}
	fmt.Fprintf(stdout, "\nengine metrics (served at http://%s/metrics while the demo ran):\n", d.addr)
	for _, line := range metricSummary(d.reg) {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	chLine := "ClickHouse: not configured; riskd demo --clickhouse clickhouse://HOST:9000/DB (or riskd run --clickhouse) stores features and decisions"
	if d.chConn != nil {
		chLine = demoClickHouse(ctx, stdout, d.chConn, d.chDB, len(traffic))
	}
	fmt.Fprintf(stdout, `
where to look next:
  riskd run --brokers HOST:PORT      the same path against your Kafka (README: "Running riskd")
  curl -s http://127.0.0.1:9464/metrics | grep ^riskd_     while riskd run is up
  riskd replay --events FILE ...     the same decisions offline
  %s
`, chLine)
	return nil
}

// writeDecisions writes ds to path as JSON Lines.
func writeDecisions(path string, ds []rules.Decision) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	jl := alerting.NewJSONLines(f)
	err = jl.Write(ds)
	if ferr := jl.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// demoClickHouse waits for the sink to store the demo's events and shows
// what an analyst sees.
func demoClickHouse(ctx context.Context, w io.Writer, conn driver.Conn, db string, events int) string {
	var n uint64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if conn.QueryRow(ctx, "SELECT count() FROM "+db+".risk_features FINAL").Scan(&n) == nil && n >= uint64(events) {
			break
		}
	}
	var d uint64
	_ = conn.QueryRow(ctx, "SELECT count() FROM "+db+".risk_decisions FINAL").Scan(&d)
	fmt.Fprintf(w, "\nClickHouse %s: risk_features %d rows (of %d events), risk_decisions %d rows\n", db, n, events, d)
	for _, q := range storage.Queries() {
		if q.Name != "top_risky_users" {
			continue
		}
		rows, err := conn.Query(ctx, q.Bind(db, time.Unix(0, 0), time.Now().AddDate(10, 0, 0), ""))
		if err != nil {
			fmt.Fprintf(w, "  %s: %v\n", q.Name, err)
			break
		}
		fmt.Fprintf(w, "top risky users (storage/queries.sql: %s):\n", q.Name)
		for i := 0; rows.Next() && i < 5; i++ {
			var user string
			var lockouts, stepUps uint64
			var score float64
			var ruleIDs []string
			if rows.Scan(&user, &lockouts, &stepUps, &score, &ruleIDs) == nil {
				fmt.Fprintf(w, "  %-10s lockouts %3d  step-ups %3d  max score %3.0f  %s\n", user, lockouts, stepUps, score, strings.Join(ruleIDs, ","))
			}
		}
		rows.Close()
	}
	return "riskd backtest --clickhouse DSN --rules DIR --from 2026-03-01 --to 2026-03-08   try a rule change on these rows"
}
