// Package chtest gives the storage tests their ClickHouse: the server
// `make test` starts (scripts/clickhouse.sh) and names in
// RISKD_TEST_CLICKHOUSE. Under RISKD_REQUIRE_SERVICES=1 a missing server
// fails the test; otherwise (a plain `go test`) the test is skipped.
package chtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "clickhouse.sh")
	out, err := exec.Command(script, verb).CombinedOutput()
	if err != nil {
		t.Fatalf("clickhouse.sh %s: %v: %s", verb, err, out)
	}
}
