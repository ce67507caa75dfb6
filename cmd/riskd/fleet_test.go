package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/streamtest"
)

// TestFaultFleetKill runs two members and SIGKILLs one of them in the
// middle of the traffic, then starts it again: the survivor takes over the
// dead member's partitions from their changelogs, the restarted member
// takes its share back, and the decisions are exactly replay's (the events
// decided after the dead member's last changelog write are decided again,
// with the same ids).
func TestFaultFleetKill(t *testing.T) {
	f := newFault(t)
	f.onEach(t, func(t *testing.T, args []string) func() {
		m1, m2 := startMember(t, args), startMember(t, args)
		waitShared(t, m1, m2)
		f.waitDecided(t, len(f.recs)/3, m1, m2)
		m2.kill(t)
		m2 = startMember(t, args)
		waitShared(t, m1, m2)
		return func() {
			t.Logf("partitions restored: %d by the survivor, %d by the restarted member", m1.restored.Load(), m2.restored.Load())
		}
	})
}

// TestFaultRollingRestart restarts a fleet of two members one at a time,
// with SIGTERM, as a rolling deploy does, in the middle of the traffic. No
// decision differs from replay's: no benign user is asked for a new device
// or country because state moved, and takeovers prepared before a restart
// are caught after it. The sticky assignment moves only the partitions
// that must move; the test reports how many were restored.
func TestFaultRollingRestart(t *testing.T) {
	f := newFault(t)
	f.onEach(t, func(t *testing.T, args []string) func() {
		old := [2]*member{startMember(t, args), startMember(t, args)}
		waitShared(t, old[0], old[1])
		f.waitDecided(t, len(f.recs)/5, old[0], old[1])
		restored := old[0].restored.Load() + old[1].restored.Load()
		t.Logf("partitions restored before the deploy: %d", restored)
		var fresh [2]*member
		for i := range old {
			old[i].stop(t)
			fresh[i] = startMember(t, args)
			other := old[1-i]
			if i == 1 {
				other = fresh[0]
			}
			waitShared(t, fresh[i], other)
		}
		return func() {
			during := old[0].restored.Load() + old[1].restored.Load() + fresh[0].restored.Load() + fresh[1].restored.Load() - restored
			// Each stop hands the leaver's 4 partitions (2 numbers, both
			// stages) to the other member, each start takes 4 back: 16 in
			// all when only those move.
			t.Logf("partitions restored during the rolling deploy of 2 members (8 partitions, 2 stages): %d (by the old members %d and %d, by the new %d and %d)",
				during, old[0].restored.Load(), old[1].restored.Load(), fresh[0].restored.Load(), fresh[1].restored.Load())
			if during > 16 {
				t.Errorf("%d partitions moved during the deploy: more than the 16 that must (4 per stop, 4 per start)", during)
			}
		}
	})
}

// TestFaultBrokerRestart restarts the Apache Kafka broker (same port, same
// data) in the middle of the traffic, with two members running: they ride
// out the outage without operator action, nothing is lost, and no
// decision differs from replay's. It needs the broker `make test` starts
// (the embedded one cannot be restarted in place).
func TestFaultBrokerRestart(t *testing.T) {
	f := newFault(t)
	f.under(t, streamtest.Kafka(t), func(t *testing.T, args []string) func() {
		m1, m2 := startMember(t, args), startMember(t, args)
		waitShared(t, m1, m2)
		f.waitDecided(t, len(f.recs)/3, m1, m2)
		began := time.Now()
		streamtest.RestartKafka(t)
		t.Logf("broker down and up again in %v", time.Since(began).Round(100*time.Millisecond))
		waitShared(t, m1, m2)
		t.Logf("both members ready again %v after the restart began", time.Since(began).Round(100*time.Millisecond))
		return nil
	})
}

// waitShared waits until both members are ready and hold partitions.
func waitShared(t *testing.T, a, b *member) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		pa := metricLine(get(t, a.addr+"/metrics"), "riskd_assigned_partitions")
		pb := metricLine(get(t, b.addr+"/metrics"), "riskd_assigned_partitions")
		if ready(a) && ready(b) && holds(pa) && holds(pb) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the members never shared the partitions: %q and %q", pa, pb)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ready(m *member) bool {
	resp, err := http.Get(m.addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// holds tells whether a riskd_assigned_partitions line shows a partition
// of the user stage.
func holds(line string) bool {
	return line != "" && !strings.Contains(line, `{stage="user"} 0`)
}
