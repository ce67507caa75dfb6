package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DropOlderThan drops the daily partitions of risk_features and
// risk_decisions that hold only days before now minus days, and returns
// the partitions dropped. It reads system.parts and uses ALTER TABLE ...
// DROP PARTITION, which 18.16 has (TTL clauses came later).
func DropOlderThan(ctx context.Context, conn driver.Conn, db string, days int, now time.Time) ([]string, error) {
	if days <= 0 {
		return nil, nil
	}
	cutoff, _ := strconv.Atoi(now.UTC().AddDate(0, 0, -days).Format("20060102"))
	var dropped []string
	for _, table := range []string{FeaturesTable, DecisionsTable} {
		rows, err := conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active", db, table)
		if err != nil {
			return dropped, fmt.Errorf("retention: %w", err)
		}
		var parts []int
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return dropped, err
			}
			if n, err := strconv.Atoi(p); err == nil && n < cutoff {
				parts = append(parts, n)
			}
		}
		rows.Close()
		for _, p := range parts {
			if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %d", db, table, p)); err != nil {
				return dropped, fmt.Errorf("retention: drop %s partition %d: %w", table, p, err)
			}
			dropped = append(dropped, fmt.Sprintf("%s/%d", table, p))
		}
	}
	return dropped, nil
}
