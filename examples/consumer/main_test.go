package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/streamtest"
)

func TestEnforcer(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	user := Subject{"user", "u1"}
	for _, tc := range []struct {
		name  string
		apply []Decision
		want  string
	}{
		{"nothing", nil, "allow"},
		{"lockout", []Decision{{Subject: user, Action: "lockout", Mode: "enforce", ExpiresAt: now.Add(time.Hour)}}, "lockout"},
		{"shadow is not enforced", []Decision{{Subject: user, Action: "lockout", Mode: "shadow", ExpiresAt: now.Add(time.Hour)}}, "allow"},
		{"expired", []Decision{{Subject: user, Action: "lockout", Mode: "enforce", ExpiresAt: now.Add(-time.Second)}}, "allow"},
		{"step-up does not weaken a lockout", []Decision{
			{Subject: user, Action: "lockout", Mode: "enforce", ExpiresAt: now.Add(time.Hour)},
			{Subject: user, Action: "step_up", Mode: "enforce", ExpiresAt: now.Add(2 * time.Hour)},
		}, "lockout"},
		{"lockout strengthens a step-up", []Decision{
			{Subject: user, Action: "step_up", Mode: "enforce", ExpiresAt: now.Add(time.Hour)},
			{Subject: user, Action: "lockout", Mode: "enforce", ExpiresAt: now.Add(time.Minute)},
		}, "lockout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEnforcer()
			for _, d := range tc.apply {
				e.Apply(d, now)
			}
			if got, _ := e.Check("user", "u1", now); got != tc.want {
				t.Errorf("Check = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestExampleFollowsTopic runs the example's consumer loop against each
// broker on decisions as riskd writes them.
func TestExampleFollowsTopic(t *testing.T) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			topic := streamtest.Names(b.Name, "decisions")[0]
			streamtest.CreateTopics(t, b, 2, topic)
			exp := time.Now().Add(time.Hour).UTC()
			w := &kafka.Writer{Addr: kafka.TCP(b.Addrs...), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
			defer w.Close()
			var msgs []kafka.Message
			for _, d := range []Decision{
				{DecisionID: "d1", Subject: Subject{"ip", "203.0.113.9"}, Action: "lockout", Mode: "enforce", ExpiresAt: exp},
				{DecisionID: "d2", Subject: Subject{"user", "u7"}, Action: "step_up", Mode: "enforce", ExpiresAt: exp},
				{DecisionID: "d3", Subject: Subject{"user", "u8"}, Action: "lockout", Mode: "shadow", ExpiresAt: exp},
			} {
				v, _ := json.Marshal(d)
				msgs = append(msgs, kafka.Message{Key: []byte(d.Subject.ID), Value: v})
			}
			if err := w.WriteMessages(context.Background(), msgs...); err != nil {
				t.Fatal(err)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs, GroupID: topic, Topic: topic, MaxWait: 500 * time.Millisecond,
				CommitInterval: time.Second, WatchPartitionChanges: true})
			defer r.Close()
			e := NewEnforcer()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			go Follow(ctx, r, e)
			for ctx.Err() == nil {
				a, _ := e.Check("ip", "203.0.113.9", time.Now())
				u, _ := e.Check("user", "u7", time.Now())
				if a == "lockout" && u == "step_up" {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if ctx.Err() != nil {
				t.Fatal("decisions not applied within 30 s")
			}
			if got, _ := e.Check("user", "u8", time.Now()); got != "allow" {
				t.Errorf("shadow decision enforced: %s", got)
			}
		})
	}
}
