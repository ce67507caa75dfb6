package stream

import (
	"slices"
	"strings"
	"sync"

	"github.com/segmentio/kafka-go"
)

// copartition is the group's balancer: it deals out partition numbers, not
// partitions, so that a member gets partition p of every topic it reads.
// One user's events are on partition p of both input topics, and one
// worker must own that user's state. (kafka-go's range balancer splits each
// topic in the order the metadata lists its partitions, which only some
// brokers keep sorted.)
type copartition struct{}

func (copartition) ProtocolName() string      { return "riskd-copartition" }
func (copartition) UserData() ([]byte, error) { return nil, nil }

func (copartition) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	out := kafka.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b kafka.GroupMember) int { return strings.Compare(a.ID, b.ID) })
	var numbers []int
	for _, p := range partitions {
		numbers = append(numbers, p.ID)
	}
	slices.Sort(numbers)
	numbers = slices.Compact(numbers)
	owner := map[int]string{}
	for i, n := range numbers {
		owner[n] = ms[i*len(ms)/len(numbers)].ID // contiguous ranges, as the range balancer
	}
	reads := map[string]map[string]bool{}
	for _, m := range ms {
		out[m.ID] = map[string][]int{}
		reads[m.ID] = map[string]bool{}
		for _, t := range m.Topics {
			reads[m.ID][t] = true
		}
	}
	for _, p := range partitions {
		if m := owner[p.ID]; reads[m][p.Topic] {
			out[m][p.Topic] = append(out[m][p.Topic], p.ID)
		}
	}
	return out
}

// retain drops the state of partitions no longer assigned: the next owner
// restores it from the changelog.
func retain(states map[int]*partState, assigned map[int][]*source) {
	for p := range states {
		if _, ok := assigned[p]; !ok {
			delete(states, p)
		}
	}
}

func keys(m map[int][]*source) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// acks collects, per topic and partition, the offset after the last event
// whose outputs were acknowledged, for the committer. Safe for concurrent use.
type acks struct {
	mu      sync.Mutex
	offsets map[string]map[int]int64
}

func (a *acks) set(topic string, partition int, next int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.offsets == nil {
		a.offsets = map[string]map[int]int64{}
	}
	m := a.offsets[topic]
	if m == nil {
		m = map[int]int64{}
		a.offsets[topic] = m
	}
	if next > m[partition] {
		m[partition] = next
	}
}

// take returns the offsets set since the last take, nil when none.
func (a *acks) take() map[string]map[int]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.offsets
	a.offsets = nil
	return o
}

// putBack returns offsets whose commit failed, unless newer ones came.
func (a *acks) putBack(o map[string]map[int]int64) {
	for t, m := range o {
		for p, off := range m {
			a.set(t, p, off)
		}
	}
}
