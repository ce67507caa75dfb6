package stream

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/rules"
)

// testWorker returns a user-stage worker of one source, deciding at the
// wall-clock time now, outside any stream.
func testWorker(t *testing.T, now time.Time) *worker {
	t.Helper()
	set, err := rules.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{DecisionsTopic: "decisions", DLQTopic: "dlq", IPTopic: "ip", Rules: set,
		Metrics: NewMetrics(nil), Log: zerolog.Nop(), MaxMessageBytes: DefaultMaxMessageBytes, Now: func() time.Time { return now }}
	w := &worker{cfg: cfg, stage: rules.UserStage, stageID: "user", engine: pipeline.NewEngine(set), inputs: 1,
		sources: []*source{{topic: "auth", first: -1}}}
	w.batch = w.newBatch()
	w.mark = math.MinInt64
	return w
}

// TestWatermarkOnlyAdmitted checks that the watermark the user stage sends
// the address stage moves only with admitted events that are not far
// ahead of the stream clock: an event refused for its timestamp (dated in
// 2100) or flagged stream.future must not let the address stage decide
// attempts before earlier ones arrive.
func TestWatermarkOnlyAdmitted(t *testing.T) {
	day := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	w := testWorker(t, day.Add(40*24*time.Hour))
	offset := int64(0)
	feed := func(ts time.Time) (moved bool, future bool, refused bool) {
		before := w.mark
		line := fmt.Sprintf(`{"event_id":"e%d","type":"login","ts":%q,"user_id":"u1","ip":"24.12.6.64","outcome":"success"}`, offset, ts.Format(time.RFC3339))
		ev, err := event.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		dead := len(w.batch.msgs)
		w.handle(item{msg: kafka.Message{Topic: "auth", Offset: offset, Value: []byte(line)}, ev: ev})
		offset++
		refused = false
		for _, m := range w.batch.msgs[dead:] {
			refused = refused || m.Topic == "dlq"
		}
		return w.mark != before, w.engine.Features().Stream.Future, refused
	}
	// The first events: the stream's head and each source's progress are
	// the oldest of the latest events, known once a window has come.
	for i := range markWindow {
		feed(day.Add(time.Duration(i) * time.Second))
	}
	if w.mark != day.UnixMilli() {
		t.Fatalf("after a window of ordinary events the watermark is %d, want the oldest, %d", w.mark, day.UnixMilli())
	}
	next := day.Add(markWindow * time.Second)
	if moved, _, refused := feed(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)); moved || !refused {
		t.Errorf("an event dated 2100: watermark moved %v, dead-lettered %v", moved, refused)
	}
	if moved, future, _ := feed(day.Add(35 * 24 * time.Hour)); !future || moved {
		t.Errorf("an event 35 days ahead of the stream clock: flagged future %v, watermark moved %v", future, moved)
	}
	// Within max_future it is not flagged, and it counts as one event of
	// the window: the watermark slides by one event, not to the link.
	if _, future, _ := feed(next.Add(23 * time.Hour)); future || w.mark != day.Add(time.Second).UnixMilli() {
		t.Errorf("an event 23 h ahead (a creeping chain's link): flagged future %v, watermark at %d, want %d", future, w.mark, day.Add(time.Second).UnixMilli())
	}
	if moved, _, _ := feed(next); !moved || w.mark != day.Add(2*time.Second).UnixMilli() {
		t.Errorf("the next ordinary event: watermark moved %v to %d, want %d", moved, w.mark, day.Add(2*time.Second).UnixMilli())
	}
}
