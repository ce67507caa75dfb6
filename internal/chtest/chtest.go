// Package chtest gives the storage tests their ClickHouse: the server
// `make test` starts (scripts/clickhouse.sh) and names in
// RISKD_TEST_CLICKHOUSE. Under RISKD_REQUIRE_SERVICES=1 a missing server
// fails the test; otherwise (a plain `go test`) the test is skipped.
package chtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/pipeline/record"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/storage"
)

// EnvDSN names the test server's DSN.
const EnvDSN = "RISKD_TEST_CLICKHOUSE"

// DSN returns the test server's DSN with a database of its own for t
// (dropped afterwards), or fails or skips t when there is no server.
func DSN(t testing.TB) (dsn, db string) {
	t.Helper()
	base := os.Getenv(EnvDSN)
	if base == "" {
		if os.Getenv("RISKD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set although RISKD_REQUIRE_SERVICES=1: start ClickHouse with scripts/clickhouse.sh start (make test does)", EnvDSN)
		}
		t.Skipf("%s not set: no ClickHouse to test against (make test starts one)", EnvDSN)
	}
	db = fmt.Sprintf("riskd_test_%06d", rand.IntN(1e6))
	dsn = base[:strings.LastIndex(base, "/")+1] + db
	t.Cleanup(func() {
		conn, _, err := storage.Open(base)
		if err == nil {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
			conn.Close()
		}
	})
	return dsn, db
}

// Open connects to dsn and migrates its database.
func Open(t testing.TB, dsn string) (driver.Conn, string) {
	t.Helper()
	conn, db, err := storage.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := storage.Migrate(context.Background(), conn, db); err != nil {
		t.Fatal(err)
	}
	return conn, db
}

// Server runs scripts/clickhouse.sh with verb (stop or restart), for the
// outage tests.
func Server(t testing.TB, verb string) {
	t.Helper()
	testenv.Script(t, "clickhouse.sh", verb)
}

// Fixture is the shipped traffic decided by the engine, as the streaming
// path hands it to the sink: feature records (user stage for every event,
// address stage for login attempts) and decisions.
type Fixture struct {
	Features    [][]byte
	Decisions   [][]byte
	Events      int
	DecisionIDs map[string]bool
	RulesDir    string
}

// NewFixture decides on the shipped traffic; root is the path of the
// repository from the test's package.
func NewFixture(t testing.TB, root string) Fixture {
	t.Helper()
	data, err := os.ReadFile(root + "testdata/scenarios/traffic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(root + "rules/pack")
	if err != nil {
		t.Fatal(err)
	}
	db, _ := geoip.Open(root+"testdata/geoip/riskd-test-City.mmdb", root+"testdata/geoip/riskd-test-ASN.mmdb")
	eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 4096))
	fx := Fixture{DecisionIDs: map[string]bool{}, RulesDir: root + "rules/pack"}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var out []rules.Decision
	add := func(stage uint8, line []byte, ev *event.Event) {
		fx.Features = append(fx.Features, record.AppendFeature(nil, &record.Feature{
			Stage: stage, RulesVersion: set.Version, Event: *ev, Raw: line, Features: *eng.Features()}))
	}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		ev, err := event.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		var toIP bool
		if out, toIP, err = eng.DecideUser(&ev, now, out[:0]); err != nil {
			t.Fatal(err)
		}
		fx.Events++
		add(record.StageUser, line, &ev)
		if toIP {
			uf := *eng.Features()
			out = eng.DecideIP(&ev, &uf, now, out)
			add(record.StageIP, line, &ev)
		}
		for i := range out {
			b, _ := json.Marshal(&out[i])
			fx.Decisions = append(fx.Decisions, b)
			fx.DecisionIDs[out[i].DecisionID] = true
		}
	}
	return fx
}

// Store inserts the fixture's rows into the tables of db.
func (fx Fixture) Store(t testing.TB, conn driver.Conn, db string) {
	t.Helper()
	for _, tc := range []struct {
		table *storage.Table
		msgs  [][]byte
	}{{storage.Features(conn, db), fx.Features}, {storage.Decisions(conn, db), fx.Decisions}} {
		rows := make([][]any, len(tc.msgs))
		for i, m := range tc.msgs {
			r, err := tc.table.Row(m)
			if err != nil {
				t.Fatal(err)
			}
			rows[i] = r
		}
		if err := tc.table.Insert(context.Background(), rows, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// Optimize merges both tables of db (OPTIMIZE TABLE ... FINAL) and returns
// the rows and distinct event ids of risk_features afterwards.
func Optimize(t testing.TB, conn driver.Conn, db string) (rows, events uint64) {
	t.Helper()
	ctx := context.Background()
	for _, table := range []string{storage.FeaturesTable, storage.DecisionsTable} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+db+"."+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+db+"."+storage.FeaturesTable).Scan(&rows, &events); err != nil {
		t.Fatal(err)
	}
	return rows, events
}
