package stream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/streamtest"
)

// TestStreamRefusesChangelogOfOtherCount holds that a member does not
// start on a changelog whose partition count is not its stage's: partition
// p of a changelog holds partition p's state, and a write to a partition
// that is missing would otherwise land in another's (or, refused, retry
// for ever). The error names the topic and what to do.
func TestStreamRefusesChangelogOfOtherCount(t *testing.T) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			tp := streamtest.NewTopics(t, b)
			group := streamtest.Names(b.Name, "changelog-count")[0]
			streamtest.CreateTopics(t, b, 2, group+"-user-state")
			s := streamtest.NewMember(t, b, tp, group, false)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := s.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), group+"-user-state has 2 partitions") || !strings.Contains(err.Error(), "delete the changelog") {
				t.Fatalf("Run: %v; want the changelog's partition count refused", err)
			}
		})
	}
}
