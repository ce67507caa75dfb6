package stream

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/rules"
)

// TestDrainBelowRebalance checks that a drain can never outlast the
// group's rebalance timeout: the default rebalance timeout makes room for
// the drain, and an explicit one that does not is refused.
func TestDrainBelowRebalance(t *testing.T) {
	tests := []struct {
		name             string
		drain, rebalance time.Duration
		wantRebalance    time.Duration
		wantErr          string
	}{
		{"defaults", 0, 0, 15 * time.Second, ""},
		{"a long drain raises the default", 40 * time.Second, 0, 45 * time.Second, ""},
		{"explicit and room enough", 5 * time.Second, 20 * time.Second, 20 * time.Second, ""},
		{"explicit and too short", 10 * time.Second, 10 * time.Second, 0, "must be below the group's rebalance timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, _ := rules.Shipped()
			c := Config{Brokers: []string{"127.0.0.1:9092"}, Group: "g", Topics: []string{"auth"}, DecisionsTopic: "d", DLQTopic: "dlq",
				IPTopic: "ip", Rules: set, Writer: &kafka.Writer{}, DrainTimeout: tt.drain, RebalanceTimeout: tt.rebalance}
			err := c.defaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RebalanceTimeout != tt.wantRebalance || c.DrainTimeout >= c.RebalanceTimeout {
				t.Errorf("drain %s, rebalance %s; want rebalance %s", c.DrainTimeout, c.RebalanceTimeout, tt.wantRebalance)
			}
		})
	}
}
