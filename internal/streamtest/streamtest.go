// Package streamtest gives the integration tests their Kafka brokers: the
// embedded kfake broker, always, and the real Apache Kafka that `make test`
// starts (scripts/kafka.sh) and names in RISKD_TEST_KAFKA. Producing and
// consuming here go through franz-go, a different client from the engine's
// kafka-go, as an upstream or downstream service of another team would.
package streamtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvKafka names the real broker's bootstrap address; EnvRequire, when
// "1" (make test sets it), makes a missing real broker a failure.
const (
	EnvKafka   = "RISKD_TEST_KAFKA"
	EnvRequire = "RISKD_REQUIRE_SERVICES"
)

// Broker is a cluster a test runs against.
type Broker struct {
	Name  string // "kfake" or "kafka"
	Addrs []string
}

// Brokers returns the embedded broker, started for t and stopped with it,
// and the real Apache Kafka from RISKD_TEST_KAFKA. Without it, t fails
// under RISKD_REQUIRE_SERVICES=1 and only the embedded broker is returned
// otherwise (a plain `go test` on a laptop).
func Brokers(t testing.TB) []Broker {
	t.Helper()
	bs := []Broker{Embedded(t)}
	if addr := os.Getenv(EnvKafka); addr != "" {
		bs = append(bs, Broker{Name: "kafka", Addrs: strings.Split(addr, ",")})
	} else if os.Getenv(EnvRequire) == "1" {
		t.Errorf("%s is not set although %s=1: start Apache Kafka with scripts/kafka.sh start (make test does)", EnvKafka, EnvRequire)
	} else {
		t.Logf("%s not set: testing against the embedded broker only", EnvKafka)
	}
	return bs
}

// Embedded starts a one-broker kfake cluster for t.
func Embedded(t testing.TB) Broker {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return Broker{Name: "kfake", Addrs: c.ListenAddrs()}
}

// Names returns topic names unique to this run, so tests sharing a real
// broker never see each other's messages.
func Names(prefix string, names ...string) []string {
	suffix := fmt.Sprintf("%s-%06d", prefix, rand.IntN(1e6))
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + "-" + suffix
	}
	return out
}

// Client returns a franz-go client of b for t.
func Client(t testing.TB, b Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopics creates topics with the given partition count.
func CreateTopics(t testing.TB, b Broker, partitions int32, topics ...string) {
	t.Helper()
	CreateTopicsWith(t, b, partitions, nil, topics...)
}

// CreateTopicsWith creates topics with the given partition count and
// topic configs (max.message.bytes, ...), and waits for their leaders.
func CreateTopicsWith(t testing.TB, b Broker, partitions int32, configs map[string]*string, topics ...string) {
	t.Helper()
	adm := kadm.NewClient(Client(t, b))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, partitions, 1, configs, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			t.Fatalf("create topic %s: %v", r.Topic, r.Err)
		}
	}
	// A real broker answers before every broker's metadata has the topics
	// and their partitions have leaders; a consumer group joined before
	// that is assigned nothing.
	for {
		md, err := adm.Metadata(ctx, topics...)
		if err == nil && md.Topics.Error() == nil && led(md.Topics, topics, partitions) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topics %v not visible in metadata after creation: %v", topics, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func led(ts kadm.TopicDetails, topics []string, partitions int32) bool {
	for _, name := range topics {
		t, ok := ts[name]
		if !ok || int32(len(t.Partitions)) != partitions {
			return false
		}
		for _, p := range t.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

// Produce writes records and waits for every acknowledgement. Records
// with a key are partitioned by it the way the Java client does.
func Produce(t testing.TB, b Broker, records []*kgo.Record) {
	t.Helper()
	cl := Client(t, b, kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Consume reads topic from the start until done says it has enough (it is
// asked at least every 200 ms) or timeout passes, and returns what it read.
func Consume(t testing.TB, b Broker, topic string, timeout time.Duration, done func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl := Client(t, b, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	deadline := time.Now().Add(timeout)
	var out []*kgo.Record
	for !done(out) {
		if time.Now().After(deadline) {
			t.Logf("consume %s: stopped after %s with %d records", topic, timeout, len(out))
			return out
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("consume %s[%d]: %v", topic, p, err)
			}
		})
		out = append(out, fs.Records()...)
	}
	return out
}

// Quiet returns a done function for Consume that says enough once no
// record has come for d.
func Quiet(d time.Duration) func([]*kgo.Record) bool {
	n, since := -1, time.Now()
	return func(recs []*kgo.Record) bool {
		if len(recs) != n {
			n, since = len(recs), time.Now()
		}
		return time.Since(since) >= d
	}
}
