package sink

import (
	"crypto/tls"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// TestTransportFollowsTheDialer checks that the admin client and the
// dead-letter writer connect with the Dialer's TLS and SASL.
func TestTransportFollowsTheDialer(t *testing.T) {
	if tr := (&Config{}).transport(); tr != nil {
		t.Errorf("no Dialer: transport %v, want kafka-go's default", tr)
	}
	mech, err := scram.Mechanism(scram.SHA512, "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{Brokers: []string{"127.0.0.1:9092"}, Dialer: &kafka.Dialer{TLS: &tls.Config{}, SASLMechanism: mech}}
	kt, ok := c.transport().(*kafka.Transport)
	if !ok || kt.TLS != c.Dialer.TLS || kt.SASL != mech {
		t.Fatalf("transport %#v does not carry the Dialer's TLS and SASL", c.transport())
	}
	if w := newDeadLetterWriter(c); w.Transport == nil {
		t.Error("the dead-letter writer does not use the Dialer's TLS and SASL")
	}
}
