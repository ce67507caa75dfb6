package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/kafkasec"
)

// kafkaSecurityFlags are the TLS and SASL settings of the Kafka
// connections, shared by `riskd run` and `riskd sink`. The SASL password
// is not among them: it comes from RISKD_KAFKA_SASL_PASSWORD or the file
// --kafka-sasl-password-file names, never from a flag value, which ps and
// shell history would show.
type kafkaSecurityFlags struct {
	settings kafkasec.Settings
}

func (k *kafkaSecurityFlags) register(fs *flag.FlagSet) {
	s := &k.settings
	fs.BoolVar(&s.TLS, "kafka-tls", false, "connect to Kafka over TLS, trusting the system's authorities (implied by --kafka-tls-ca and --kafka-tls-cert)")
	fs.StringVar(&s.CAFile, "kafka-tls-ca", "", "PEM file of the authorities that sign the Kafka brokers' certificates (turns TLS on)")
	fs.StringVar(&s.CertFile, "kafka-tls-cert", "", "PEM client certificate for brokers that ask for one (ssl.client.auth), with --kafka-tls-key")
	fs.StringVar(&s.KeyFile, "kafka-tls-key", "", "PEM private key of --kafka-tls-cert")
	fs.StringVar(&s.Mechanism, "kafka-sasl-mechanism", "", "SASL mechanism of the Kafka login: "+strings.Join(kafkasec.Mechanisms, ", ")+" (empty: no SASL)")
	fs.StringVar(&s.User, "kafka-sasl-user", "", "SASL user name")
	fs.StringVar(&s.PasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password; without it the password comes from "+kafkasec.PasswordEnv+" (never from a flag)")
}

// build returns the connections' security: the flags' settings and the
// password of env.
func (k *kafkaSecurityFlags) build(env func(string) string) (*kafkasec.Security, error) {
	s := k.settings
	s.Password = env(kafkasec.PasswordEnv)
	return s.Build()
}

// kafkaSecurity returns the Kafka connections' security, from the flags
// and RISKD_KAFKA_SASL_PASSWORD, for the stream and the sink alike (it
// sets the sink settings'), once the brokers have not refused it (see
// kafkasec.Security.Check).
func (f *runFlags) kafkaSecurity(ctx context.Context, brokers []string) (*kafkasec.Security, error) {
	sec, err := f.kafkaSec.build(os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := sec.Check(ctx, brokers); err != nil {
		return nil, err
	}
	f.sink.kafka = sec
	return sec, nil
}

// writerOptions returns opts and, when sec secures the connections, the
// transport that carries its TLS and SASL.
func writerOptions(sec *kafkasec.Security, opts ...alerting.WriterOption) []alerting.WriterOption {
	if t := sec.Transport(); t != nil {
		opts = append(opts, alerting.WithTransport(t))
	}
	return opts
}

// secretKeys are names that would carry a secret in a flag, a config key
// or the arguments; layered refuses them with secretRefused.
var secretKeys = map[string]bool{"kafka-sasl-password": true}

// secretRefused is the error for a secret given where it would be seen:
// it names where the secret goes instead, and never echoes it.
func secretRefused(name string) error {
	return usageError(fmt.Sprintf("%s is not a setting: a password in a flag or the config file shows in ps, shell history and config repositories; set %s or name a file with --kafka-sasl-password-file",
		name, kafkasec.PasswordEnv))
}

// refuseSecretArgs returns secretRefused for an argument (before "--")
// that would set a secretKeys flag.
func refuseSecretArgs(args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if secretKeys[name] {
			return secretRefused("--" + name)
		}
	}
	return nil
}
