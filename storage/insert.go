package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/cenkalti/backoff/v5"
)

// Table is a table rows are inserted into: risk_features or risk_decisions.
type Table struct {
	conn    driver.Conn
	name    string // db.table
	columns []string
	row     func([]byte) ([]any, error)
}

// Features returns the risk_features table of db; its rows are made
// from the feature records of the features topic (package record).
func Features(conn driver.Conn, db string) *Table {
	return &Table{conn: conn, name: db + "." + FeaturesTable, columns: FeatureColumns(), row: featureRow}
}

// Decisions returns the risk_decisions table of db; its rows are made from
// decisions as the decisions topic carries them.
func Decisions(conn driver.Conn, db string) *Table {
	return &Table{conn: conn, name: db + "." + DecisionsTable, columns: DecisionColumns(), row: decisionRow}
}

// Name is db.table.
func (t *Table) Name() string { return t.name }

// Row turns a message value into the table's row.
func (t *Table) Row(b []byte) ([]any, error) { return t.row(b) }

// Insert writes rows in one native-protocol batch, naming every column.
// On failure it sends the identical block again, after waits that double
// from 100 ms to 30 s, each jittered by ±50 % so that the members of a
// fleet do not all come back at once after an outage, until it succeeds
// or ctx ends; report (which may be nil) hears of every failed attempt.
// Rows that arrive twice are folded by the tables' ReplacingMergeTree.
func (t *Table) Insert(ctx context.Context, rows [][]any, report func(error)) error {
	if len(rows) == 0 {
		return nil
	}
	// No MaxElapsedTime (the library's default is 15 minutes): only ctx
	// ends the retries, however long ClickHouse is away.
	wait := &backoff.ExponentialBackOff{
		InitialInterval: 100 * time.Millisecond, MaxInterval: 30 * time.Second,
		Multiplier: 2, RandomizationFactor: backoff.DefaultRandomizationFactor,
	}
	var last error
	send := func() (struct{}, error) {
		if last = t.send(ctx, rows); last != nil && report != nil {
			report(last)
		}
		return struct{}{}, last
	}
	if _, err := backoff.Retry(ctx, send, backoff.WithBackOff(wait), backoff.WithMaxElapsedTime(0)); err != nil {
		return fmt.Errorf("insert into %s abandoned: %w (last error: %v)", t.name, err, last)
	}
	return nil
}

func (t *Table) send(ctx context.Context, rows [][]any) error {
	batch, err := t.conn.PrepareBatch(ctx, "INSERT INTO "+t.name+" ("+strings.Join(t.columns, ", ")+")")
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := batch.Append(r...); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return batch.Send()
}
