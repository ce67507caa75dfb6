package sink

import (
	"context"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/retry"
)

// TestNewBackOffBounds checks that the waits start near initial, double,
// and stay around limit (the jitter is ±50 %) however long the retries go.
func TestNewBackOffBounds(t *testing.T) {
	b := retry.Backoff(200*time.Millisecond, 5*time.Second)
	center := 200 * time.Millisecond
	for i := range 100 {
		d := b.NextBackOff()
		if d < center/2 || d > center*3/2+time.Millisecond {
			t.Fatalf("wait %d: %s, want within ±50 %% of %s", i, d, center)
		}
		center = min(2*center, 5*time.Second)
	}
}

// TestSleepEndsWithContext checks that a cancelled ctx stops a wait at once.
func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if retry.Sleep(ctx, time.Minute) {
		t.Fatal("sleep reported a full wait after ctx ended")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("sleep took %s after ctx ended", took)
	}
	if !retry.Sleep(context.Background(), time.Millisecond) {
		t.Fatal("sleep reported ctx ended for a plain wait")
	}
}
