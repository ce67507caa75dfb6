package streamtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/rules"
)

// Metrics are shared by the members the tests start, one test at a time:
// a registry takes each metric once.
var Metrics = stream.NewMetrics(nil)

// Topics are one test's topic names.
type Topics struct {
	Auth, Txn, Decisions, DLQ, IP string
}

// NewTopics names a test's topics on b and creates the inputs (4
// partitions) and the outputs (2); the address topic is the member's.
func NewTopics(t *testing.T, b Broker) Topics {
	n := Names(b.Name, "auth", "txn", "decisions", "dlq", "ip")
	tp := Topics{Auth: n[0], Txn: n[1], Decisions: n[2], DLQ: n[3], IP: n[4]}
	CreateTopics(t, b, 4, tp.Auth, tp.Txn)
	CreateTopics(t, b, 2, tp.Decisions, tp.DLQ)
	return tp
}

// TrafficRecords returns the shipped traffic as the upstream services
// would produce it (see Records), plus bad messages on the auth topic.
func TrafficRecords(t *testing.T, tp Topics, bad ...string) ([]*kgo.Record, []byte) {
	t.Helper()
	data, err := os.ReadFile(testenv.Traffic)
	if err != nil {
		t.Fatal(err)
	}
	recs, notJSON := Records(data, tp.Auth, tp.Txn)
	if notJSON > 0 {
		t.Fatalf("%d lines of the shipped traffic are not JSON", notJSON)
	}
	for _, b := range bad {
		recs = append(recs, &kgo.Record{Topic: tp.Auth, Key: []byte("bad"), Value: []byte(b)})
	}
	return recs, data
}

// Records returns the JSON Lines events of data as the upstream services
// produce them: transactions on txn, the rest on auth, keyed by user_id.
// A line that is not JSON goes to auth with no key; notJSON counts them.
func Records(data []byte, auth, txn string) (recs []*kgo.Record, notJSON int) {
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var head struct {
			Type   string `json:"type"`
			UserID string `json:"user_id"`
		}
		if json.Unmarshal(line, &head) != nil {
			notJSON++
		}
		topic := auth
		if head.Type == "transaction" {
			topic = txn
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(head.UserID), Value: line})
	}
	return recs, notJSON
}

// NewMember returns a member of group reading tp on b with the shipped
// rules and test GeoIP databases.
func NewMember(t *testing.T, b Broker, tp Topics, group string, emitAll bool) *stream.Member {
	t.Helper()
	return NewMemberWith(t, b, tp, group, emitAll, nil)
}

// NewMemberWith is NewMember with edit applied to the configuration.
func NewMemberWith(t *testing.T, b Broker, tp Topics, group string, emitAll bool, edit func(*stream.Config)) *stream.Member {
	t.Helper()
	set, err := rules.Load(testenv.Rules)
	if err != nil {
		t.Fatal(err)
	}
	db, warns := geoip.Open(testenv.City, testenv.ASN)
	if len(warns) > 0 {
		t.Fatal(warns)
	}
	w := alerting.NewWriter(b.Addrs)
	t.Cleanup(func() { w.Close() })
	cfg := stream.Config{
		Brokers:        b.Addrs,
		Group:          group,
		Topics:         []string{tp.Auth, tp.Txn},
		DecisionsTopic: tp.Decisions,
		DLQTopic:       tp.DLQ,
		IPTopic:        tp.IP,
		UserStateTopic: group + "-user-state",
		IPStateTopic:   group + "-ip-state",
		Rules:          set,
		GeoIP:          db,
		Writer:         w,
		EmitAll:        emitAll,
		Metrics:        Metrics,
		Log:            zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		DrainTimeout:   10 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := stream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Run runs s until the returned stop is called; stop returns Run's
// error and how long the drain took.
func Run(s *stream.Member) (stop func() (error, time.Duration)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() (error, time.Duration) {
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			return err, time.Since(start)
		case <-time.After(45 * time.Second):
			return context.DeadlineExceeded, time.Since(start)
		}
	}
}

// DecisionIDs decodes the decisions of recs by id, checking that each is
// keyed by its subject, and returns how many records there were.
func DecisionIDs(t *testing.T, recs []*kgo.Record) (map[string]rules.Decision, int) {
	t.Helper()
	out := map[string]rules.Decision{}
	for _, r := range recs {
		var d rules.Decision
		if err := json.Unmarshal(r.Value, &d); err != nil {
			t.Fatalf("decision %s: %v", r.Value, err)
		}
		if string(r.Key) != d.Subject.ID {
			t.Errorf("decision %s keyed %q, want the subject id %q", d.DecisionID, r.Key, d.Subject.ID)
		}
		out[d.DecisionID] = d
	}
	return out, len(recs)
}

// Seen returns the set of a string field (decision_id, event_id) of the
// decisions in recs.
func Seen(recs []*kgo.Record, field string) map[string]bool {
	out := map[string]bool{}
	for _, r := range recs {
		var d map[string]any
		_ = json.Unmarshal(r.Value, &d)
		if v, ok := d[field].(string); ok {
			out[v] = true
		}
	}
	return out
}

// CheckCaught scores the decisions against the shipped traffic's labels.
func CheckCaught(t *testing.T, byID map[string]rules.Decision) {
	t.Helper()
	_, labels := testenv.ShippedTraffic(t)
	var all []rules.Decision
	for _, d := range byID {
		all = append(all, d)
	}
	testenv.CheckReport(t, scenario.Score(labels, all))
}

// HaveAll returns a stop condition for Consume: every decision of want read.
func HaveAll(want []rules.Decision) func([]*kgo.Record) bool {
	return func(recs []*kgo.Record) bool {
		if len(recs) < len(want) {
			return false
		}
		seen := Seen(recs, "decision_id")
		for _, d := range want {
			if !seen[d.DecisionID] {
				return false
			}
		}
		return true
	}
}
