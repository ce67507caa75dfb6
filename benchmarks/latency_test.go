package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/streamtest"
)

// latencyWindow is how long BenchmarkLatencyVsHop produces at each rate.
const latencyWindow = 6 * time.Second

// BenchmarkLatencyVsHop is issue 11's latency figure: events produced at a
// steady rate (200 and 2,000 a second) into a caught-up consumer, and the
// time from each produce to its output being readable by another client.
// The floor is a bare kafka-go group member that copies each event to a
// topic (an async writer, acks=all, a 1 ms batch timeout); riskd is `riskd
// run --emit all` with its defaults otherwise, its output the event's
// first decision. One op is one window of each, in alternating order; p50
// and p99 of each and their ratios are reported.
func BenchmarkLatencyVsHop(b *testing.B) {
	brs := streamtest.Brokers(b)
	br := brs[len(brs)-1]
	bin := riskdBinary(b)
	lines := bytes.Split(bytes.TrimSpace(unseenLines(b)), []byte("\n"))
	for _, rate := range []int{200, 2000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			var hop, member []time.Duration
			next := 0
			for i := 0; i < b.N; i++ {
				n := streamtest.Names(br.Name, "auth", "txn", "decisions", "dlq", "features", "copies")
				streamtest.CreateTopics(b, br, 4, n...)
				count := rate * int(latencyWindow/time.Second)
				batch := lines[next : next+count]
				next += count
				runHop := func() { hop = append(hop, hopLatency(b, br, n, rate, batch[:count/2])...) }
				runMember := func() { member = append(member, riskdLatency(b, br, bin, n, rate, batch[count/2:])...) }
				if i%2 == 0 {
					runHop()
					runMember()
				} else {
					runMember()
					runHop()
				}
			}
			hp50, hp99 := percentiles(hop)
			mp50, mp99 := percentiles(member)
			b.ReportMetric(float64(hp50.Microseconds())/1000, "hop-p50-ms")
			b.ReportMetric(float64(hp99.Microseconds())/1000, "hop-p99-ms")
			b.ReportMetric(float64(mp50.Microseconds())/1000, "riskd-p50-ms")
			b.ReportMetric(float64(mp99.Microseconds())/1000, "riskd-p99-ms")
			b.ReportMetric(mp99.Seconds()/hp99.Seconds(), "p99-ratio")
			if os.Getenv("RISKD_BENCH_VERBOSE") != "" {
				b.Logf("hop: %v", spread(hop))
				b.Logf("riskd: %v", spread(member))
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// hopLatency runs the floor: a kafka-go group member copying topics
// n[0] and n[1] to n[5], while lines are produced at rate; it returns each
// line's produce-to-copy-readable time.
func hopLatency(b *testing.B, br streamtest.Broker, n []string, rate int, lines [][]byte) []time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: br.Addrs, GroupID: "hop-" + n[0], GroupTopics: n[:2],
		CommitInterval: time.Second, MaxWait: 250 * time.Millisecond})
	w := &kafka.Writer{Addr: kafka.TCP(br.Addrs...), Topic: n[5], Async: true, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Balancer: &kafka.Murmur2Balancer{}, Transport: &kafka.Transport{},
		Completion: func(_ []kafka.Message, err error) {
			if err != nil {
				b.Logf("hop write: %v", err)
			}
		}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					b.Errorf("hop: %v", err)
				}
				return
			}
			_ = w.WriteMessages(ctx, kafka.Message{Key: m.Key, Value: m.Value})
			_ = r.CommitMessages(ctx, m)
		}
	}()
	defer func() { cancel(); wg.Wait(); r.Close(); w.Close() }()
	return measure(b, br, n, n[5], rate, lines)
}

// riskdLatency runs `riskd run --emit all` on n while lines are produced
// at rate, and returns each line's produce-to-first-decision time.
func riskdLatency(b *testing.B, br streamtest.Broker, bin string, n []string, rate int, lines [][]byte) []time.Duration {
	addr := freeAddr(b)
	cmd := riskdCommand(bin, br.Addrs, "riskd-"+n[0], n, addr, "--emit", "all")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer stopRiskd(cmd)
	for deadline := time.Now().Add(time.Minute); !ready(addr); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("riskd not ready after a minute")
		}
	}
	return measure(b, br, n, n[2], rate, lines)
}

// ready reports whether the riskd serving metrics at addr answers /readyz
// with 200.
func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// measure warms the consumer under test up (warmUp), then produces lines
// at rate and returns, for each, the time from its produce
// to the first output that names its event_id.
func measure(b *testing.B, br streamtest.Broker, n []string, out string, rate int, lines [][]byte) []time.Duration {
	b.Helper()
	recs, _ := streamtest.Records(bytes.Join(lines, []byte("\n")), n[0], n[1])
	producer := streamtest.Client(b, br, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	consumer := streamtest.Client(b, br, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx := context.Background()
	warmUp(b, producer, consumer, n[0], out)
	var mu sync.Mutex
	sent := make(map[string]time.Time, len(recs))
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(lat) < len(recs) {
			pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			fs := consumer.PollFetches(pctx)
			cancel()
			if fs.NumRecords() == 0 {
				return
			}
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				id := eventID(r.Value)
				mu.Lock()
				if t, ok := sent[id]; ok {
					lat = append(lat, now.Sub(t))
					delete(sent, id)
				}
				mu.Unlock()
			})
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i, rec := range recs {
		if i > 0 {
			<-tick.C
		}
		mu.Lock()
		sent[eventID(rec.Value)] = time.Now()
		mu.Unlock()
		producer.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	<-done
	if len(lat) < len(recs)*99/100 {
		b.Fatalf("%d of %d outputs arrived", len(lat), len(recs))
	}
	return lat
}

// warmUp produces a login for each of 32 users of its own and waits for
// every one's output: the consumer under test then holds all its
// partitions (32 keys miss one of 4 partitions with odds of 1 in 2,500),
// has restored their state and is caught up.
func warmUp(b *testing.B, producer, consumer *kgo.Client, topic, what string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := map[string]bool{}
	for i := range 32 {
		id := fmt.Sprintf("warm-up-%d", i)
		want[id] = true
		line := fmt.Sprintf(`{"event_id":%q,"type":"login","ts":"2026-05-10T00:00:00Z","user_id":"warm-up-user-%d","ip":"198.51.100.7","outcome":"success"}`, id, i)
		producer.Produce(ctx, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "warm-up-user-%d", i), Value: []byte(line)}, nil)
	}
	for ctx.Err() == nil && len(want) > 0 {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { delete(want, eventID(r.Value)) })
	}
	if len(want) > 0 {
		b.Fatalf("%s: %d of 32 warm-up events had no output within a minute", what, len(want))
	}
}

// eventID returns the event_id field of a JSON object.
func eventID(value []byte) string {
	var v struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(value, &v)
	return v.EventID
}

// spread returns the 50th, 90th, 95th, 99th and 99.9th percentiles and
// the maximum of d.
func spread(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	var out []time.Duration
	for _, q := range []int{500, 900, 950, 990, 999} {
		out = append(out, s[len(s)*q/1000].Round(10*time.Microsecond))
	}
	return append(out, s[len(s)-1].Round(10*time.Microsecond))
}

// percentiles returns the median and the 99th percentile of d.
func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100]
}
