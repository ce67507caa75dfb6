package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/storage"
)

// TestSchemaVersionGate checks the one type newer than 18.16 is used only
// where the server has it.
func TestSchemaVersionGate(t *testing.T) {
	for _, tc := range []struct {
		v    storage.Version
		want bool
	}{{storage.Version{18, 16}, false}, {storage.Version{19, 1}, false}, {storage.Version{19, 3}, true}, {storage.Version{24, 8}, true}} {
		if got := tc.v.HasLowCardinality(); got != tc.want {
			t.Errorf("%v: HasLowCardinality = %v", tc.v, got)
		}
		ddl := storage.CreateStatements("db", tc.v)
		if strings.Contains(strings.Join(ddl, "\n"), "LowCardinality") != tc.want {
			t.Errorf("%v: LowCardinality in DDL = %v, want %v", tc.v, !tc.want, tc.want)
		}
	}
}

// TestEveryFeatureHasItsColumn checks that the migrations give
// risk_features every feature column exactly once: in the table migration
// 1 creates, or in a later migration's ALTER (a feature added since).
func TestEveryFeatureHasItsColumn(t *testing.T) {
	ddl := storage.CreateStatements("db", storage.Version{18, 16})
	for _, name := range storage.FeatureColumns() {
		n := 0
		for _, stmt := range ddl {
			if strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS db.risk_features") {
				n += strings.Count(stmt, "\n    "+name+" ")
			}
			if strings.HasPrefix(stmt, "ALTER TABLE db.risk_features") {
				n += strings.Count(stmt, "ADD COLUMN "+name+" ")
			}
		}
		if n != 1 {
			t.Errorf("column %s: defined %d times by the migrations, want once", name, n)
		}
	}
}

// TestClickHouseTables stores the traffic twice (a redelivery) and checks
// that the tables fold it to one row per event and per decision, that the
// features read back restore what the rules read, that the analysts'
// queries run, and that retention drops old days.
func TestClickHouseTables(t *testing.T) {
	dsn, _ := chtest.DSN(t)
	conn, db := chtest.Open(t, dsn)
	ctx := context.Background()
	if err := storage.Migrate(ctx, conn, db); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var migrations uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".riskd_migrations").Scan(&migrations); err != nil || migrations != 3 {
		t.Fatalf("migrations recorded: %d, %v", migrations, err)
	}

	fx := chtest.NewFixture(t, "../")
	fx.Store(t, conn, db) // and again, as a redelivery would
	fx.Store(t, conn, db)
	n, uniq := chtest.Optimize(t, conn, db)
	if n != uint64(fx.Events) || uniq != uint64(fx.Events) {
		t.Errorf("risk_features: %d rows, %d event ids after OPTIMIZE FINAL; want %d", n, uniq, fx.Events)
	}
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(decision_id) FROM "+db+".risk_decisions").Scan(&n, &uniq); err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(fx.DecisionIDs)) || uniq != n {
		t.Errorf("risk_decisions: %d rows, %d ids; want %d", n, uniq, len(fx.DecisionIDs))
	}
	var sprayRows uint64
	if err := conn.QueryRow(ctx, "SELECT countIf(ip_fired = 1) FROM "+db+".risk_features").Scan(&sprayRows); err != nil {
		t.Fatal(err)
	}
	if sprayRows == 0 {
		t.Error("no row kept the address stage's password-spray signal: the stage-1 rows did not replace the stage-0 ones")
	}

	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range storage.Queries() {
		rows, err := conn.Query(ctx, q.Bind(db, from, to, "u0001"))
		if err != nil {
			t.Errorf("query %s: %v", q.Name, err)
			continue
		}
		got := 0
		for rows.Next() {
			got++
		}
		rows.Close()
		if got == 0 {
			t.Errorf("query %s returned nothing", q.Name)
		}
		t.Logf("query %s: %d rows", q.Name, got)
	}

	// The traffic spans 2 to 4 March 2026: keeping one day on the 5th
	// leaves the 4th.
	dropped, err := storage.DropOlderThan(ctx, conn, db, 1, time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("retention dropped %v", dropped)
	var oldest time.Time
	if err := conn.QueryRow(ctx, "SELECT min(ts) FROM "+db+".risk_features").Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if len(dropped) == 0 || oldest.Before(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("retention of 1 day on 2026-03-05 left rows from %s (dropped %v)", oldest, dropped)
	}
}
