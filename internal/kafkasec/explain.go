package kafkasec

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// checkTimeout bounds Check: a dial, a TLS handshake and a SASL exchange.
const checkTimeout = 20 * time.Second

// Check connects to brokers as the connections will and fails when the
// brokers refuse the login or the TLS handshake fails: a wrong password
// or certificate authority is a setting to fix, not an outage to wait
// out, so it stops the start at once, with Explain's error. Any other
// failure (brokers not up yet) is left to the caller's own waiting and
// reporting; Check returns nil for it.
func (sec *Security) Check(ctx context.Context, brokers []string) error {
	if sec == nil || (sec.TLS == nil && sec.SASL == nil) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: sec.Transport(), Timeout: checkTimeout}
	_, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err == nil {
		return nil
	}
	if explained := sec.Explain(err, brokers); explained != err {
		return explained
	}
	return nil
}

// Explain returns err, from a Kafka connection of sec to brokers, with
// what to check when it is a refused login or a failed TLS handshake, or
// err itself otherwise. It names the mechanism and the user, never the
// password.
func (sec *Security) Explain(err error, brokers []string) error {
	if err == nil || sec == nil {
		return err
	}
	at := strings.Join(brokers, ",")
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		op        *net.OpError
	)
	switch {
	case sec.SASL != nil && errors.Is(err, kafka.SASLAuthenticationFailed):
		return fmt.Errorf("kafka %s: the brokers refused the SASL %s login of user %q: check the password (%s or --kafka-sasl-password-file) and that the brokers have this user for %s: %w",
			at, sec.mechanism, sec.user, PasswordEnv, sec.mechanism, err)
	case sec.SASL != nil && errors.Is(err, kafka.UnsupportedSASLMechanism):
		return fmt.Errorf("kafka %s: the brokers do not offer SASL %s (user %q) on this listener: pick one of their sasl.enabled.mechanisms with --kafka-sasl-mechanism: %w",
			at, sec.mechanism, sec.user, err)
	case sec.TLS != nil && (errors.As(err, &unknownCA) || errors.As(err, &verify)):
		return fmt.Errorf("kafka %s: the brokers' TLS certificate is not trusted: name the authority that signed it with --kafka-tls-ca: %w", at, err)
	case sec.TLS != nil && errors.As(err, &hostname):
		return fmt.Errorf("kafka %s: the brokers' TLS certificate is not for the address dialled: use a broker address the certificate names: %w", at, err)
	case sec.TLS != nil && errors.As(err, &op) && op.Op == "remote error":
		// A TLS alert from the brokers: with TLS 1.3 a client certificate
		// they do not accept is refused only after the handshake.
		return fmt.Errorf("kafka %s: the brokers ended the TLS connection: if they ask for a client certificate, give one signed by an authority they trust with --kafka-tls-cert and --kafka-tls-key: %w", at, err)
	case sec.TLS != nil && errors.As(err, &header):
		return fmt.Errorf("kafka %s: the brokers did not answer in TLS: is this a TLS listener (SSL or SASL_SSL)? Without TLS, drop --kafka-tls*: %w", at, err)
	}
	return err
}
