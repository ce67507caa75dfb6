package storage

import (
	"errors"
	"net/url"
)

// RedactDSN returns dsn fit for a log line or an error: with the password
// replaced by "xxxxx", or a placeholder when dsn does not parse as a URL
// (where the password would be cannot be known then, so nothing of it is
// shown).
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(a DSN that is not a URL; not shown, it may hold a password)"
	}
	return u.Redacted()
}

// dsnError strips the DSN from a parse error: url.Error quotes the whole
// URL, password included.
func dsnError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
