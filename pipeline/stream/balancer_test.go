package stream

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestExplicitBalancer holds the writer's routing: kafka-go's Writer
// ignores Message.Partition, so heartbeats and changelog messages reach
// the partition they name only through the balancer, while observations
// and decisions go where their key hashes.
func TestExplicitBalancer(t *testing.T) {
	murmur := &kafka.Murmur2Balancer{}
	b := explicitBalancer{next: murmur, fixed: map[string]bool{"user-state": true}}
	parts := []int{0, 1, 2, 3}
	applied := []byte(appliedPrefix + sourceKey("auth", 2))
	hashed := murmur.Balance(kafka.Message{Key: applied}, parts...)
	other := (hashed + 1) % 4
	heartbeat := []kafka.Header{{Key: headerHeartbeat, Value: []byte("1")}}
	tests := []struct {
		name string
		msg  kafka.Message
		want int
	}{
		{"changelog message named elsewhere than its key hashes", kafka.Message{Topic: "user-state", Partition: other, Key: applied}, other},
		{"changelog message to a partition the writer does not know: that one, to fail", kafka.Message{Topic: "user-state", Partition: 6, Key: applied}, 6},
		{"heartbeat", kafka.Message{Topic: "ip", Partition: other, Headers: heartbeat}, other},
		{"observation: by key", kafka.Message{Topic: "ip", Partition: other, Key: applied}, hashed},
	}
	for _, tt := range tests {
		if got := b.Balance(tt.msg, parts...); got != tt.want {
			t.Errorf("%s: partition %d, want %d", tt.name, got, tt.want)
		}
	}
}
