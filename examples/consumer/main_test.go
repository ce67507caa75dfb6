package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/client"
	"github.com/riskd/riskd/internal/streamtest"
)

// fake answers Check from a map of "kind/id" to results.
type fake map[string]client.Result

func (f fake) Check(kind, id string) client.Result {
	if r, ok := f[kind+"/"+id]; ok {
		return r
	}
	return client.Result{Action: client.Allow}
}

// serve sends a request from addr for user through Guard and returns the
// status and the decision header.
func serve(c checker, addr, user string) (int, string) {
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = addr + ":51000"
	if user != "" {
		req.Header.Set("X-User-ID", user)
	}
	rec := httptest.NewRecorder()
	Guard(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Riskd-Decision")
}

func TestGuard(t *testing.T) {
	c := fake{
		"ip/203.0.113.9": {Action: client.Lockout, DecisionID: "d1"},
		"user/u7":        {Action: client.StepUp, DecisionID: "d2"},
		"user/u8":        {Action: client.Lockout, DecisionID: "d3"},
		"user/degraded":  {Action: client.StepUp, Degraded: true},
	}
	for _, tc := range []struct {
		name, addr, user string
		status           int
		decision         string
	}{
		{"nothing in force", "198.51.100.1", "u1", http.StatusOK, ""},
		{"no user", "198.51.100.1", "", http.StatusOK, ""},
		{"address locked out", "203.0.113.9", "u1", http.StatusForbidden, "d1"},
		{"user under step-up", "198.51.100.1", "u7", http.StatusUnauthorized, "d2"},
		{"user locked out", "198.51.100.1", "u8", http.StatusForbidden, "d3"},
		{"the stronger of address and user", "203.0.113.9", "u7", http.StatusForbidden, "d1"},
		{"the policy's step-up when degraded", "198.51.100.1", "degraded", http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, decision := serve(c, tc.addr, tc.user); status != tc.status || decision != tc.decision {
				t.Errorf("status %d, decision %q; want %d, %q", status, decision, tc.status, tc.decision)
			}
		})
	}
}

// decision returns a contract §2 decision as riskd writes it, keyed by its
// subject.
func decision(topic, id, kind, subject, action, mode string, expires time.Time) *kgo.Record {
	v, err := json.Marshal(map[string]any{
		"decision_id": id, "event_id": "e-" + id, "user_id": "u", "subject": map[string]string{"kind": kind, "id": subject},
		"action": action, "score": 80, "ts": time.Now().UTC(), "decided_at": time.Now().UTC(), "expires_at": expires,
		"reasons": []map[string]string{{"rule": "r", "detector": "failed_login_burst", "summary": "s"}}, "mode": mode, "rules_version": "v",
	})
	if err != nil {
		panic(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(subject), Value: v}
}

// TestExampleFollowsTopic runs the example's client and guard against each
// broker on decisions written by another client (franz-go).
func TestExampleFollowsTopic(t *testing.T) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			topic := streamtest.Names(b.Name, "decisions")[0]
			streamtest.CreateTopics(t, b, 2, topic)
			exp := time.Now().Add(time.Hour).UTC()
			streamtest.Produce(t, b, []*kgo.Record{
				decision(topic, "d1", "ip", "203.0.113.9", "lockout", "enforce", exp),
				decision(topic, "d2", "user", "u7", "step_up", "enforce", exp),
				decision(topic, "d3", "user", "u8", "lockout", "shadow", exp),
			})
			c, err := client.New(client.Config{Brokers: b.Addrs, Topic: topic, Policy: client.FailClosed,
				OnError: func(err error) { t.Log(err) }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			done := make(chan struct{})
			go func() { c.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }() // OnError logs to t: Run must end first
			if err := c.WaitCaughtUp(ctx); err != nil {
				t.Fatalf("not caught up within 30 s: %v", err)
			}
			for _, tc := range []struct {
				addr, user string
				status     int
			}{
				{"203.0.113.9", "u1", http.StatusForbidden},
				{"198.51.100.1", "u7", http.StatusUnauthorized},
				{"198.51.100.1", "u8", http.StatusOK}, // shadow: never acted on
			} {
				if status, _ := serve(c, tc.addr, tc.user); status != tc.status {
					t.Errorf("%s as %s: status %d, want %d", tc.addr, tc.user, status, tc.status)
				}
			}
		})
	}
}
