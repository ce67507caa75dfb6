package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
)

// TestFaultKillAndRestart SIGKILLs `riskd run` in the middle of the labelled
// traffic and starts it again, as a crash and a restart of one member:
// the new process restores the detector state from the changelog and
// starts after the applied offsets, so the decisions on the topic are
// exactly replay's, with the same ids and actions (the events decided
// after the kill's last changelog write are decided again, with the same
// ids), and every attack is caught.
func TestFaultKillAndRestart(t *testing.T) {
	data, _ := testenv.ShippedTraffic(t)
	want, _ := testenv.ReplayAll(t, data, true)
	wantByID := map[string]rules.Decision{}
	for _, d := range want {
		wantByID[d.DecisionID] = d
	}
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			n := streamtest.Names(b.Name, "auth", "txn", "decisions", "dlq")
			streamtest.CreateTopics(t, b, 4, n[0], n[1])
			recs, _ := streamtest.Records(data, n[0], n[1])
			args := []string{"run", "--brokers", strings.Join(b.Addrs, ","), "--group", "g-" + n[0],
				"--topics", n[0] + "," + n[1], "--decisions-topic", n[2], "--dlq-topic", n[3], "--create-topics", "--partitions", "2",
				"--geoip-city", testenv.City, "--geoip-asn", testenv.ASN, "--emit", "all",
				"--metrics-addr", "127.0.0.1:0", "--log-format", "json"}
			// Produce in paced chunks, so that the kill lands mid-stream.
			produced := make(chan struct{})
			go func() {
				defer close(produced)
				for i := 0; i < len(recs); i += 500 {
					streamtest.Produce(t, b, recs[i:min(i+500, len(recs))])
					time.Sleep(30 * time.Millisecond)
				}
			}()
			cmd, addr, _ := startRun(t, args...)
			waitStatus(t, addr+"/readyz", http.StatusOK)
			for deadline := time.Now().Add(time.Minute); eventsDecided(get(t, addr+"/metrics"), n[0], n[1]) < len(recs)/3; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("riskd run decided too little to be killed in the middle")
				}
			}
			decidedAtKill := eventsDecided(get(t, addr+"/metrics"), n[0], n[1])
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			t.Logf("SIGKILL after %d of %d events decided", decidedAtKill, len(recs))
			<-produced

			_, addr, _ = startRun(t, args...)
			waitStatus(t, addr+"/readyz", http.StatusOK)
			got := streamtest.Consume(t, b, n[2], 2*time.Minute, streamtest.HaveAll(want))
			byID, total := streamtest.DecisionIDs(t, got)
			differ, extra := 0, 0
			for id, d := range byID {
				w, ok := wantByID[id]
				switch {
				case !ok:
					extra++
				case w.Action != d.Action || w.Subject != d.Subject:
					differ++
				}
			}
			t.Logf("%d decision messages, %d distinct (%d decided again after the kill), replay has %d; %d not replay's, %d differ",
				total, len(byID), total-len(byID), len(want), extra, differ)
			if extra > 0 || differ > 0 || len(byID) != len(want) {
				t.Errorf("after a kill and restart, %d decisions are not replay's and %d differ (of %d)", extra, differ, len(want))
			}
			t.Logf("keys restored from the changelog by the second process: %s", metricLine(get(t, addr+"/metrics"), "riskd_state_restored_keys_total"))
			streamtest.CheckCaught(t, byID)
		})
	}
}

// metricLine returns the samples of the metric name in a /metrics page,
// on one line.
func metricLine(page, name string) string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, strings.TrimPrefix(l, name))
		}
	}
	return strings.Join(out, ", ")
}
