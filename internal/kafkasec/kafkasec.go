// Package kafkasec builds the security of riskd's Kafka connections, TLS
// and SASL, from its settings, for every kafka-go client riskd makes: the
// Dialer of the consumer groups, readers and changelog connections, and
// the Transport of the writers and admin clients. It also turns the
// brokers' refusals (a wrong password, an unknown certificate authority)
// into errors that say which setting to check, without the password.
package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// The SASL mechanisms riskd speaks, as Kafka names them.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists the SASL mechanisms Settings.Mechanism accepts.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512}

// PasswordEnv is the environment variable the SASL password comes from
// when no password file is named. A password is never a flag value: it
// would show in ps and in shell history.
const PasswordEnv = "RISKD_KAFKA_SASL_PASSWORD"

// dialTimeout bounds a connection's dial, TLS handshake included.
const dialTimeout = 10 * time.Second

// Settings are the connection security settings, as the flags give them.
// The zero value is a plaintext connection without authentication.
type Settings struct {
	// TLS turns TLS on with the system's certificate authorities; naming
	// CAFile or CertFile turns it on too.
	TLS bool
	// CAFile is a PEM file of the authorities that sign the brokers'
	// certificates (instead of the system's).
	CAFile string
	// CertFile and KeyFile are the client's PEM certificate and key, for
	// brokers that ask for one (ssl.client.auth); both or neither.
	CertFile, KeyFile string
	// Mechanism is the SASL mechanism (see Mechanisms), empty for none.
	Mechanism string
	// User is the SASL user name.
	User string
	// Password is the SASL password, from PasswordEnv; PasswordFile, when
	// named, holds it instead (its trailing line break is not part of it).
	Password     string
	PasswordFile string
}

// Security is what Settings build: the TLS configuration and the SASL
// mechanism of the connections, nil for none.
type Security struct {
	TLS  *tls.Config
	SASL sasl.Mechanism
	// mechanism and user name the SASL login in errors and logs.
	mechanism, user string
}

// Build checks s and loads its files. An error names the setting at fault
// and never the password.
func (s Settings) Build() (*Security, error) {
	sec := &Security{}
	tlsConf, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	sec.TLS = tlsConf
	if err := s.sasl(sec); err != nil {
		return nil, err
	}
	return sec, nil
}

// tlsConfig returns the TLS configuration of s, nil when TLS is off.
func (s Settings) tlsConfig() (*tls.Config, error) {
	if s.KeyFile != "" && s.CertFile == "" {
		return nil, errors.New("--kafka-tls-key without --kafka-tls-cert: name the client certificate too, or neither")
	}
	if s.CertFile != "" && s.KeyFile == "" {
		return nil, errors.New("--kafka-tls-cert without --kafka-tls-key: name the certificate's private key too, or neither")
	}
	if !s.TLS && s.CAFile == "" && s.CertFile == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kafka-tls-ca %s: no PEM certificate in the file (want the authority's certificate, -----BEGIN CERTIFICATE-----)", s.CAFile)
		}
		conf.RootCAs = pool
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-cert %s and --kafka-tls-key %s: %w", s.CertFile, s.KeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// sasl sets the SASL mechanism of sec from s.
func (s Settings) sasl(sec *Security) error {
	if s.Mechanism == "" {
		if s.User != "" || s.PasswordFile != "" {
			return fmt.Errorf("a SASL user or password file without --kafka-sasl-mechanism: name the mechanism (%s)", strings.Join(Mechanisms, ", "))
		}
		return nil
	}
	mech := strings.ToUpper(s.Mechanism)
	if s.User == "" {
		return fmt.Errorf("--kafka-sasl-mechanism %s needs --kafka-sasl-user", mech)
	}
	password, err := s.password()
	if err != nil {
		return err
	}
	sec.mechanism, sec.user = mech, s.User
	switch mech {
	case Plain:
		sec.SASL = plain.Mechanism{Username: s.User, Password: password}
	case ScramSHA256, ScramSHA512:
		algo := scram.SHA256
		if mech == ScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.User, password)
		if err != nil {
			// The error is stringprep's about the user name or password;
			// it does not quote them.
			return fmt.Errorf("SASL %s user %q: %v", mech, s.User, err)
		}
		sec.SASL = m
	default:
		return fmt.Errorf("--kafka-sasl-mechanism %q is not one of %s", s.Mechanism, strings.Join(Mechanisms, ", "))
	}
	sec.SASL = named{sec.SASL, mech + " as " + s.User}
	return nil
}

// password returns the SASL password of s: the file's when one is named,
// else the environment's.
func (s Settings) password() (string, error) {
	if s.PasswordFile != "" && s.Password != "" {
		return "", fmt.Errorf("both %s and --kafka-sasl-password-file are set: keep one", PasswordEnv)
	}
	p := s.Password
	if s.PasswordFile != "" {
		data, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		p = strings.TrimRight(string(data), "\r\n")
	}
	if p == "" {
		return "", fmt.Errorf("SASL user %q has no password: set %s or --kafka-sasl-password-file (never a flag: it would show in ps)", s.User, PasswordEnv)
	}
	return p, nil
}

// named is a SASL mechanism that prints as its name and user: a Mechanism
// of kafka-go holds the password, and a %v of it would print it.
type named struct {
	sasl.Mechanism
	desc string
}

func (n named) String() string             { return n.desc }
func (n named) GoString() string           { return n.desc }
func (n named) Format(f fmt.State, _ rune) { fmt.Fprint(f, n.desc) }

// Dialer returns a kafka.Dialer over sec's TLS and SASL (a nil sec is a
// plain one), for consumer groups, readers and connections.
func (sec *Security) Dialer() *kafka.Dialer {
	d := &kafka.Dialer{Timeout: dialTimeout, DualStack: true}
	if sec != nil {
		d.TLS, d.SASLMechanism = sec.TLS, sec.SASL
	}
	return d
}

// Transport returns a kafka.Transport over sec's TLS and SASL, for
// writers and clients, or nil (kafka-go's default transport) when the
// connections are plain.
func (sec *Security) Transport() kafka.RoundTripper {
	if sec == nil || (sec.TLS == nil && sec.SASL == nil) {
		return nil
	}
	return &kafka.Transport{TLS: sec.TLS, SASL: sec.SASL, DialTimeout: dialTimeout}
}

// String describes the connections for the log: the protocol, and the
// SASL mechanism and user, never the password.
func (sec *Security) String() string {
	switch {
	case sec == nil || (sec.TLS == nil && sec.SASL == nil):
		return "PLAINTEXT"
	case sec.SASL == nil:
		return "SSL"
	case sec.TLS == nil:
		return "SASL_PLAINTEXT " + sec.mechanism + " as " + sec.user
	default:
		return "SASL_SSL " + sec.mechanism + " as " + sec.user
	}
}
