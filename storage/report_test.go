package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/storage"
)

// TestClickHouseEachDecision stores the traffic's decisions twice (a
// redelivery) and checks that EachDecision reads each once, as it was
// decided, only within the period, and stops when fn fails.
func TestClickHouseEachDecision(t *testing.T) {
	dsn, _ := chtest.DSN(t)
	conn, db := chtest.Open(t, dsn)
	ctx := context.Background()
	fx := chtest.NewFixture(t, "../")
	fx.Store(t, conn, db)
	fx.Store(t, conn, db)
	want := map[string]rules.Decision{}
	for _, b := range fx.Decisions {
		var d rules.Decision
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		want[d.DecisionID] = d
	}

	// The traffic spans 2 to 4 March 2026.
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	n, err := storage.EachDecision(ctx, conn, db, from, to, func(d *rules.Decision) error {
		w, ok := want[d.DecisionID]
		switch {
		case !ok:
			t.Errorf("decision %s was never stored", d.DecisionID)
		case seen[d.DecisionID]:
			t.Errorf("decision %s read twice: FINAL did not fold the redelivery", d.DecisionID)
		case !sameDecision(*d, w):
			t.Errorf("decision %s read back as\n%+v\nwant\n%+v", d.DecisionID, *d, w)
		}
		seen[d.DecisionID] = true
		return nil
	})
	if err != nil || n != len(want) || len(seen) != len(want) {
		t.Fatalf("EachDecision: %d decisions (%d distinct), %v; want %d", n, len(seen), err, len(want))
	}

	// A period from the middle decision's minute (ts is stored to the
	// second) reads the later half.
	var times []time.Time
	for _, d := range want {
		times = append(times, d.TS)
	}
	slices.SortFunc(times, time.Time.Compare)
	cut := times[len(times)/2].Truncate(time.Minute)
	inside := 0
	for _, d := range want {
		if !d.TS.Before(cut) {
			inside++
		}
	}
	n, err = storage.EachDecision(ctx, conn, db, cut, to, func(d *rules.Decision) error {
		if d.TS.Before(cut) {
			t.Errorf("decision %s at %s read for a period from %s", d.DecisionID, d.TS, cut)
		}
		return nil
	})
	if err != nil || n != inside || inside == 0 || inside == len(want) {
		t.Errorf("EachDecision from %s: %d decisions, %v; want %d of %d", cut, n, err, inside, len(want))
	}

	stop := errors.New("enough")
	if n, err := storage.EachDecision(ctx, conn, db, from, to, func(*rules.Decision) error { return stop }); n != 1 || !errors.Is(err, stop) {
		t.Errorf("fn failing: %d decisions, %v; want 1 and its error", n, err)
	}
}

// sameDecision compares what the table keeps: times to the millisecond
// (decided_at to the second), evidence as JSON.
func sameDecision(got, want rules.Decision) bool {
	if !got.TS.Equal(want.TS.Truncate(time.Millisecond)) || !got.ExpiresAt.Equal(want.ExpiresAt.Truncate(time.Millisecond)) ||
		!got.DecidedAt.Equal(want.DecidedAt.Truncate(time.Second)) {
		return false
	}
	gj, _ := json.Marshal(got.Reasons)
	wj, _ := json.Marshal(want.Reasons)
	got.TS, got.ExpiresAt, got.DecidedAt, got.Reasons = time.Time{}, time.Time{}, time.Time{}, nil
	want.TS, want.ExpiresAt, want.DecidedAt, want.Reasons = time.Time{}, time.Time{}, time.Time{}, nil
	return string(gj) == string(wj) && reflect.DeepEqual(got, want)
}
