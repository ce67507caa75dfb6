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
		"alice:s3cretpw@127.0.0.1:9000/db",
		"clickhouse:s3cretpw@h:1/db",
		"clickhouse://h:1/db?password=s3cretpw&dial_timeout=xx",
		"clickhouse://h:1/db?password=s3cretpw&secure=x",
		"clickhouse://h:1/db?password=s3cretpw&max_open_conns=x",
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
	for _, dsn := range []string{"clickhouse://alice:s3cretpw@host:9000/db", "clickhouse://alice@host:9000/db?password=s3cretpw", "alice:s3cretpw@host:9000/db"} {
		if got := RedactDSN(dsn); strings.Contains(got, "s3cretpw") {
			t.Errorf("RedactDSN(%q) = %q", dsn, got)
		}
	}
	if got := RedactDSN("clickhouse://alice:s3cretpw@host:9000/db?debug=1"); got != "clickhouse://alice@host:9000/db?…" {
		t.Errorf("RedactDSN keeps user, host and database: %q", got)
	}
}
