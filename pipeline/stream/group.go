package stream

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
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
//
// It is sticky: each member says in its join which partition numbers it
// holds (UserData), and the assignment hands them back where the balance
// allows, so that a member joining or leaving moves only the partitions
// that must move: the others keep their state in memory instead of
// restoring it from the changelog.
type copartition struct {
	// held returns the partition numbers this member holds state for; it
	// is called from the group's goroutine.
	held func() []int
}

func (copartition) ProtocolName() string { return "riskd-copartition" }

// UserData encodes the held partition numbers: a version byte (1), then
// each number as a uvarint.
func (c copartition) UserData() ([]byte, error) {
	out := []byte{1}
	if c.held != nil {
		for _, p := range c.held() {
			out = binary.AppendUvarint(out, uint64(p))
		}
	}
	return out, nil
}

// heldBy decodes a member's UserData; anything else than version 1 holds
// nothing (an older or newer member: it is simply not sticky).
func heldBy(data []byte) []int {
	if len(data) == 0 || data[0] != 1 {
		return nil
	}
	var out []int
	for b := data[1:]; len(b) > 0; {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > math.MaxInt32 {
			return out
		}
		out, b = append(out, int(v)), b[n:]
	}
	return out
}

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
	owner := stickyOwners(ms, numbers)
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

// stickyOwners gives each partition number an owner among ms (sorted by
// id): every member gets len(numbers)/len(ms) numbers or one more, and
// keeps as many as that allows of those it held, a number claimed twice
// going to the first claimant. It is deterministic in its inputs.
func stickyOwners(ms []kafka.GroupMember, numbers []int) map[int]string {
	base, extra := len(numbers)/len(ms), len(numbers)%len(ms)
	exists := map[int]bool{}
	for _, n := range numbers {
		exists[n] = true
	}
	owner := map[int]string{}
	count := make([]int, len(ms))
	kept := make([][]int, len(ms))
	for i, m := range ms {
		held := heldBy(m.UserData)
		slices.Sort(held)
		for _, n := range held {
			if exists[n] && owner[n] == "" {
				owner[n] = m.ID
				kept[i] = append(kept[i], n)
			}
		}
	}
	// Trim to the quota: base each, and base+1 for the first extra members
	// that held more than base.
	for i := range ms {
		quota := base
		if len(kept[i]) > base && extra > 0 {
			quota, extra = base+1, extra-1
		}
		for _, n := range kept[i][min(quota, len(kept[i])):] {
			delete(owner, n)
		}
		count[i] = min(quota, len(kept[i]))
	}
	// Deal the rest, in order, to the members below base, then to those
	// at base while extra numbers remain.
	i := 0
	for _, n := range numbers {
		if owner[n] != "" {
			continue
		}
		for ; ; i = (i + 1) % len(ms) {
			if count[i] < base || (count[i] == base && extra > 0) {
				break
			}
		}
		if count[i] == base {
			extra--
		}
		owner[n] = ms[i].ID
		count[i]++
	}
	return owner
}

// retain drops the states of the partitions not in assigned, and their
// state-size series: the next owner restores the state from the changelog
// and publishes the series.
func retain(states map[int]*partState, assigned map[int][]*source, m *Metrics, stage string) {
	for p := range states {
		if _, ok := assigned[p]; !ok {
			delete(states, p)
			m.StateKeys.DeleteLabelValues(stage, strconv.Itoa(p))
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
