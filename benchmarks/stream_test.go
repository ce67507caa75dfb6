package benchmarks

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/pipeline/stream"
)

// streamRig is one streaming run: its topics, a Stream over them and a
// consumer of its decisions.
type streamRig struct {
	auth, txn string
	stream    *stream.Member
	consumer  *kgo.Client
	stop      func()
}

// newRig creates the topics, produces backlog (which may be nil) and
// returns a stream not yet started (--emit all, so that every event has a
// decision to wait for).
func newRig(b *testing.B, br streamtest.Broker, backlog [][]byte) *streamRig {
	b.Helper()
	n := streamtest.Names(br.Name, "auth", "txn", "decisions", "dlq", "ip")
	r := &streamRig{auth: n[0], txn: n[1]}
	streamtest.CreateTopics(b, br, 4, n[0], n[1])
	streamtest.CreateTopics(b, br, 4, n[2], n[3])
	if len(backlog) > 0 {
		recs := make([]*kgo.Record, len(backlog))
		for i, l := range backlog {
			recs[i] = r.record(l)
		}
		streamtest.Produce(b, br, recs)
	}
	db, _ := geoip.Open(testenv.City, testenv.ASN)
	w := alerting.NewWriter(br.Addrs)
	b.Cleanup(func() { w.Close() })
	var err error
	r.stream, err = stream.New(stream.Config{
		Brokers: br.Addrs, Group: "bench-" + n[0], Topics: []string{n[0], n[1]},
		DecisionsTopic: n[2], DLQTopic: n[3], IPTopic: n[4],
		Rules: shippedRules(b), GeoIP: db, Writer: w, EmitAll: true, Log: zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	r.consumer = streamtest.Client(b, br, kgo.ConsumeTopics(n[2]), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond))
	return r
}

func (r *streamRig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.stream.Run(ctx) }()
	r.stop = func() { cancel(); <-done }
}

func (r *streamRig) record(line []byte) *kgo.Record {
	var h struct {
		Type   string `json:"type"`
		UserID string `json:"user_id"`
	}
	_ = json.Unmarshal(line, &h)
	topic := r.auth
	if h.Type == "transaction" {
		topic = r.txn
	}
	return &kgo.Record{Topic: topic, Key: []byte(h.UserID), Value: line}
}

// BenchmarkStreamThroughput measures the streaming path on a backlog: the
// shipped traffic is produced first, then one op is riskd deciding all of
// it on 4 partitions, from the moment it holds its partitions to the last
// decision read back (--emit all, so that every event has a decision to
// wait for). Reported per event.
func BenchmarkStreamThroughput(b *testing.B) {
	lines := loadLines(b)
	for _, br := range streamtest.Brokers(b) {
		b.Run(br.Name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				r := newRig(b, br, lines)
				r.start()
				for !r.stream.Ready() {
					time.Sleep(time.Millisecond)
				}
				b.StartTimer()
				start := time.Now()
				r.await(b, len(lines))
				total += time.Since(start)
				b.StopTimer()
				r.stop()
			}
			events := float64(b.N * len(lines))
			b.ReportMetric(float64(total.Nanoseconds())/events, "ns/event")
			b.ReportMetric(events/total.Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkStreamLatency measures one event's way through a running,
// caught-up riskd: produced with franz-go, decided, and its decision read
// back by a consumer (--emit all). One op is one event, sent after the
// previous one's decision arrived; p50 and p99 are over the run.
func BenchmarkStreamLatency(b *testing.B) {
	lines := loadLines(b)
	for _, br := range streamtest.Brokers(b) {
		b.Run(br.Name, func(b *testing.B) {
			r := newRig(b, br, nil)
			r.start()
			defer r.stop()
			for !r.stream.Ready() {
				time.Sleep(10 * time.Millisecond)
			}
			producer := streamtest.Client(b, br, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := producer.ProduceSync(ctx, r.record(lines[i%len(lines)])).FirstErr(); err != nil {
					b.Fatal(err)
				}
				if i >= len(lines) {
					// Redelivered event ids are duplicates: no decision.
					continue
				}
				r.await(b, 1)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

// await reads decisions until n more have arrived.
func (r *streamRig) await(b *testing.B, n int) {
	deadline := time.Now().Add(2 * time.Minute)
	for n > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("decisions did not arrive; %d missing", n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := r.consumer.PollFetches(ctx)
		cancel()
		n -= fs.NumRecords()
	}
}
