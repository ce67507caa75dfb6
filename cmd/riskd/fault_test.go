package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/retry"
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
	f := newFault(t)
	f.onEach(t, func(t *testing.T, args []string) func() {
		m := startMember(t, args)
		waitStatus(t, m.addr+"/readyz", http.StatusOK)
		f.waitDecided(t, len(f.recs)/3, m)
		m.kill(t)
		m = startMember(t, args)
		waitStatus(t, m.addr+"/readyz", http.StatusOK)
		return func() {
			t.Logf("keys restored from the changelog by the second process: %s", metricLine(get(t, m.addr+"/metrics"), "riskd_state_restored_keys_total"))
		}
	})
}

// fault is the labelled traffic of a fault test and replay's decisions on
// it, which the fleet under fault must make exactly.
type fault struct {
	data  []byte
	want  []rules.Decision
	byID  map[string]rules.Decision
	recs  []*kgo.Record
	topic [2]string // the input topics of the current subtest
}

func newFault(t *testing.T) *fault {
	data, _ := testenv.ShippedTraffic(t)
	want, _ := testenv.ReplayAll(t, data, true)
	f := &fault{data: data, want: want, byID: map[string]rules.Decision{}}
	for _, d := range want {
		f.byID[d.DecisionID] = d
	}
	return f
}

// onEach runs inject as a subtest on every broker (see under).
func (f *fault) onEach(t *testing.T, inject func(t *testing.T, args []string) (after func())) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) { f.under(t, b, inject) })
	}
}

// under runs one fault test on b: it creates the topics, starts producing
// the traffic in paced chunks (so that faults land mid-stream), calls
// inject with the arguments of the test's `riskd run` members to start
// them and do the harm, waits for the last event to be produced, checks
// the decisions (see check), and then calls what inject returned, if
// anything, for the figures it logs.
func (f *fault) under(t *testing.T, b streamtest.Broker, inject func(t *testing.T, args []string) (after func())) {
	n := streamtest.Names(b.Name, "auth", "txn", "decisions", "dlq")
	streamtest.CreateTopics(t, b, 4, n[0], n[1])
	f.topic = [2]string{n[0], n[1]}
	f.recs, _ = streamtest.Records(f.data, n[0], n[1])
	args := []string{"run", "--brokers", strings.Join(b.Addrs, ","), "--group", "g-" + n[0],
		"--topics", n[0] + "," + n[1], "--decisions-topic", n[2], "--dlq-topic", n[3], "--create-topics", "--partitions", "2",
		"--geoip-city", testenv.City, "--geoip-asn", testenv.ASN, "--emit", "all",
		"--metrics-addr", "127.0.0.1:0", "--log-format", "json"}
	produced := f.produce(t, b)
	after := inject(t, args)
	select {
	case err := <-produced:
		t.Log("the fault was over after the last event was produced")
		produced <- err
	default:
		t.Log("the fault was over while the traffic was still being produced")
	}
	if err := <-produced; err != nil {
		t.Fatalf("producing the traffic: %v", err)
	}
	f.check(t, b, n[2])
	if after != nil {
		after()
	}
}

// produce writes the traffic to b in paced chunks on a goroutine of its
// own, with one client made here, and sends the outcome on the returned
// channel when done. The goroutine stops when t ends (its cleanup waits),
// so that a fault test that fails early leaves nothing producing, and it
// never calls t itself.
func (f *fault) produce(t *testing.T, b streamtest.Broker) chan error {
	cl := streamtest.Client(t, b, kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	ctx, cancel := context.WithCancel(context.Background())
	produced, stopped := make(chan error, 1), make(chan struct{})
	t.Cleanup(func() { cancel(); <-stopped })
	go func() {
		defer close(stopped)
		var err error
		for i := 0; i < len(f.recs) && err == nil; i += 250 {
			err = cl.ProduceSync(ctx, f.recs[i:min(i+250, len(f.recs))]...).FirstErr()
			if err == nil && !retry.Sleep(ctx, 100*time.Millisecond) {
				err = ctx.Err()
			}
		}
		produced <- err
	}()
	return produced
}

// waitDecided waits until the members together have decided at least n
// events of the inputs and each has committed offsets twice since it
// started: a fault then lands on state that is partly in the changelogs
// (on a real broker the writes run well behind the deciding).
func (f *fault) waitDecided(t *testing.T, n int, ms ...*member) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		total, committed := 0, true
		var written []string
		for _, m := range ms {
			page := get(t, m.addr+"/metrics")
			total += eventsDecided(page, f.topic[0], f.topic[1])
			committed = committed && metricValue(page, "riskd_offset_commits_total") >= 2
			written = append(written, metricLine(page, "riskd_output_messages_total"))
		}
		if total >= n && committed {
			t.Logf("%d of %d events decided; messages written: %s", total, len(f.recs), strings.Join(written, "; "))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the members decided %d events in a minute, waiting for %d (committed twice: %v)", total, n, committed)
		}
	}
}

// check reads the decisions topic until it holds all of replay's decisions
// and fails t unless its distinct decisions are exactly replay's (same
// ids, so same actions and subjects) and every attack is caught.
func (f *fault) check(t *testing.T, b streamtest.Broker, topic string) {
	t.Helper()
	// Past replay's last decision, on until the topic has been quiet for 2
	// s: a decision that replay does not make may come after all of its.
	all, quiet := streamtest.HaveAll(f.want), streamtest.Quiet(2*time.Second)
	got := streamtest.Consume(t, b, topic, 2*time.Minute, func(r []*kgo.Record) bool { return all(r) && quiet(r) })
	byID, total := streamtest.DecisionIDs(t, got)
	testenv.CheckDecisionLines(t, got, func(r *kgo.Record) []byte { return r.Value })
	extra := 0
	for id := range byID {
		if _, ok := f.byID[id]; !ok {
			extra++
		}
	}
	t.Logf("%d decision messages, %d distinct (%d decided again), replay has %d; %d not replay's",
		total, len(byID), total-len(byID), len(f.want), extra)
	missing := 0
	for _, d := range f.want {
		if _, ok := byID[d.DecisionID]; !ok {
			if missing++; missing <= 10 {
				t.Logf("missing: event %s at %s, %s on %s %s (%s)", d.EventID, d.TS.Format(time.RFC3339), d.Action, d.Subject.Kind, d.Subject.ID, reasonRules(d))
			}
		}
	}
	if extra > 0 || len(byID) != len(f.want) {
		t.Errorf("%d decisions are not replay's, %d of replay's %d made", extra, len(byID)-extra, len(f.want))
	}
	streamtest.CheckCaught(t, byID)
}

// member is one `riskd run` process of a fault test.
type member struct {
	cmd      *exec.Cmd
	addr     string
	restored atomic.Int64 // partitions whose state it restored from a changelog
	done     chan struct{}
}

// startMember starts `riskd run` with args and counts, from its log, the
// partitions it restores.
func startMember(t *testing.T, args []string) *member {
	t.Helper()
	cmd, addr, logs := startRun(t, args...)
	m := &member{cmd: cmd, addr: addr, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for l := range logs {
			if l["message"] == "state restored" {
				m.restored.Add(1)
			}
		}
	}()
	return m
}

// kill ends the process with SIGKILL, as a crash.
func (m *member) kill(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = m.cmd.Wait()
	<-m.done
}

// stop ends the process with SIGTERM, as a deploy does, and waits for it.
func (m *member) stop(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Wait(); err != nil {
		t.Errorf("riskd run after SIGTERM: %v", err)
	}
	<-m.done
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

// metricValue returns the value of the metric name, without labels, in a
// /metrics page (0 when absent).
func metricValue(page, name string) float64 {
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			var f float64
			_, _ = fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

func reasonRules(d rules.Decision) string {
	var ids []string
	for _, r := range d.Reasons {
		ids = append(ids, r.Rule)
	}
	return strings.Join(ids, ",")
}
