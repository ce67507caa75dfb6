package stream

import (
	"context"
	"testing"
	"time"
)

// TestWriteStages holds the order of a worker's two write stages without a
// broker (batches with no messages to send): a batch's offsets are
// released only by the state stage, after its outputs are written; batches
// queued meanwhile are gathered into one state write; every batch comes
// back for reuse; and when the channel closes, both stages end and write
// reports success.
func TestWriteStages(t *testing.T) {
	w := testWorker(t, time.Now())
	w.acks, w.state, w.free = &acks{}, &partState{}, make(chan *batch, 8)
	batches := make(chan *batch, 4)
	done := make(chan bool, 1)
	go func() { done <- w.write(context.Background(), batches) }()
	for _, next := range []int64{10, 20, 30} {
		b := w.newBatch()
		b.next[0], b.events = next, 1
		batches <- b
	}
	close(batches)
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("write reported a failure")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write did not end after its channel closed")
	}
	if got := w.acks.take()["auth"][0]; got != 30 {
		t.Errorf("released offset %d, want 30 (the last batch's)", got)
	}
	if got := w.state.applied[sourceKey("auth", 0)]; got != 30 {
		t.Errorf("applied offset %d, want 30", got)
	}
	if len(w.free) != 3 {
		t.Errorf("%d batches came back for reuse, want 3", len(w.free))
	}
}

// TestWriteEndsAtDrain holds that a write whose context was cancelled
// (a drain past its timeout) ends both stages once its channel closes,
// which drain always does, even with a batch still lingering in the state
// stage.
func TestWriteEndsAtDrain(t *testing.T) {
	w := testWorker(t, time.Now())
	w.acks, w.state = &acks{}, &partState{}
	ctx, cancel := context.WithCancel(context.Background())
	batches := make(chan *batch)
	done := make(chan bool, 1)
	go func() { done <- w.write(ctx, batches) }()
	b := w.newBatch()
	b.next[0], b.events = 5, 1
	batches <- b
	cancel()
	close(batches)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("write did not end after its context was cancelled and its channel closed")
	}
}
