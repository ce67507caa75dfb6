package stream

import (
	"fmt"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

// assign runs the balancer over n partition numbers of two input topics
// for members, each holding the numbers given.
func assign(n int, members map[string][]int) map[string][]int {
	var ms []kafka.GroupMember
	for id, held := range members {
		data, _ := copartition{held: func() []int { return held }}.UserData()
		ms = append(ms, kafka.GroupMember{ID: id, Topics: []string{"auth", "txn"}, UserData: data})
	}
	var parts []kafka.Partition
	for _, t := range []string{"auth", "txn"} {
		for p := range n {
			parts = append(parts, kafka.Partition{Topic: t, ID: p})
		}
	}
	out := map[string][]int{}
	for id, topics := range (copartition{}).AssignGroups(ms, parts) {
		if !slices.Equal(topics["auth"], topics["txn"]) {
			panic(fmt.Sprintf("member %s: auth %v, txn %v: not co-partitioned", id, topics["auth"], topics["txn"]))
		}
		out[id] = slices.Sorted(slices.Values(topics["auth"]))
	}
	return out
}

func moved(before, after map[string][]int) int {
	n := 0
	for id, ps := range after {
		for _, p := range ps {
			if !slices.Contains(before[id], p) {
				n++
			}
		}
	}
	return n
}

func TestStickyAssignment(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		before    map[string][]int
		wantMoved int
		wantSizes map[string]int
	}{
		{"first join deals contiguous shares", 8, map[string][]int{"a": nil, "b": nil}, 8, map[string]int{"a": 4, "b": 4}},
		{"a member joins: only its share moves", 8, map[string][]int{"a": {0, 1, 2, 3}, "b": {4, 5, 6, 7}, "c": nil}, 2, map[string]int{"a": 3, "b": 3, "c": 2}},
		{"a member leaves: only its partitions move", 8, map[string][]int{"a": {0, 1, 2}, "b": {3, 4, 5}}, 2, map[string]int{"a": 4, "b": 4}},
		{"same members: nothing moves", 12, map[string][]int{"a": {0, 5, 7, 9}, "b": {1, 2, 3, 4}, "c": {6, 8, 10, 11}}, 0, map[string]int{"a": 4, "b": 4, "c": 4}},
		{"a number claimed twice goes to the first", 4, map[string][]int{"a": {0, 1}, "b": {1, 2, 3}}, 0, map[string]int{"a": 2, "b": 2}},
		{"held numbers that no longer exist are ignored", 4, map[string][]int{"a": {0, 1, 9}, "b": {2, 3, 12}}, 0, map[string]int{"a": 2, "b": 2}},
		{"uneven: the extra goes to a holder", 5, map[string][]int{"a": {0, 1, 2}, "b": {3, 4}}, 0, map[string]int{"a": 3, "b": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := assign(tt.n, tt.before)
			seen := map[int]bool{}
			for id, ps := range got {
				if len(ps) != tt.wantSizes[id] {
					t.Errorf("member %s got %v, want %d partitions", id, ps, tt.wantSizes[id])
				}
				for _, p := range ps {
					if seen[p] {
						t.Errorf("partition %d assigned twice", p)
					}
					seen[p] = true
				}
			}
			if len(seen) != tt.n {
				t.Errorf("%d of %d partitions assigned: %v", len(seen), tt.n, got)
			}
			if m := moved(tt.before, got); m != tt.wantMoved {
				t.Errorf("%d partitions moved, want %d: %v -> %v", m, tt.wantMoved, tt.before, got)
			}
		})
	}
}

func TestHeldByRefusesOtherVersions(t *testing.T) {
	for _, data := range [][]byte{nil, {}, {2, 1, 2}, {1, 0xff}} {
		if got := heldBy(data); len(got) != 0 {
			t.Errorf("heldBy(%v) = %v, want nothing", data, got)
		}
	}
	if got := heldBy([]byte{1, 3, 200, 1}); !slices.Equal(got, []int{3, 200}) {
		t.Errorf("heldBy = %v, want [3 200]", got)
	}
}
