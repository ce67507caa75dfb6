package client

// The brokers of the integration tests, as internal/streamtest gives them
// to the engine's tests, copied down to what these tests use, so that the
// client's tests build without the engine, as the client does.

import (
	"context"
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

// broker is a cluster a test runs against: "kfake" or "kafka".
type broker struct {
	Name  string
	Addrs []string
}

// brokers returns the embedded kfake broker, started for t, and the real
// Apache Kafka of RISKD_TEST_KAFKA. Without it, t fails under
// RISKD_REQUIRE_SERVICES=1 (make test) and only the embedded broker is
// returned otherwise (a plain `go test` on a laptop).
func brokers(t *testing.T) []broker {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	bs := []broker{{Name: "kfake", Addrs: c.ListenAddrs()}}
	if addr := os.Getenv("RISKD_TEST_KAFKA"); addr != "" {
		bs = append(bs, broker{Name: "kafka", Addrs: strings.Split(addr, ",")})
	} else if os.Getenv("RISKD_REQUIRE_SERVICES") == "1" {
		t.Errorf("RISKD_TEST_KAFKA is not set although RISKD_REQUIRE_SERVICES=1: start Apache Kafka with scripts/kafka.sh start (make test does)")
	} else {
		t.Logf("RISKD_TEST_KAFKA not set: testing against the embedded broker only")
	}
	return bs
}

// topicName returns a topic name unique to this run, so tests sharing a
// real broker never see each other's messages.
func topicName(b broker, name string) string {
	return fmt.Sprintf("%s-%s-%06d", name, b.Name, rand.IntN(1e6))
}

func franz(t *testing.T, b broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates topic with partitions and waits until every
// partition has a leader.
func createTopic(t *testing.T, b broker, partitions int32, topic string) {
	t.Helper()
	adm := kadm.NewClient(franz(t, b))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil && len(md.Topics[topic].Partitions) == int(partitions) && md.Topics[topic].Partitions.NumReplicas() > 0 && leaders(md.Topics[topic]) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s not visible in metadata after creation: %v", topic, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func leaders(td kadm.TopicDetail) bool {
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// produce writes records with franz-go, keyed as the Java client does,
// and waits for every acknowledgement.
func produce(t *testing.T, b broker, records ...*kgo.Record) {
	t.Helper()
	cl := franz(t, b, kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
