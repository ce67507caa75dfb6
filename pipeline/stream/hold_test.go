package stream

import (
	"math"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/event"
)

// heldItem is a login attempt at event time ts (Unix ms) whose message
// value is size bytes, at offset off.
func heldItem(ts int64, size int, off int64) item {
	return item{msg: kafka.Message{Offset: off, Value: make([]byte, size)}, ev: event.Event{TS: time.UnixMilli(ts)}}
}

// TestHoldBounds fills holds whose partitions never pass the attempts'
// event time, so that only the bounds can release them: the item cap, the
// byte cap, and maxHold. What goes early is counted as an overflow, in
// event-time order, and the hold shrinks back under its caps.
func TestHoldBounds(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name          string
		maxItems      int
		maxBytes      int
		items, size   int
		after         time.Duration // when release is asked
		wantReleased  int
		wantOverflows int
		wantTimeouts  int
	}{
		{"within bounds: nothing goes", 10, 1 << 20, 10, 100, 0, 0, 0, 0},
		{"item cap", 10, 1 << 20, 15, 100, 0, 5, 5, 0},
		{"byte cap", 1000, 1000, 15, 100, 0, 5, 5, 0},
		{"one message over the byte cap alone", 1000, 1000, 1, 5000, 0, 1, 1, 0},
		{"maxHold passed: timeouts, not overflows", 1000, 1 << 20, 15, 100, 3 * time.Second, 15, 0, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHold(2*time.Second, 2)
			h.maxItems, h.maxBytes = tt.maxItems, tt.maxBytes
			for i := range tt.items {
				// Arrival order differs from event-time order.
				ts := int64(1_000_000 + (i*7)%tt.items)
				h.add(heldItem(ts, tt.size, int64(i)), i%2, 0, false, start)
			}
			var released []int64
			for {
				it, ok := h.release(start.Add(tt.after), false)
				if !ok {
					break
				}
				released = append(released, it.ev.TS.UnixMilli())
			}
			if len(released) != tt.wantReleased || h.overflows != tt.wantOverflows || h.timeouts != tt.wantTimeouts {
				t.Fatalf("released %d (overflows %d, timeouts %d), want %d (%d, %d)",
					len(released), h.overflows, h.timeouts, tt.wantReleased, tt.wantOverflows, tt.wantTimeouts)
			}
			for i := 1; i < len(released); i++ {
				if released[i] < released[i-1] {
					t.Errorf("released out of event-time order: %v", released)
				}
			}
			if h.len() > tt.maxItems || (h.bytes > tt.maxBytes && h.len() > 0) {
				t.Errorf("hold left with %d items, %d bytes: over its caps", h.len(), h.bytes)
			}
			want := 0
			for i := range h.items {
				want += h.items[i].size
			}
			if h.bytes != want {
				t.Errorf("hold counts %d bytes, holds %d", h.bytes, want)
			}
		})
	}
}

// TestHoldOrders releases attempts once every partition's watermark has
// passed them, and ignores marks of partitions it was not made for.
func TestHoldOrders(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := newHold(2*time.Second, 2)
	h.add(heldItem(200, 10, 1), 0, 300, false, now)
	h.add(heldItem(100, 10, 2), 1, 150, false, now)
	if _, ok := h.release(now, false); !ok {
		t.Fatal("attempt at 100 is behind both watermarks (300, 150) but was not released")
	}
	if _, ok := h.release(now, false); ok {
		t.Fatal("attempt at 200 released before partition 1 passed it")
	}
	// Marks from partitions that do not exist change nothing and
	// allocate nothing.
	for _, src := range []int{-1, 2, math.MaxInt32} {
		h.mark(src, math.MaxInt64, true)
	}
	if len(h.parts) != 2 {
		t.Fatalf("hold grew to %d partitions", len(h.parts))
	}
	if _, ok := h.release(now, false); ok {
		t.Fatal("a mark from a partition that does not exist released an attempt")
	}
	h.mark(1, 250, false)
	if it, ok := h.release(now, false); !ok || it.msg.Offset != 1 {
		t.Fatalf("attempt at 200 not released after every partition passed it: %v %v", it.msg.Offset, ok)
	}
	if off, ok := h.minOffset(); ok {
		t.Errorf("empty hold has a min offset %d", off)
	}
}

// TestHoldCaughtPartitions: a partition that said it was caught up holds
// nothing back once the caught grace has passed, unless the address worker
// has a backlog of its own (the partition's later messages may be ahead in
// it) or the partition said it left (a rebalance gave it to another
// member, which has not caught up yet).
func TestHoldCaughtPartitions(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	later := start.Add(caughtGrace + time.Millisecond)
	tests := []struct {
		name    string
		left    bool // partition 1 said it left after catching up
		backlog bool
		want    bool
	}{
		{"caught partition, worker caught up: released", false, false, true},
		{"caught partition, worker behind: held", false, true, false},
		{"partition left: held", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHold(2*time.Second, 2)
			h.mark(1, 1_000, true) // partition 1 caught up at 1,000
			if tt.left {
				h.mark(1, 1_000, false)
			}
			// Partition 0 has passed 5,000; its attempt at 5,000 waits for
			// nothing but partition 1.
			h.add(heldItem(5_000, 10, 7), 0, 5_000, false, start)
			if _, ok := h.release(later, tt.backlog); ok != tt.want {
				t.Errorf("released %v, want %v", ok, tt.want)
			}
			// Partition 1 passing the attempt releases it in every case.
			h.mark(1, 5_000, false)
			if !tt.want {
				if _, ok := h.release(later, tt.backlog); !ok {
					t.Error("not released once every partition passed it")
				}
			}
		})
	}
}

// TestHoldAllocatesNothing holds that holding and releasing an attempt
// allocates nothing once the heap has room: the address stage does it for
// every login attempt.
func TestHoldAllocatesNothing(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := newHold(2*time.Second, 1)
	for i := range 64 { // room for the heap to grow into
		h.add(heldItem(int64(i), 10, int64(i)), 0, 0, false, now)
	}
	for {
		if _, ok := h.release(now.Add(time.Hour), false); !ok {
			break
		}
	}
	ts := int64(1000)
	allocs := testing.AllocsPerRun(100, func() {
		ts++
		h.add(heldItem(ts, 0, ts), 0, ts, false, now) // size 0: the helper allocates no value
		h.add(heldItem(ts-500, 0, ts), 0, ts, false, now)
		for {
			if _, ok := h.release(now, false); !ok {
				break
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per add and release, want 0", allocs)
	}
}
