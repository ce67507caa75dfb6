package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
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
// On failure it sends the identical block again, with backoff from 100 ms
// to 30 s, until it succeeds or ctx ends; report (which may be nil) hears of
// every failed attempt. Rows that arrive twice are folded by the tables'
// ReplacingMergeTree.
func (t *Table) Insert(ctx context.Context, rows [][]any, report func(error)) error {
	if len(rows) == 0 {
		return nil
	}
	backoff := 100 * time.Millisecond
	for {
		err := t.send(ctx, rows)
		if err == nil {
			return nil
		}
		if report != nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("insert into %s abandoned: %w (last error: %v)", t.name, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
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
