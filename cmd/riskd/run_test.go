package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
)

// TestMain lets a test start this binary as `riskd` (see riskd).
func TestMain(m *testing.M) {
	if os.Getenv("RISKD_TEST_AS_RISKD") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// riskdCmd returns this test binary as the riskd command with args, not
// started yet.
func riskdCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RISKD_TEST_AS_RISKD=1")
	return cmd
}

// riskd starts this test binary as the riskd command with args.
func riskd(t *testing.T, args ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := riskdCmd(args...)
	return cmd, start(t, cmd)
}

// start starts cmd (made by riskdCmd, its other pipes set up) with its
// stderr piped, and kills it when t ends.
func start(t *testing.T, cmd *exec.Cmd) io.Reader {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return stderr
}

// TestRunCommand runs `riskd run` as a process on each broker, brokers
// with default message limits: it decides on the shipped traffic with
// hostile events mixed into its middle (scenario.Hostile: forged
// timestamps from many accounts, 400 KB device ids, malformed ids; produced
// with another client) as replay does, serves /readyz and /metrics, and on
// SIGTERM drains, commits and exits 0.
func TestRunCommand(t *testing.T) {
	shipped, err := os.ReadFile("../../testdata/scenarios/traffic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	hostile := scenario.DefaultHostile()
	hostile.HugeEvent = 0 // a broker with default limits refuses it from the producer
	// Each link of the creeping chain is a day of its own, and so a daily
	// partition of risk_features: ClickHouse 18.16 takes over 10 s to
	// write a block that makes 200 new parts, past the sink's drain on
	// SIGTERM (the rows then wait in Kafka for the next start, which this
	// test does not make). 20 days are enough here; the stream tests run
	// the whole chain.
	hostile.Creep = 20
	traffic, err := scenario.Hostile(shipped, hostile)
	if err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(t.TempDir(), "traffic.jsonl")
	if err := os.WriteFile(events, traffic, 0o644); err != nil {
		t.Fatal(err)
	}
	var replayOut, replayErr bytes.Buffer
	if run(t.Context(), []string{"replay", "--events", events,
		"--geoip-city", "../../testdata/geoip/riskd-test-City.mmdb", "--geoip-asn", "../../testdata/geoip/riskd-test-ASN.mmdb"},
		nil, &replayOut, &replayErr) != 0 {
		t.Fatal(replayErr.String())
	}
	var read, accepted int
	if _, err := fmt.Sscanf(replayErr.String()[strings.Index(replayErr.String(), "replay: "):], "replay: %d events read, %d accepted", &read, &accepted); err != nil {
		t.Fatalf("replay's summary: %v\n%s", err, replayErr.String())
	}
	want := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(replayOut.String()), "\n") {
		want[decisionID(l)] = true
	}

	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			n := streamtest.Names(b.Name, "auth", "txn", "decisions", "dlq")
			streamtest.CreateTopics(t, b, 3, n[0], n[1])
			recs, _ := streamtest.Records(traffic, n[0], n[1]) // the hostile lines include malformed ones
			streamtest.Produce(t, b, recs)

			args := []string{"run", "--brokers", strings.Join(b.Addrs, ","), "--group", "g-" + n[0],
				"--topics", n[0] + "," + n[1], "--decisions-topic", n[2], "--dlq-topic", n[3], "--create-topics", "--partitions", "2",
				"--geoip-city", "../../testdata/geoip/riskd-test-City.mmdb", "--geoip-asn", "../../testdata/geoip/riskd-test-ASN.mmdb",
				"--metrics-addr", "127.0.0.1:0", "--log-format", "json"}
			// With a ClickHouse (make test has one), features and decisions
			// are stored too, and checked after the stop.
			var dsn string
			if os.Getenv(chtest.EnvDSN) != "" {
				dsn, _ = chtest.DSN(t)
				args = append(args, "--clickhouse", dsn, "--features-topic", "features-"+n[0])
			}
			cmd, addr, logs := startRun(t, args...)
			waitStatus(t, addr+"/readyz", http.StatusOK)

			got := streamtest.Consume(t, b, n[2], 2*time.Minute, func(recs []*kgo.Record) bool {
				seen := 0
				ids := map[string]bool{}
				for _, r := range recs {
					if id := decisionID(string(r.Value)); want[id] && !ids[id] {
						ids[id] = true
						seen++
					}
				}
				return seen == len(want)
			})
			t.Logf("%s: %d decisions on the topic, %d from replay", b.Name, len(got), len(want))
			testenv.CheckDecisionLines(t, got, func(r *kgo.Record) []byte { return r.Value })
			onTopic := map[string]bool{}
			for _, r := range got {
				onTopic[decisionID(string(r.Value))] = true
			}
			for _, l := range strings.Split(strings.TrimSpace(replayOut.String()), "\n") {
				if !onTopic[decisionID(l)] {
					t.Errorf("replay's decision not on the topic: %.300s", l)
				}
			}
			// Every event decided, not only the last decision out: SIGTERM
			// leaves unread events for the next start, with no row yet.
			for deadline := time.Now().Add(time.Minute); eventsDecided(get(t, addr+"/metrics"), n[0], n[1]) < len(recs); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("riskd decided %d of %d events", eventsDecided(get(t, addr+"/metrics"), n[0], n[1]), len(recs))
				}
			}
			body := get(t, addr+"/metrics")
			for _, m := range []string{"riskd_events_total{topic=", "riskd_decisions_total{action=\"lockout\"", "riskd_decision_ingest_latency_seconds_bucket", "riskd_consumer_lag_messages"} {
				if !strings.Contains(body, m) {
					t.Errorf("/metrics lacks %s", m)
				}
			}

			var conn driver.Conn
			var db string
			if dsn != "" {
				// No waiting for the sink: on SIGTERM it reads the stream's
				// last outputs and inserts them before riskd exits.
				conn, db = chtest.Open(t, dsn)
			}

			start := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("riskd run after SIGTERM: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("riskd run did not exit within 30 s of SIGTERM")
			}
			drained := false
			for m := range logs {
				drained = drained || m["message"] == "drained, committed and left the group"
			}
			t.Logf("exit 0 %s after SIGTERM; drained: %v", time.Since(start).Round(time.Millisecond), drained)
			if !drained {
				t.Error("no drain message in the log")
			}
			if dsn == "" {
				return
			}
			ctx := t.Context()
			rows, ids := chtest.Optimize(t, conn, db)
			t.Logf("risk_features: %d rows, %d event ids, %d events accepted of %d", rows, ids, accepted, len(recs))
			if rows != uint64(accepted) || ids != rows {
				t.Errorf("risk_features holds %d rows and %d ids for %d accepted events", rows, ids, accepted)
			}
			q, err := conn.Query(ctx, "SELECT decision_id, count() FROM "+db+".risk_decisions GROUP BY decision_id")
			if err != nil {
				t.Fatal(err)
			}
			stored := 0
			for q.Next() {
				var id string
				var c uint64
				_ = q.Scan(&id, &c)
				stored++
				if !onTopic[id] || c != 1 {
					t.Errorf("risk_decisions: %s has %d rows (on the topic: %v)", id, c, onTopic[id])
				}
			}
			q.Close()
			if stored != len(onTopic) {
				t.Errorf("risk_decisions holds %d decision ids, the topic %d", stored, len(onTopic))
			}
		})
	}
}

// eventsDecided sums riskd_events_total of the given input topics in a
// /metrics page.
func eventsDecided(metrics string, topics ...string) int {
	total := 0
	for _, line := range strings.Split(metrics, "\n") {
		for _, topic := range topics {
			if strings.HasPrefix(line, `riskd_events_total{topic="`+topic+`"`) {
				var v float64
				if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
					total += int(v)
				}
			}
		}
	}
	return total
}

func decisionID(line string) string {
	var d struct {
		ID string `json:"decision_id"`
	}
	_ = json.Unmarshal([]byte(line), &d)
	return d.ID
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitStatus(t *testing.T, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %d", url, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadyz checks that /readyz says why it is not ready: before the
// group, and while partitions are stalled (Stream.Stalled), as `riskd run`
// wires it.
func TestReadyz(t *testing.T) {
	why := ""
	srv, err := serveOpsCheck("127.0.0.1:0", prometheus.NewRegistry(), func() string { return why })
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tt := range []struct {
		why    string
		status int
	}{
		{"", http.StatusOK},
		{"the outputs of 2 partitions have not been written for the stall timeout", http.StatusServiceUnavailable},
		{"", http.StatusOK},
	} {
		why = tt.why
		resp, err := http.Get("http://" + srv.Addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.why) {
			t.Errorf("/readyz with %q: %d %q, want %d", tt.why, resp.StatusCode, body, tt.status)
		}
	}
}

// startRun starts `riskd run` with args (which must log JSON and serve
// metrics) and returns the process, the address of its metrics server and
// its log lines, decoded; the log is shown when t fails.
func startRun(t *testing.T, args ...string) (*exec.Cmd, string, <-chan map[string]any) {
	t.Helper()
	cmd, stderr := riskd(t, args...)
	logs := make(chan map[string]any, 1000)
	var mu sync.Mutex
	var lines []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() {
			t.Logf("riskd run's log:\n%s", strings.Join(lines, "\n"))
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case logs <- m:
				default: // never block riskd on its stderr
				}
			}
		}
		close(logs)
	}()
	for m := range logs {
		if m["message"] == "serving /metrics, /healthz and /readyz" {
			return cmd, m["addr"].(string), logs
		}
	}
	t.Fatal("riskd run never said where it serves metrics")
	return nil, "", nil
}
