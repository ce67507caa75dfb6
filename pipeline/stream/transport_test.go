package stream

import (
	"crypto/tls"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/riskd/riskd/rules"
)

// TestClientsUseTheDialersSecurity checks that the member's admin clients
// connect with the Dialer's TLS and SASL, and with kafka-go's default
// transport when the Dialer has neither.
func TestClientsUseTheDialersSecurity(t *testing.T) {
	tlsConf, mech := &tls.Config{}, plain.Mechanism{Username: "u", Password: "p"}
	for _, tc := range []struct {
		name   string
		dialer *kafka.Dialer
		plain  bool
	}{
		{"no dialer", nil, true},
		{"plain dialer", &kafka.Dialer{}, true},
		{"TLS and SASL", &kafka.Dialer{TLS: tlsConf, SASLMechanism: mech}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, _ := rules.Shipped()
			c := Config{Brokers: []string{"127.0.0.1:9092"}, Group: "g", Topics: []string{"auth"}, DecisionsTopic: "d", DLQTopic: "dlq",
				IPTopic: "ip", Rules: set, Writer: &kafka.Writer{}, Dialer: tc.dialer}
			if err := c.defaults(); err != nil {
				t.Fatal(err)
			}
			tr := c.client(0).Transport
			if tc.plain {
				if tr != nil {
					t.Errorf("transport %v, want kafka-go's default", tr)
				}
				return
			}
			kt, ok := tr.(*kafka.Transport)
			if !ok || kt.TLS != tlsConf || kt.SASL != mech {
				t.Errorf("transport %#v does not carry the Dialer's TLS and SASL", tr)
			}
		})
	}
}
