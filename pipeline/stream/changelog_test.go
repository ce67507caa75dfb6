package stream

import (
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestLastPerKey holds how the state stage merges the changelog messages
// of several batches: each key once, at its last change (a tombstone
// included), in the order of those last changes, as a compacted changelog
// would read.
func TestLastPerKey(t *testing.T) {
	msg := func(key, value string) kafka.Message {
		m := kafka.Message{Key: []byte(key)}
		if value != "" {
			m.Value = []byte(value)
		}
		return m
	}
	tests := []struct {
		name  string
		group [][]kafka.Message
		want  []string // key=value, key= for a tombstone
	}{
		{"one batch", [][]kafka.Message{{msg("a", "1"), msg("b", "1")}}, []string{"a=1", "b=1"}},
		{"a key again later", [][]kafka.Message{{msg("a", "1"), msg("b", "1")}, {msg("a", "2")}}, []string{"b=1", "a=2"}},
		{"put then tombstone", [][]kafka.Message{{msg("a", "1")}, {msg("a", ""), msg("c", "1")}}, []string{"a=", "c=1"}},
		{"tombstone then put", [][]kafka.Message{{msg("a", ""), msg("b", "1")}, {msg("a", "3")}}, []string{"b=1", "a=3"}},
		{"empty batches", [][]kafka.Message{{}, {msg("a", "1")}, {}}, []string{"a=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var group []*batch
			for _, msgs := range tt.group {
				group = append(group, &batch{state: msgs})
			}
			var got []string
			for _, m := range lastPerKey(group) {
				got = append(got, string(m.Key)+"="+string(m.Value))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
