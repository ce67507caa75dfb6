package storage

import (
	"strings"
	"testing"
)

func TestOpenNeverEchoesThePassword(t *testing.T) {
	for _, dsn := range []string{
		"clickhouse://alice:s3cretpw@host:9000/db?dial_timeout=nonsense",
		"clickhouse://alice:s3cretpw@ho st:9000/db",
		"clickhouse://alice:s3cretpw@host:notaport/db",
		"clickhouse://alice:s3cretpw%zz@host:9000/db",
		"://alice:s3cretpw@host",
		"clickhouse://alice:s3cretpw@host:9000/db?compress=bogus",
	} {
		conn, _, err := Open(dsn)
		if err == nil {
			conn.Close()
			continue // connects lazily: nothing printed
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("Open(%q) error shows the password: %v", dsn, err)
		}
	}
	if got := RedactDSN("clickhouse://alice:s3cretpw@host:9000/db"); strings.Contains(got, "s3cretpw") || !strings.Contains(got, "alice") {
		t.Errorf("RedactDSN = %q", got)
	}
}
