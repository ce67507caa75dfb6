package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ReadEvents calls fn with every stored event whose ts is in [from, to), in
// event-time order, folded (FINAL) so that each event comes once, as the
// address stage's row when there is one.
func ReadEvents(ctx context.Context, conn driver.Conn, db string, from, to time.Time, fn func(*StoredEvent) error) (int, error) {
	q := fmt.Sprintf("SELECT %s FROM %s.%s FINAL WHERE ts >= ? AND ts < ? ORDER BY ts_ms, event_id",
		strings.Join(FeatureColumns(), ", "), db, FeaturesTable)
	rows, err := conn.Query(ctx, q, from.UTC(), to.UTC())
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	vals := scanTargets()
	for rows.Next() {
		if err := rows.Scan(vals...); err != nil {
			return n, err
		}
		se, err := restoreRow(vals)
		if err != nil {
			return n, err
		}
		n++
		if err := fn(&se); err != nil {
			return n, err
		}
	}
	return n, rows.Err()
}

// StoredDecision is what risk_decisions says was decided.
type StoredDecision struct {
	EventID, UserID, SubjectKind, SubjectID, Action, Mode string
	Rules                                                 []string
}

// ReadDecisions returns the stored decisions of events in [from, to).
func ReadDecisions(ctx context.Context, conn driver.Conn, db string, from, to time.Time) ([]StoredDecision, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf(
		"SELECT event_id, user_id, subject_kind, subject_id, action, mode, rules FROM %s.%s FINAL WHERE ts >= ? AND ts < ?",
		db, DecisionsTable), from.UTC(), to.UTC())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredDecision
	for rows.Next() {
		var d StoredDecision
		if err := rows.Scan(&d.EventID, &d.UserID, &d.SubjectKind, &d.SubjectID, &d.Action, &d.Mode, &d.Rules); err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
