package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/storage"
	"github.com/riskd/riskd/storage/chtest"
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

// fixture is the shipped traffic decided by the engine, as the streaming
// path would hand it to the sink.
type fixture struct {
	features  [][]byte // feature records (user stage, and ip stage for attempts)
	decisions [][]byte
	events    int
	ids       map[string]bool
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	data, err := os.ReadFile("../testdata/scenarios/traffic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load("../rules")
	if err != nil {
		t.Fatal(err)
	}
	db, _ := geoip.Open("../testdata/geoip/riskd-test-City.mmdb", "../testdata/geoip/riskd-test-ASN.mmdb")
	eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 4096))
	fx := fixture{ids: map[string]bool{}}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var out []rules.Decision
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		ev, err := event.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		var toIP bool
		out, toIP, err = eng.DecideUser(&ev, now, out[:0])
		if err != nil {
			t.Fatal(err)
		}
		fx.events++
		fx.add(t, storage.StageUser, line, &ev, eng.Features(), set.Version)
		if toIP {
			uf := *eng.Features()
			if out, err = eng.DecideIP(&ev, &uf, now, out); err != nil {
				t.Fatal(err)
			}
			fx.add(t, storage.StageIP, line, &ev, eng.Features(), set.Version)
		}
		for i := range out {
			b, _ := json.Marshal(&out[i])
			fx.decisions = append(fx.decisions, b)
			fx.ids[out[i].DecisionID] = true
		}
	}
	return fx
}

func (fx *fixture) add(t testing.TB, stage string, line []byte, ev *event.Event, f *detectors.Features, version string) {
	b, err := json.Marshal(storage.NewFeatureRecord(stage, line, ev, f, version))
	if err != nil {
		t.Fatal(err)
	}
	fx.features = append(fx.features, b)
}

func rowsOf(t testing.TB, table *storage.Table, msgs [][]byte) [][]any {
	t.Helper()
	out := make([][]any, len(msgs))
	for i, m := range msgs {
		r, err := table.Row(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r
	}
	return out
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
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".riskd_migrations").Scan(&migrations); err != nil || migrations != 2 {
		t.Fatalf("migrations recorded: %d, %v", migrations, err)
	}

	fx := newFixture(t)
	features, decisions := storage.Features(conn, db), storage.Decisions(conn, db)
	frows, drows := rowsOf(t, features, fx.features), rowsOf(t, decisions, fx.decisions)
	for i := 0; i < 2; i++ {
		if err := features.Insert(ctx, frows, nil); err != nil {
			t.Fatal(err)
		}
		if err := decisions.Insert(ctx, drows, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tbl := range []string{"risk_features", "risk_decisions"} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+db+"."+tbl+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
	var n, uniq uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+db+".risk_features").Scan(&n, &uniq); err != nil {
		t.Fatal(err)
	}
	if n != uint64(fx.events) || uniq != uint64(fx.events) {
		t.Errorf("risk_features: %d rows, %d event ids after OPTIMIZE FINAL; want %d", n, uniq, fx.events)
	}
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(decision_id) FROM "+db+".risk_decisions").Scan(&n, &uniq); err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(fx.ids)) || uniq != n {
		t.Errorf("risk_decisions: %d rows, %d ids; want %d", n, uniq, len(fx.ids))
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
