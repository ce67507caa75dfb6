package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
)

// kcatMalformed are events the decoder rejects, produced with the traffic:
// each must reach the dead-letter topic with its reason.
var kcatMalformed = []struct{ key, line, reason string }{
	{"u-kcat-1", `{"event_id":"kcat-bad-1","type":"teleport","ts":"2026-10-01T00:00:00Z","user_id":"u-kcat-1"}`, "unknown_type"},
	{"u-kcat-2", `{"event_id":"kcat-bad-2","type":"login","ts":"2026-10-01T00:00:00Z","user_id":"u-kcat-2"`, "invalid_json"},
}

// TestRunCommandKcat shows the topic contracts work outside Go: kcat
// (librdkafka, with its own partitioner) produces the shipped traffic
// keyed by user_id (contract §1) to a real Apache Kafka, `riskd run`
// decides on it, and kcat reads back the decisions topic. The decisions
// are exactly replay's (same ids), each keyed by its subject's id with
// the riskd-schema header (contract §2) and valid against the decision
// schema; the malformed events are on the dead-letter topic with their
// reason.
func TestRunCommandKcat(t *testing.T) {
	kcat := kcatPath(t)
	b := streamtest.Kafka(t)
	data, _ := testenv.ShippedTraffic(t)
	want := replayIDs(t, testenv.Traffic)

	n := streamtest.Names("kcat", "auth", "txn", "decisions", "dlq")
	streamtest.CreateTopics(t, b, 3, n[0], n[1])
	auth, txn := kcatInput(t, data)
	for _, m := range kcatMalformed {
		auth = append(auth, m.key+"\t"+m.line)
	}
	kcatProduce(t, kcat, b, n[0], auth)
	kcatProduce(t, kcat, b, n[1], txn)

	cmd, addr, _ := startRun(t, "run", "--brokers", strings.Join(b.Addrs, ","), "--group", "g-"+n[0],
		"--topics", n[0]+","+n[1], "--decisions-topic", n[2], "--dlq-topic", n[3], "--create-topics", "--partitions", "2",
		"--geoip-city", testenv.City, "--geoip-asn", testenv.ASN, "--metrics-addr", "127.0.0.1:0", "--log-format", "json")
	total := len(auth) + len(txn)
	for deadline := time.Now().Add(2 * time.Minute); eventsDecided(get(t, addr+"/metrics"), n[0], n[1]) < total; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("riskd decided %d of %d events", eventsDecided(get(t, addr+"/metrics"), n[0], n[1]), total)
		}
	}
	// The address stage decides after the user stage has read every event
	// (the repartition topic in between), and SIGTERM leaves what it has
	// not read for the next start: read with kcat until replay's decisions
	// are all there, then stop riskd, which drains, and read the whole
	// topic again for anything more.
	for deadline := time.Now().Add(2 * time.Minute); !haveIDs(kcatConsume(t, kcat, b, n[2]), want); time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("replay's decisions not all on the topic after 2 minutes")
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("riskd run after SIGTERM: %v", err)
	}

	got := kcatConsume(t, kcat, b, n[2])
	t.Logf("%d events produced with kcat, %d decision messages read with kcat, replay makes %d", total, len(got), len(want))
	kcatCheckDecisions(t, got, want)
	kcatCheckDLQ(t, kcatConsume(t, kcat, b, n[3]))
}

// kcatCheckDecisions checks the decision messages got against contract
// §2 and the decision schema, and their ids against want, replay's.
func kcatCheckDecisions(t *testing.T, got []kcatMessage, want map[string]bool) {
	t.Helper()
	testenv.CheckDecisionLines(t, got, func(m kcatMessage) []byte { return []byte(m.Payload) })
	onTopic := map[string]bool{}
	for _, m := range got {
		var d struct {
			ID      string `json:"decision_id"`
			Subject struct {
				ID string `json:"id"`
			} `json:"subject"`
		}
		if err := json.Unmarshal([]byte(m.Payload), &d); err != nil {
			t.Fatalf("decision at %d/%d: %v: %.300s", m.Partition, m.Offset, err, m.Payload)
		}
		if m.Key == nil || *m.Key != d.Subject.ID {
			t.Errorf("decision %s keyed %s, want the subject id %q", d.ID, m.keyText(), d.Subject.ID)
		}
		if h := m.header("riskd-schema"); h != "decision.v1" {
			t.Errorf("decision %s: header riskd-schema %q, want decision.v1", d.ID, h)
		}
		onTopic[d.ID] = true
	}
	for id := range want {
		if !onTopic[id] {
			t.Errorf("replay's decision %s not on the topic", id)
		}
	}
	for id := range onTopic {
		if !want[id] {
			t.Errorf("decision %s on the topic is not replay's", id)
		}
	}
}

// haveIDs reports whether every id of want is a decision_id in msgs.
func haveIDs(msgs []kcatMessage, want map[string]bool) bool {
	seen := map[string]bool{}
	for _, m := range msgs {
		if id := decisionID(m.Payload); want[id] {
			seen[id] = true
		}
	}
	return len(seen) == len(want)
}

// kcatPath returns kcat's path. Without it the test fails under
// RISKD_REQUIRE_SERVICES=1 (make test, whose scripts/deps.sh installs it)
// and is skipped otherwise.
func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	switch {
	case err == nil:
		return path
	case os.Getenv(streamtest.EnvRequire) == "1":
		t.Fatalf("kcat not found although %s=1: install it (apt-get install kcat; scripts/deps.sh does)", streamtest.EnvRequire)
	default:
		t.Skip("kcat not found: this test needs it (apt-get install kcat; make test installs it)")
	}
	return ""
}

// replayIDs returns the ids of the decisions `riskd replay` makes for the
// events in file, with the default --emit, as `riskd run` does.
func replayIDs(t *testing.T, file string) map[string]bool {
	t.Helper()
	var out, errOut bytes.Buffer
	if run(t.Context(), []string{"replay", "--events", file, "--geoip-city", testenv.City, "--geoip-asn", testenv.ASN},
		nil, &out, &errOut) != 0 {
		t.Fatal(errOut.String())
	}
	ids := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		ids[decisionID(l)] = true
	}
	if len(ids) == 0 {
		t.Fatal("replay made no decision")
	}
	return ids
}

// kcatInput splits JSON Lines events into kcat -K '\t' input lines for
// the auth and txn topics: the key (user_id), a tab, the event. JSON
// text has no raw tab or newline, and the shipped user ids no tab.
func kcatInput(t *testing.T, data []byte) (auth, txn []string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var head struct {
			Type   string `json:"type"`
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal([]byte(line), &head); err != nil || strings.ContainsAny(head.UserID, "\t\n") {
			t.Fatalf("shipped event not keyable for kcat (%v): %.200s", err, line)
		}
		if head.Type == "transaction" {
			txn = append(txn, head.UserID+"\t"+line)
		} else {
			auth = append(auth, head.UserID+"\t"+line)
		}
	}
	return auth, txn
}

// kcatProduce produces lines (key, tab, value) to topic with kcat and
// waits for every acknowledgement (kcat exits non-zero on a failed
// delivery).
func kcatProduce(t *testing.T, kcat string, b streamtest.Broker, topic string, lines []string) {
	t.Helper()
	in := strings.NewReader(strings.Join(lines, "\n") + "\n")
	kcatRun(t, kcat, in, "-P", "-b", strings.Join(b.Addrs, ","), "-t", topic, "-K", "\t", "-X", "acks=all")
}

// kcatMessage is one message as kcat -J prints it.
type kcatMessage struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Headers   []string `json:"headers"` // name, value, name, value, ...
	Key       *string  `json:"key"`
	Payload   string   `json:"payload"`
}

// header returns the value of the header name, or "".
func (m kcatMessage) header(name string) string {
	for i := 0; i+1 < len(m.Headers); i += 2 {
		if m.Headers[i] == name {
			return m.Headers[i+1]
		}
	}
	return ""
}

// keyText returns the key quoted, or "no key".
func (m kcatMessage) keyText() string {
	if m.Key == nil {
		return "no key"
	}
	return strconv.Quote(*m.Key)
}

// kcatConsume reads topic from the start to its end with kcat -C -e.
func kcatConsume(t *testing.T, kcat string, b streamtest.Broker, topic string) []kcatMessage {
	t.Helper()
	out := kcatRun(t, kcat, nil, "-C", "-b", strings.Join(b.Addrs, ","), "-t", topic, "-o", "beginning", "-e", "-J", "-q")
	var msgs []kcatMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var m kcatMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat -J printed %v: %.300s", err, sc.Bytes())
		}
		msgs = append(msgs, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// kcatRun runs kcat with args and stdin, and returns its output; it fails
// t with kcat's error output when kcat fails or takes over 2 minutes.
func kcatRun(t *testing.T, kcat string, stdin *strings.Reader, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %s: %v (context: %v): %s", strings.Join(args, " "), err, ctx.Err(), stderr.String())
	}
	return out
}

// kcatCheckDLQ checks that the dead-letter topic holds exactly the
// malformed events, each with its reason in the riskd-reason header.
func kcatCheckDLQ(t *testing.T, got []kcatMessage) {
	t.Helper()
	byValue := map[string]kcatMessage{}
	for _, m := range got {
		byValue[m.Payload] = m
	}
	for _, bad := range kcatMalformed {
		m, ok := byValue[bad.line]
		switch {
		case !ok:
			t.Errorf("malformed event not on the dead-letter topic: %s", bad.line)
		case m.header("riskd-reason") != bad.reason:
			t.Errorf("dead letter %s: riskd-reason %q, want %q (headers %v)", bad.line, m.header("riskd-reason"), bad.reason, m.Headers)
		}
	}
	if len(got) != len(kcatMalformed) {
		t.Errorf("%d dead letters, want %d", len(got), len(kcatMalformed))
	}
}
