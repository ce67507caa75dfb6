package stream

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// BenchmarkRestore measures the restore of one user-stage partition
// holding RISKD_BENCH_RESTORE_USERS users (default 1,000,000; each has
// logged in once from its own device and address) from its changelog,
// against a floor in the same run: reading the same changelog partition
// with the same connection and batch size, decoding nothing. Against the
// real broker when RISKD_TEST_KAFKA names one, the embedded one otherwise.
//
//	go test ./pipeline/stream -run '^$' -bench Restore -benchtime 3x
func BenchmarkRestore(b *testing.B) {
	users := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("RISKD_BENCH_RESTORE_USERS")); err == nil && v > 0 {
		users = v
	}
	brokers := benchBrokers(b)
	set, err := rules.Load(testenv.Rules)
	if err != nil {
		b.Fatal(err)
	}
	set.Detectors.State.MaxUsers = users
	topic := fmt.Sprintf("restore-bench-%d", time.Now().UnixNano())
	var resp *kafka.CreateTopicsResponse
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	resp, err = client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		b.Fatal(err)
	}
	// A million states are about 100 MB on the broker: not left behind.
	b.Cleanup(func() {
		_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	})
	bytes := writeUserStates(b, brokers, set, topic, users)
	c := &Config{Brokers: brokers, UserStateTopic: topic, Dialer: &kafka.Dialer{Timeout: 10 * time.Second},
		Log: zerolog.Nop(), Metrics: NewMetrics(nil)}
	b.Run("floor", func(b *testing.B) {
		for b.Loop() {
			if n := readAll(b, c, topic); n != users+1 {
				b.Fatalf("read %d messages, want %d", n, users+1)
			}
		}
		b.ReportMetric(float64(bytes)/float64(users), "changelog_B/user")
	})
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			w := &worker{cfg: c, stage: rules.UserStage, stageID: "user", partition: 0, engine: pipeline.NewEngine(set)}
			applied, err := w.restore(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if got := w.engine.Stats().Users; got != users || len(applied) != 1 {
				b.Fatalf("restored %d users and %d applied offsets, want %d and 1", got, len(applied), users)
			}
		}
		b.ReportMetric(float64(users), "users")
	})
}

// writeUserStates decides one login for each of n users and writes the
// user state they leave, and one applied offset, to partition 0 of topic.
// It returns the bytes of keys and values written.
func writeUserStates(b *testing.B, brokers []string, set *rules.Set, topic string, n int) int {
	b.Helper()
	eng := pipeline.NewEngine(set)
	eng.TrackChanges(rules.UserStage)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(time.Hour)
	for i := range n {
		ev := event.Event{ID: fmt.Sprintf("e%d", i), Type: event.Login, Outcome: event.Success, UserID: fmt.Sprintf("user-%07d", i),
			TS: start.Add(time.Duration(i) * time.Millisecond), IP: netip.AddrFrom4([4]byte{81, byte(i >> 16), byte(i >> 8), byte(i)}),
			DeviceID: fmt.Sprintf("device-%07d", i)}
		if _, _, err := eng.DecideUser(&ev, now, nil); err != nil {
			b.Fatal(err)
		}
	}
	msgs := make([]kafka.Message, 0, n+1)
	total := 0
	err := eng.Changes(rules.UserStage, func(key string, value []byte) {
		msgs = append(msgs, kafka.Message{Key: []byte(key), Value: value})
		total += len(key) + len(value)
	})
	if err != nil {
		b.Fatal(err)
	}
	msgs = append(msgs, kafka.Message{Key: []byte(appliedPrefix + sourceKey("auth", 0)), Value: []byte(strconv.Itoa(n))})
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchSize: 10_000,
		BatchBytes: 900 << 10, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	for i := 0; i < len(msgs); i += 10_000 {
		if err := w.WriteMessages(context.Background(), msgs[i:min(i+10_000, len(msgs))]...); err != nil {
			var we kafka.WriteErrors
			if errors.As(err, &we) && len(we) > 0 {
				err = fmt.Errorf("%d of %d messages not written, the first: %w", we.Count(), len(we), we[0])
			}
			b.Fatal(err)
		}
	}
	return total
}

// readAll reads partition 0 of topic from its start to its end as restore
// does (readPartition) and counts the messages.
func readAll(b *testing.B, c *Config, topic string) int {
	n := 0
	if _, err := readPartition(context.Background(), c, topic, 0, func(*kafka.Message) { n++ }); err != nil {
		b.Fatal(err)
	}
	return n
}

// benchBrokers returns the real broker of RISKD_TEST_KAFKA, or an embedded
// one started for b.
func benchBrokers(b *testing.B) []string {
	if addr := os.Getenv("RISKD_TEST_KAFKA"); addr != "" {
		return strings.Split(addr, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c.ListenAddrs()
}
