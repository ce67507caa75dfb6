package storage

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// caParam is riskd's own DSN parameter naming a PEM file of the
// authorities that sign ClickHouse's certificate, for a private CA:
// clickhouse-go's secure=true trusts only the system's.
const caParam = "tls_ca_file"

// parseDSN parses a ClickHouse DSN as clickhouse-go does (user, password,
// secure=true for TLS, skip_verify, tls_server_name, ...), and takes
// tls_ca_file off it first to trust that file's authorities.
func parseDSN(dsn string) (*clickhouse.Options, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	ca := q.Get(caParam)
	if !q.Has(caParam) {
		return clickhouse.ParseDSN(dsn)
	}
	q.Del(caParam)
	u.RawQuery = q.Encode()
	opts, err := clickhouse.ParseDSN(u.String())
	if err != nil {
		return nil, err
	}
	if opts.TLS == nil {
		return nil, fmt.Errorf("%s needs secure=true in the DSN (and ClickHouse's TLS port, 9440 by default)", caParam)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caParam, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in the file", caParam, ca)
	}
	opts.TLS.RootCAs = pool
	return opts, nil
}

// RedactDSN returns dsn fit for a log line or an error: scheme, user, host
// and database, never a password, whether in the user part or in the query
// (?password=), and no query at all. A DSN without a //HOST authority (a
// missing scheme, a typo) is not shown: where its password is cannot be
// told.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "(a DSN not of the form clickhouse://[USER:PASSWORD@]HOST:PORT/DB; not shown, it may hold a password)"
	}
	out := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		out.User = url.User(u.User.Username())
	}
	s := out.String()
	if u.RawQuery != "" {
		s += "?…"
	}
	return s
}

// dsnError makes a parse error of dsn safe to show: url.Error quotes the
// whole URL, and a driver's error may quote a query value, so every secret
// the DSN holds is cut out of the message.
func dsnError(dsn string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	for _, secret := range dsnSecrets(dsn) {
		msg = strings.ReplaceAll(msg, secret, "xxxxx")
	}
	return errors.New(msg)
}

// dsnSecrets lists what of dsn must never be printed: the password of the
// user part and of the query, and, since a DSN that does not parse can
// hold its password anywhere, the whole DSN.
func dsnSecrets(dsn string) []string {
	secrets := []string{dsn}
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		secrets = append(secrets, dsn[:at])
	}
	if u, err := url.Parse(dsn); err == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p)
		}
		for _, p := range u.Query()["password"] {
			if p != "" {
				secrets = append(secrets, p)
			}
		}
	}
	return secrets
}
