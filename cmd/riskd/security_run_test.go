package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/chtest"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/storage"
)

// saslListener is the real broker's SASL_SSL listener (scripts/kafka.sh):
// its address, the CA of its certificate, and the user and password file
// of its logins.
type saslListener struct {
	addr, ca, user, passwordFile string
	clientCert, clientKey        string // signed by ca
	password                     string
	plain                        streamtest.Broker // the same broker's plaintext listener
}

// saslBroker returns the SASL_SSL listener that scripts/with-services.sh
// names in RISKD_TEST_KAFKA_SASL and the rest; without it, t fails under
// RISKD_REQUIRE_SERVICES=1 (make test) and is skipped otherwise.
func saslBroker(t *testing.T) saslListener {
	t.Helper()
	l := saslListener{addr: os.Getenv("RISKD_TEST_KAFKA_SASL"), ca: os.Getenv("RISKD_TEST_KAFKA_CA"),
		user: os.Getenv("RISKD_TEST_KAFKA_SASL_USER"), passwordFile: os.Getenv("RISKD_TEST_KAFKA_SASL_PASSWORD_FILE"),
		clientCert: os.Getenv("RISKD_TEST_KAFKA_CLIENT_CERT"), clientKey: os.Getenv("RISKD_TEST_KAFKA_CLIENT_KEY")}
	plain := os.Getenv(streamtest.EnvKafka)
	if l.addr == "" || l.ca == "" || l.user == "" || l.passwordFile == "" || l.clientCert == "" || l.clientKey == "" || plain == "" {
		msg := "RISKD_TEST_KAFKA_SASL, RISKD_TEST_KAFKA_CA, RISKD_TEST_KAFKA_SASL_USER, RISKD_TEST_KAFKA_SASL_PASSWORD_FILE, RISKD_TEST_KAFKA_CLIENT_CERT, RISKD_TEST_KAFKA_CLIENT_KEY and " + streamtest.EnvKafka +
			` name the real broker's listeners: start it with scripts/kafka.sh start, then eval "$(scripts/kafka.sh env)" (make test does)`
		if os.Getenv(streamtest.EnvRequire) == "1" {
			t.Fatalf("not set although %s=1: %s", streamtest.EnvRequire, msg)
		}
		t.Skip("no SASL_SSL listener: " + msg)
	}
	pw, err := os.ReadFile(l.passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	l.password = strings.TrimSpace(string(pw))
	l.plain = streamtest.Broker{Name: "kafka", Addrs: strings.Split(plain, ",")}
	return l
}

// TestRunCommandOverSASL runs `riskd run` against the real broker's
// SASL_SSL listener, SCRAM-SHA-512 over TLS with the test CA, a client
// certificate the broker checks, and the password from
// RISKD_KAFKA_SASL_PASSWORD (and, with a ClickHouse, its sink
// over the same connections): it makes the decisions replay makes, exits 0
// on SIGTERM, and its log never shows the password. Topics are made, and
// the traffic produced and the decisions read, through the plaintext
// listener of the same broker.
func TestRunCommandOverSASL(t *testing.T) {
	l := saslBroker(t)
	traffic, err := os.ReadFile("../../testdata/scenarios/traffic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var replayOut, replayErr bytes.Buffer
	if run(t.Context(), []string{"replay", "--events", "../../testdata/scenarios/traffic.jsonl",
		"--geoip-city", "../../testdata/geoip/riskd-test-City.mmdb", "--geoip-asn", "../../testdata/geoip/riskd-test-ASN.mmdb"},
		nil, &replayOut, &replayErr) != 0 {
		t.Fatal(replayErr.String())
	}
	want := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(replayOut.String()), "\n") {
		want[decisionID(line)] = true
	}

	n := streamtest.Names("sasl", "auth", "txn", "decisions", "dlq")
	streamtest.CreateTopics(t, l.plain, 2, n[0], n[1])
	recs, _ := streamtest.Records(traffic, n[0], n[1])
	streamtest.Produce(t, l.plain, recs)
	args := []string{"run", "--brokers", l.addr, "--group", "g-" + n[0],
		"--topics", n[0] + "," + n[1], "--decisions-topic", n[2], "--dlq-topic", n[3], "--create-topics", "--partitions", "2",
		"--geoip-city", "../../testdata/geoip/riskd-test-City.mmdb", "--geoip-asn", "../../testdata/geoip/riskd-test-ASN.mmdb",
		"--metrics-addr", "127.0.0.1:0", "--log-format", "json",
		"--kafka-tls-ca", l.ca, "--kafka-tls-cert", l.clientCert, "--kafka-tls-key", l.clientKey,
		"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", l.user}
	var dsn string
	if os.Getenv(chtest.EnvDSN) != "" {
		dsn, _ = chtest.DSN(t)
		args = append(args, "--clickhouse", dsn, "--features-topic", "features-"+n[0])
	}
	t.Setenv("RISKD_KAFKA_SASL_PASSWORD", l.password) // riskd's environment: riskdCmd passes os.Environ
	cmd, addr, log := startLogged(t, args...)
	waitStatus(t, addr+"/readyz", http.StatusOK)

	got := streamtest.Consume(t, l.plain, n[2], 2*time.Minute, func(recs []*kgo.Record) bool {
		seen := map[string]bool{}
		for _, r := range recs {
			if id := decisionID(string(r.Value)); want[id] {
				seen[id] = true
			}
		}
		return len(seen) == len(want)
	})
	onTopic := map[string]bool{}
	for _, r := range got {
		onTopic[decisionID(string(r.Value))] = true
	}
	missing := 0
	for id := range want {
		if !onTopic[id] {
			missing++
		}
	}
	t.Logf("%d decisions on the topic, %d from replay, %d of them missing", len(got), len(want), missing)
	if missing > 0 || len(want) == 0 {
		t.Errorf("%d of replay's %d decisions did not come over SASL_SSL", missing, len(want))
	}
	if body := get(t, addr+"/metrics"); strings.Contains(body, l.password) {
		t.Error("/metrics shows the SASL password")
	}
	if dsn != "" {
		// The sink reads the decisions over SASL_SSL too. Its tables are
		// its own to create: until they are, the query fails.
		conn, db, err := storage.Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var stored uint64
		for deadline := time.Now().Add(time.Minute); stored != uint64(len(onTopic)) && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			err = conn.QueryRow(t.Context(), "SELECT uniqExact(decision_id) FROM "+db+".risk_decisions").Scan(&stored)
		}
		if stored != uint64(len(onTopic)) {
			t.Errorf("risk_decisions holds %d decisions, the topic %d (last query: %v)", stored, len(onTopic), err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 30*time.Second); err != nil {
		t.Fatalf("riskd run after SIGTERM: %v", err)
	}
	out := log.String()
	for _, w := range []string{`"kafka_security":"SASL_SSL SCRAM-SHA-512 as ` + l.user + `"`, "drained, committed and left the group"} {
		if !strings.Contains(out, w) {
			t.Errorf("riskd run's log lacks %s", w)
		}
	}
	if strings.Contains(out, l.password) {
		t.Error("riskd run's log shows the SASL password")
	}
}

// lockedBuffer is a bytes.Buffer safe for a process's writes and a
// test's reads at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLogged starts `riskd run` with args (which must log JSON and serve
// metrics on a port of its own) and returns the process, the address of
// its metrics server and its whole log, shown when t fails.
func startLogged(t *testing.T, args ...string) (*exec.Cmd, string, *lockedBuffer) {
	t.Helper()
	cmd := riskdCmd(args...)
	log := &lockedBuffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("riskd run's log:\n%s", log.String())
		}
	})
	serving := regexp.MustCompile(`"addr":"(http://[^"]+)"[^\n]*"message":"serving /metrics`)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := serving.FindStringSubmatch(log.String()); m != nil {
			return cmd, m[1], log
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	t.Fatal("riskd run never said where it serves metrics")
	return nil, "", nil
}

// waitExit waits for cmd to end, at most d.
func waitExit(cmd interface{ Wait() error }, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return os.ErrDeadlineExceeded
	}
}

// TestRunCommandRefusedLogin checks that riskd run and riskd sink stop at
// once, exit 1, when the SASL_SSL listener refuses their login or its
// certificate is not trusted, with an error that says what to check and
// names the mechanism and user, never the password.
func TestRunCommandRefusedLogin(t *testing.T) {
	l := saslBroker(t)
	const wrong = "not-the-password-7f3a"
	wrongFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(wrongFile, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sasl := func(mech, password string) []string {
		return []string{"--kafka-tls-ca", l.ca, "--kafka-sasl-mechanism", mech, "--kafka-sasl-user", l.user, "--kafka-sasl-password-file", password}
	}
	for _, tc := range []struct {
		name string
		cmd  string
		args []string
		want []string
	}{
		{"SCRAM-SHA-512 wrong password", "run", sasl("SCRAM-SHA-512", wrongFile),
			[]string{`the brokers refused the SASL SCRAM-SHA-512 login of user "` + l.user + `"`, "RISKD_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file"}},
		{"SCRAM-SHA-256 wrong password", "run", sasl("SCRAM-SHA-256", wrongFile), []string{"SASL SCRAM-SHA-256 login of user"}},
		{"PLAIN wrong password", "run", sasl("PLAIN", wrongFile), []string{"SASL PLAIN login of user"}},
		{"sink, wrong password", "sink", sasl("SCRAM-SHA-512", wrongFile), []string{"SASL SCRAM-SHA-512 login of user"}},
		{"no CA for the broker's certificate", "run", []string{"--kafka-tls", "--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", l.user, "--kafka-sasl-password-file", l.passwordFile},
			[]string{"the brokers' TLS certificate is not trusted", "--kafka-tls-ca"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{tc.cmd, "--brokers", l.addr, "--group", "refused", "--topics", "refused-auth", "--metrics-addr", "",
				"--clickhouse", "clickhouse://127.0.0.1:1/refused"}, tc.args...)
			cmd := riskdCmd(args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			err := waitExit(cmd, 45*time.Second)
			if err == os.ErrDeadlineExceeded {
				_ = cmd.Process.Kill()
				t.Fatalf("riskd %s still runs after 45 s:\n%s", tc.cmd, stderr.String())
			}
			out := stderr.String()
			t.Logf("exit after %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
			if cmd.ProcessState.ExitCode() != 1 {
				t.Errorf("exit %d, want 1", cmd.ProcessState.ExitCode())
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error lacks %q", w)
				}
			}
			if strings.Contains(out, wrong) || strings.Contains(out, l.password) {
				t.Error("the output shows a password")
			}
		})
	}
}
