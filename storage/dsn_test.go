package storage

import (
	"os"
	"path/filepath"
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

// TestParseDSNSecurity checks that the DSN carries ClickHouse's user,
// password and TLS to clickhouse-go, with riskd's tls_ca_file for a
// private CA, and that its errors never show the password.
func TestParseDSNSecurity(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, testCA, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dsn        string
		user, password   string
		tls, skip, roots bool
	}{
		{name: "user and password", dsn: "clickhouse://alice:s3cretpw@h:9000/db", user: "alice", password: "s3cretpw"},
		{name: "password in the query", dsn: "clickhouse://h:9000/db?username=alice&password=s3cretpw", user: "alice", password: "s3cretpw"},
		{name: "TLS with the system's authorities", dsn: "clickhouse://alice:s3cretpw@h:9440/db?secure=true", user: "alice", password: "s3cretpw", tls: true},
		{name: "TLS without verification", dsn: "clickhouse://h:9440/db?secure=true&skip_verify=true", tls: true, skip: true},
		{name: "TLS with a private CA", dsn: "clickhouse://alice:s3cretpw@h:9440/db?secure=true&tls_ca_file=" + ca, user: "alice", password: "s3cretpw", tls: true, roots: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := parseDSN(tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if opts.Auth.Username != tc.user || opts.Auth.Password != tc.password {
				t.Errorf("user %q, password set %v; want %q, %v", opts.Auth.Username, opts.Auth.Password != "", tc.user, tc.password != "")
			}
			if (opts.TLS != nil) != tc.tls {
				t.Fatalf("TLS %v, want %v", opts.TLS != nil, tc.tls)
			}
			if opts.TLS != nil && (opts.TLS.InsecureSkipVerify != tc.skip || (opts.TLS.RootCAs != nil) != tc.roots) {
				t.Errorf("TLS skip_verify %v, own CAs %v; want %v, %v", opts.TLS.InsecureSkipVerify, opts.TLS.RootCAs != nil, tc.skip, tc.roots)
			}
			if _, ok := opts.Settings[caParam]; ok {
				t.Errorf("%s went to ClickHouse as a setting", caParam)
			}
		})
	}
	for _, tc := range []struct{ name, dsn, want string }{
		{"CA without TLS", "clickhouse://alice:s3cretpw@h:9000/db?tls_ca_file=" + ca, "tls_ca_file needs secure=true"},
		{"CA file missing", "clickhouse://alice:s3cretpw@h:9440/db?secure=true&tls_ca_file=/nonexistent.pem", "tls_ca_file: open /nonexistent.pem"},
		{"CA file not PEM", "clickhouse://alice:s3cretpw@h:9440/db?secure=true&tls_ca_file=" + os.Args[0], "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, _, err := Open(tc.dsn)
			if err == nil {
				conn.Close()
				t.Fatalf("Open(%q) succeeded, want %q", tc.dsn, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cretpw") {
				t.Errorf("error %q: want %q and no password", err, tc.want)
			}
		})
	}
}

// testCA is a self-signed certificate, for a file of authorities.
var testCA = []byte(`-----BEGIN CERTIFICATE-----
MIIBgDCCASWgAwIBAgIUQnVdZbrKk0b2kwA51MaIRtBVRNQwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKcmlza2QtdGVzdDAeFw0yNjEyMDMxMzU4MjVaFw0zNjExMzAx
MzU4MjVaMBUxEzARBgNVBAMMCnJpc2tkLXRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASXeZYp4qP8DL9E00se1S5UWFQUPr8D49kRE5NqHFkEJOwFuu8QsArf
WmFuyDytz2TzNIJYgdjT6eywuxjMQbvyo1MwUTAdBgNVHQ4EFgQUOVBqE5yZGVEp
lK6+ugcD14klWacwHwYDVR0jBBgwFoAUOVBqE5yZGVEplK6+ugcD14klWacwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAu4Je4dNnDVitt+GAuiTj
mGIeSZXjsc/HpZ71QhPRZ6YCIQDoA0fRvt+EpcUq8YZ4GCvLgLhJNpvKN7Pf+3Vc
DolXbw==
-----END CERTIFICATE-----
`)
