package client

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/streamtest"
)

// errorLog collects what a client tells OnError.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) { l.mu.Lock(); l.errs = append(l.errs, err); l.mu.Unlock() }

func (l *errorLog) bad() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if errors.Is(err, ErrBadDecision) {
			n++
		}
	}
	return n
}

// start runs a client of topic on b for the test's life and waits for its
// catch-up.
func start(t *testing.T, b streamtest.Broker, topic string, log *errorLog) *Client {
	t.Helper()
	c, err := New(Config{Brokers: b.Addrs, Topic: topic, Policy: FailClosed, Lookback: time.Hour, OnError: log.add})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if err := c.WaitCaughtUp(wait); err != nil {
		t.Fatalf("not caught up within 30 s: %v; errors: %v", err, log.errs)
	}
	return c
}

// record returns d as a message keyed by its subject, written at ts (now
// when zero).
func record(topic string, d Decision, ts time.Time) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(d.Subject.ID), Value: wire(d), Timestamp: ts}
}

func subj(id, kind, sid string, a Action, m Mode, exp time.Time) Decision {
	return Decision{DecisionID: id, Subject: Subject{kind, sid}, Action: a, Mode: m, ExpiresAt: exp}
}

// TestClientFollowsTopic runs clients against each broker on decisions
// written by another client (franz-go): what is in force when a client
// starts is known as soon as it is ready, what comes later is applied, and
// a restarted client recovers the lockouts in force.
func TestClientFollowsTopic(t *testing.T) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			topic := streamtest.Names(b.Name, "decisions")[0]
			streamtest.CreateTopics(t, b, 3, topic)
			now := time.Now().UTC()
			hour := now.Add(time.Hour)
			redelivered := subj("d5", "user", "u10", Lockout, Enforce, hour)
			streamtest.Produce(t, b, []*kgo.Record{
				// Written before the client's lookback of an hour: not read.
				record(topic, subj("d0", "user", "old", Lockout, Enforce, hour), now.Add(-2*time.Hour)),
				record(topic, subj("d1", "ip", "203.0.113.9", Lockout, Enforce, hour), time.Time{}),
				record(topic, subj("d2", "user", "u7", StepUp, Enforce, hour), time.Time{}),
				record(topic, subj("d3", "user", "u8", Lockout, Shadow, hour), time.Time{}),
				record(topic, subj("d4", "user", "u9", Lockout, Enforce, now.Add(-time.Minute)), time.Time{}),
				record(topic, redelivered, time.Time{}),
				record(topic, redelivered, time.Time{}),
				{Topic: topic, Key: []byte("u11"), Value: []byte("lockout u11")},
				{Topic: topic, Key: []byte("u12"), Value: []byte(`{"decision_id":"d6","subject":{"kind":"user","id":"u12"},"action":"ban","mode":"enforce","expires_at":"2099-01-01T00:00:00Z"}`)},
			})
			var log errorLog
			c := start(t, b, topic, &log)
			want := map[string]Action{"old": Allow, "203.0.113.9": Lockout, "u7": StepUp, "u8": Allow, "u9": Allow, "u10": Lockout, "u11": Allow, "u12": Allow}
			check := func(c *Client, want map[string]Action) {
				t.Helper()
				for id, a := range want {
					kind := "user"
					if id == "203.0.113.9" {
						kind = "ip"
					}
					if r := c.Check(kind, id); r.Action != a || r.Degraded {
						t.Errorf("Check(%s, %s) = %+v, want %s, not degraded", kind, id, r, a)
					}
				}
			}
			check(c, want)
			if r := c.Check("ip", "203.0.113.9"); r.DecisionID != "d1" || !r.ExpiresAt.Equal(hour) {
				t.Errorf("Check(ip) = %+v, want decision d1 until %v", r, hour)
			}
			if s := c.Stats(); s.Bad != 2 || log.bad() != 2 || s.Subjects != 3 || s.Lag != 0 {
				t.Errorf("Stats = %+v, %d errors; want Bad 2 (both reported), Subjects 3, Lag 0", s, log.bad())
			}

			// Later decisions are applied as they come.
			streamtest.Produce(t, b, []*kgo.Record{record(topic, subj("d7", "user", "u7", Lockout, Enforce, hour), time.Time{})})
			deadline := time.Now().Add(30 * time.Second)
			for c.Check("user", "u7").Action != Lockout && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			want["u7"] = Lockout
			check(c, want)

			// A client started afresh, as a restarted replica is, knows the
			// same once ready.
			check(start(t, b, topic, &errorLog{}), want)
		})
	}
}

// TestClientMissingTopic checks that a client of a topic that does not
// exist says so, never becomes ready, and answers by its policy.
func TestClientMissingTopic(t *testing.T) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			var log errorLog
			topic := streamtest.Names(b.Name, "missing")[0]
			c, err := New(Config{Brokers: b.Addrs, Topic: topic, Policy: FailClosed, OnError: log.add})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			go c.Run(ctx)
			if err := c.WaitCaughtUp(ctx); err == nil {
				t.Error("ready on a topic that does not exist")
			}
			if r := c.Check("user", "u1"); r.Action != StepUp || !r.Degraded || r.DecisionID != "" {
				t.Errorf("Check = %+v, want the policy's step_up, degraded", r)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			if !slices.ContainsFunc(log.errs, func(err error) bool { return err != nil && containsAll(err.Error(), topic, "Config.Topic") }) {
				t.Errorf("errors %v, want one naming topic %s and Config.Topic", log.errs, topic)
			}
		})
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestClientDegradesWhenBrokerGone stops the embedded broker under a
// caught-up client: within MaxStaleness (and a look) the client is
// degraded, says so once, and keeps its lockouts under FailOpen.
func TestClientDegradesWhenBrokerGone(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	b := streamtest.Broker{Name: "kfake", Addrs: cluster.ListenAddrs()}
	topic := streamtest.Names(b.Name, "decisions")[0]
	streamtest.CreateTopics(t, b, 1, topic)
	streamtest.Produce(t, b, []*kgo.Record{record(topic, subj("d1", "user", "u1", Lockout, Enforce, time.Now().Add(time.Hour)), time.Time{})})
	changes := make(chan bool, 8)
	c, err := New(Config{Brokers: b.Addrs, Topic: topic, Policy: FailOpen, MaxStaleness: time.Second,
		OnDegraded: func(d bool, _ Stats) { changes <- d }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if d := <-changes; d {
		t.Fatal("first OnDegraded(true), want the catch-up's false")
	}
	cluster.Close()
	select {
	case d := <-changes:
		if !d {
			t.Fatal("OnDegraded(false) after the broker stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not degraded 5 s after the broker stopped (MaxStaleness 1 s)")
	}
	if r := c.Check("user", "u1"); r.Action != Lockout || !r.Degraded {
		t.Errorf("Check = %+v, want the known lockout, degraded", r)
	}
	if r := c.Check("user", "u2"); r.Action != Allow || !r.Degraded {
		t.Errorf("Check = %+v, want allow (FailOpen), degraded", r)
	}
}
