package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/riskd/riskd/rules"
)

// EachDecision calls fn with every stored decision whose ts is in
// [from, to), folded (FINAL) so that a redelivered decision comes once, as
// the contract §2 decision it was stored from (evidence included). Rows
// stream from the server: memory stays flat however many match. The query
// is plain SELECT ... FINAL WHERE with bound DateTimes, which ClickHouse
// 18.16 and current servers both run. A row that is not a decision (an
// unknown action, reasons that are not JSON) stops the read with an error
// naming it.
func EachDecision(ctx context.Context, conn driver.Conn, db string, from, to time.Time, fn func(*rules.Decision) error) (int, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf(
		"SELECT decision_id, event_id, user_id, subject_kind, subject_id, action, score, ts_ms, decided_at, expires_at_ms, mode, rules_version, reasons"+
			" FROM %s.%s FINAL WHERE ts >= ? AND ts < ?", db, DecisionsTable), from.UTC(), to.UTC())
	if err != nil {
		return 0, fmt.Errorf("clickhouse: read %s.%s: %w", db, DecisionsTable, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			d                 rules.Decision
			action, mode, rs  string
			tsMS, expiresAtMS int64
		)
		if err := rows.Scan(&d.DecisionID, &d.EventID, &d.UserID, &d.Subject.Kind, &d.Subject.ID, &action, &d.Score,
			&tsMS, &d.DecidedAt, &expiresAtMS, &mode, &d.RulesVersion, &rs); err != nil {
			return n, fmt.Errorf("clickhouse: read %s.%s: %w", db, DecisionsTable, err)
		}
		if d.Action, err = rules.ParseAction(action); err != nil {
			return n, fmt.Errorf("%s.%s: decision %q: %w", db, DecisionsTable, d.DecisionID, err)
		}
		if err := json.Unmarshal([]byte(rs), &d.Reasons); err != nil {
			return n, fmt.Errorf("%s.%s: decision %q: reasons: %w", db, DecisionsTable, d.DecisionID, err)
		}
		d.Mode = rules.Mode(mode)
		d.TS, d.ExpiresAt = time.UnixMilli(tsMS).UTC(), time.UnixMilli(expiresAtMS).UTC()
		d.DecidedAt = d.DecidedAt.UTC()
		n++
		if err := fn(&d); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("clickhouse: read %s.%s: %w", db, DecisionsTable, err)
	}
	return n, nil
}
