// Package retry holds the waits between attempts that riskd shares: an
// exponential backoff with jitter (cenkalti/backoff) that never gives up on
// its own, and a sleep that ends as soon as its context does.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Backoff returns an exponential backoff from initial, doubling up to
// limit, with ±50% jitter so that a fleet retrying together spreads out.
func Backoff(initial, limit time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: initial, MaxInterval: limit,
		Multiplier: 2, RandomizationFactor: backoff.DefaultRandomizationFactor,
	}
	b.Reset()
	return b
}

// Sleep waits for d and reports true, or false as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
