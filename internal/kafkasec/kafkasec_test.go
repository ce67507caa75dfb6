package kafkasec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

const secret = "s3cret-Pw"

// pemFiles writes a self-signed certificate and its key to dir and
// returns their paths.
func pemFiles(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "riskd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write(t, cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, key, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})))
	return cert, key
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	cert, key := pemFiles(t, dir)
	pwFile := filepath.Join(dir, "password")
	write(t, pwFile, secret+"\n")
	for _, tc := range []struct {
		name     string
		s        Settings
		tls      bool
		certs    int
		ca       bool
		mech     string // of the SASL mechanism, "" for none
		describe string
	}{
		{name: "plain connection", s: Settings{}, describe: "PLAINTEXT"},
		{name: "TLS with the system's authorities", s: Settings{TLS: true}, tls: true, describe: "SSL"},
		{name: "a CA file turns TLS on", s: Settings{CAFile: cert}, tls: true, ca: true, describe: "SSL"},
		{name: "client certificate", s: Settings{CAFile: cert, CertFile: cert, KeyFile: key}, tls: true, ca: true, certs: 1, describe: "SSL"},
		{name: "SCRAM-SHA-512 over TLS", s: Settings{CAFile: cert, Mechanism: "SCRAM-SHA-512", User: "riskd", Password: secret},
			tls: true, ca: true, mech: ScramSHA512, describe: "SASL_SSL SCRAM-SHA-512 as riskd"},
		{name: "SCRAM-SHA-256, password from a file", s: Settings{TLS: true, Mechanism: "scram-sha-256", User: "riskd", PasswordFile: pwFile},
			tls: true, mech: ScramSHA256, describe: "SASL_SSL SCRAM-SHA-256 as riskd"},
		{name: "PLAIN without TLS", s: Settings{Mechanism: "PLAIN", User: "riskd", Password: secret},
			mech: Plain, describe: "SASL_PLAINTEXT PLAIN as riskd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := tc.s.Build()
			if err != nil {
				t.Fatal(err)
			}
			if got := sec.TLS != nil; got != tc.tls {
				t.Errorf("TLS on = %v, want %v", got, tc.tls)
			}
			if sec.TLS != nil && (len(sec.TLS.Certificates) != tc.certs || (sec.TLS.RootCAs != nil) != tc.ca) {
				t.Errorf("TLS has %d client certificates and own CAs %v, want %d and %v", len(sec.TLS.Certificates), sec.TLS.RootCAs != nil, tc.certs, tc.ca)
			}
			got := ""
			if sec.SASL != nil {
				got = sec.SASL.Name()
			}
			if got != tc.mech {
				t.Errorf("SASL mechanism %q, want %q", got, tc.mech)
			}
			if sec.String() != tc.describe {
				t.Errorf("String() = %q, want %q", sec.String(), tc.describe)
			}
			d := sec.Dialer()
			if d.TLS != sec.TLS || d.SASLMechanism != sec.SASL {
				t.Error("the Dialer does not carry the TLS and SASL settings")
			}
			tr := sec.Transport()
			if (tr == nil) != (!tc.tls && tc.mech == "") {
				t.Errorf("Transport() = %v: want the default (nil) exactly for a plain connection", tr)
			}
			if tr, ok := tr.(*kafka.Transport); ok && (tr.TLS != sec.TLS || tr.SASL != sec.SASL) {
				t.Error("the Transport does not carry the TLS and SASL settings")
			}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				if s := fmt.Sprintf(verb, sec.SASL); strings.Contains(s, secret) {
					t.Errorf("%s of the SASL mechanism shows the password: %s", verb, s)
				}
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := pemFiles(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	write(t, notPEM, "hello")
	empty := filepath.Join(dir, "empty")
	write(t, empty, "\n")
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		s    Settings
		want string
	}{
		{"CA file missing", Settings{CAFile: missing}, "--kafka-tls-ca: open " + missing},
		{"CA file not PEM", Settings{CAFile: notPEM}, "no PEM certificate"},
		{"certificate without key", Settings{CertFile: cert}, "--kafka-tls-cert without --kafka-tls-key"},
		{"key without certificate", Settings{KeyFile: key}, "--kafka-tls-key without --kafka-tls-cert"},
		{"key file missing", Settings{CertFile: cert, KeyFile: missing}, "--kafka-tls-key " + missing},
		{"key not matching", Settings{CertFile: cert, KeyFile: notPEM}, "--kafka-tls-cert"},
		{"unknown mechanism", Settings{Mechanism: "GSSAPI", User: "u", Password: secret}, `--kafka-sasl-mechanism "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"mechanism without user", Settings{Mechanism: "PLAIN", Password: secret}, "needs --kafka-sasl-user"},
		{"user without mechanism", Settings{User: "u"}, "without --kafka-sasl-mechanism"},
		{"no password", Settings{Mechanism: "SCRAM-SHA-512", User: "u"}, `user "u" has no password: set RISKD_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file`},
		{"empty password file", Settings{Mechanism: "SCRAM-SHA-512", User: "u", PasswordFile: empty}, "has no password"},
		{"password file missing", Settings{Mechanism: "PLAIN", User: "u", PasswordFile: missing}, "--kafka-sasl-password-file: open " + missing},
		{"two passwords", Settings{Mechanism: "PLAIN", User: "u", Password: secret, PasswordFile: empty}, "keep one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := tc.s.Build()
			if err == nil {
				t.Fatalf("Build() = %v, want an error with %q", sec, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	dir := t.TempDir()
	cert, _ := pemFiles(t, dir)
	sec, err := Settings{CAFile: cert, Mechanism: "SCRAM-SHA-512", User: "riskd", Password: secret}.Build()
	if err != nil {
		t.Fatal(err)
	}
	brokers := []string{"b1:9093"}
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for err unchanged
	}{
		{"wrong password", fmt.Errorf("cannot reach the brokers: %w", kafka.SASLAuthenticationFailed),
			`kafka b1:9093: the brokers refused the SASL SCRAM-SHA-512 login of user "riskd"`},
		{"mechanism not offered", kafka.UnsupportedSASLMechanism, "do not offer SASL SCRAM-SHA-512"},
		{"unknown authority", &x509.UnknownAuthorityError{}, "--kafka-tls-ca"},
		{"certificate for another host", fmt.Errorf("dial: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "b1"}), "not for the address dialled"},
		{"TLS alert from the brokers", fmt.Errorf("metadata: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}),
			"give one signed by an authority they trust with --kafka-tls-cert and --kafka-tls-key"},
		{"other", errors.New("connection refused"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sec.Explain(tc.err, brokers)
			if tc.want == "" {
				if got != tc.err {
					t.Errorf("Explain changed %v into %v", tc.err, got)
				}
				return
			}
			if !strings.Contains(got.Error(), tc.want) || !errors.Is(got, tc.err) {
				t.Errorf("Explain(%v) = %v, want it to say %q and wrap the error", tc.err, got, tc.want)
			}
			if strings.Contains(got.Error(), secret) {
				t.Errorf("the explanation shows the password: %v", got)
			}
		})
	}
}
