// Package client is what a downstream service (an API gateway, an auth
// server, a payment service) imports to act on riskd's decisions. A Client
// follows the decisions topic and answers Check(kind, id) from memory with
// the strongest action in force for that subject and when it ends,
// without a network round trip, so a login path can ask on every request.
//
// It depends only on the decision contract (JSON, version 1) and kafka-go,
// never on riskd's engine.
//
// # Every replica reads every partition, without a consumer group
//
// Decisions are keyed by subject, so one subject's decisions are spread
// over the topic's partitions by key. Every replica of a gateway must know
// every lockout, so a Client reads all partitions itself: a consumer group
// shared by the replicas would split the partitions among them, and each
// replica would enforce only its share. Nor does a Client commit offsets:
// on start it reads every partition from Config.Lookback ago (by the
// messages' timestamps), which holds every decision that can still be in
// force, so a restarted replica knows the lockouts in force before it
// reports ready, rather than resuming after them from a committed offset.
// Set Lookback to at least the longest expiry your rules issue.
//
// # Concurrency
//
// Check, Ready, WaitCaughtUp and Stats are safe to call from any number of
// goroutines (every request handler). Run is called once, and owns the
// reading: it runs one goroutine per partition that fetches messages, one
// that looks at the topic's end, and one, the only writer of the table,
// that applies what they bring. Callbacks (Config.OnError,
// Config.OnDegraded) are called from that one goroutine, one at a time;
// they must return quickly.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go/sasl"
)

// Policy is what Check answers while the client is degraded: not caught up
// with the topic within the configured bounds (or not yet caught up after
// start). There is no default: a service chooses.
type Policy int

const (
	// FailOpen answers from the decisions the client has, flagged
	// Degraded: a lockout it knows of still holds, one it has not read
	// yet does not. For paths where refusing everyone is worse than
	// missing a recent lockout.
	FailOpen Policy = iota + 1
	// FailClosed answers at least StepUp for every subject, flagged
	// Degraded (a lockout it knows of stays a lockout). For paths where
	// letting a locked-out attacker through is worse than asking everyone
	// for a second factor.
	FailClosed
)

// Config sets up a Client. Brokers and Policy are required; the rest have
// defaults.
type Config struct {
	Brokers []string // bootstrap addresses, HOST:PORT
	Topic   string   // riskd's decisions topic; default "risk-decisions"
	Policy  Policy   // FailOpen or FailClosed; required

	// Lookback is how far back, by message timestamp, a start reads.
	// Default 7 days, the longest expiry of riskd's shipped rules (a
	// replayed token lockout); it must cover your rules' longest.
	Lookback time.Duration
	// MaxLag is how many decisions may be written and not yet applied
	// before the client is degraded. Default 1000.
	MaxLag int64
	// MaxStaleness is how long ago the client may last have been caught up
	// (applied everything written up to then) before it is degraded; this
	// is what catches a broker the client cannot reach. Default 10 s.
	MaxStaleness time.Duration
	// MaxSubjects caps the subjects held. When full, the subject whose
	// orders end soonest is forgotten (and OnError told). Default 1,000,000.
	MaxSubjects int

	TLS  *tls.Config    // TLS to the brokers, when set
	SASL sasl.Mechanism // SASL authentication, when set (kafka-go's plain or scram)

	// Now is the clock that expiries and staleness are read against;
	// default time.Now. Tests set it.
	Now func() time.Time
	// OnError is told about every decision message skipped (wrapping
	// ErrBadDecision), every subject evicted at the cap, and the brokers'
	// errors while reading; the client goes on after each. Default: none.
	OnError func(error)
	// OnDegraded is called when the client becomes degraded (true) and
	// when it recovers (false), with the stats at that moment; for a log
	// line, a metric or an alert. A client starts degraded, so the first
	// call, false, is its first catch-up.
	OnDegraded func(degraded bool, s Stats)
}

// Result is Check's answer.
type Result struct {
	Action     Action    // the strongest action in force; Allow when none
	ExpiresAt  time.Time // when that action ends; zero for Allow
	DecisionID string    // the decision that asked for it; empty when none
	Reasons    []Reason  // that decision's reasons; do not modify
	// Degraded says the client is not caught up with the topic within its
	// bounds, so the answer follows Config.Policy: under FailClosed, an
	// Action of StepUp with no DecisionID is the policy's, not riskd's.
	Degraded bool
}

// Stats is a snapshot of the client, for metrics.
type Stats struct {
	Subjects  int           // subjects with an action in force, held in memory
	Lag       int64         // decisions written and not yet applied
	Staleness time.Duration // since the client was last caught up; zero before the first catch-up
	Ready     bool          // the first catch-up after start is done
	Degraded  bool          // Check answers by Config.Policy
	Applied   int64         // enforced decisions that changed the table
	Ignored   int64         // shadow and allow decisions, redeliveries, expired on arrival
	Bad       int64         // decision messages skipped as unusable
	Evicted   int64         // subjects forgotten at MaxSubjects
}

// Client follows the decisions topic and answers Check. Create it with
// New and start it with Run.
type Client struct {
	cfg     Config
	mu      sync.RWMutex
	table   *table
	ready   chan struct{}
	running atomic.Bool

	// Published by the follow goroutine for Check and Stats.
	isReady                         atomic.Bool
	lag, fresh                      atomic.Int64 // fresh: Unix nanoseconds
	applied, ignored, bad, evictedN atomic.Int64
}

// New checks cfg and returns a Client that has read nothing yet: until Run
// has caught up, Check answers by the policy, flagged Degraded.
func New(cfg Config) (*Client, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("client: Config.Brokers is empty: give the bootstrap addresses of the Kafka cluster riskd writes to")
	case cfg.Policy != FailOpen && cfg.Policy != FailClosed:
		return nil, errors.New("client: Config.Policy must be FailOpen or FailClosed: choose what Check answers when the client lags behind the topic")
	case cfg.Lookback < 0, cfg.MaxLag < 0, cfg.MaxStaleness < 0, cfg.MaxSubjects < 0:
		return nil, errors.New("client: Lookback, MaxLag, MaxStaleness and MaxSubjects must not be negative (zero means the default)")
	}
	cfg.Topic = or(cfg.Topic, "risk-decisions")
	cfg.Lookback = or(cfg.Lookback, 7*24*time.Hour)
	cfg.MaxLag = or(cfg.MaxLag, 1000)
	cfg.MaxStaleness = or(cfg.MaxStaleness, 10*time.Second)
	cfg.MaxSubjects = or(cfg.MaxSubjects, 1_000_000)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnError == nil {
		cfg.OnError = func(error) {}
	}
	if cfg.OnDegraded == nil {
		cfg.OnDegraded = func(bool, Stats) {}
	}
	return &Client{cfg: cfg, table: newTable(cfg.MaxSubjects), ready: make(chan struct{})}, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Check answers what to do about the subject (kind, id) now: the strongest
// enforced action in force, when it ends and why. Shadow decisions never
// count. While the client is degraded, the answer follows Config.Policy
// and Result.Degraded is set.
func (c *Client) Check(kind, id string) Result {
	now := c.cfg.Now()
	c.mu.RLock()
	a, o := c.table.check(Subject{Kind: kind, ID: id}, now)
	c.mu.RUnlock()
	r := Result{Action: a, ExpiresAt: o.until, DecisionID: o.decisionID, Reasons: o.reasons}
	if c.degraded(now) {
		r.Degraded = true
		if c.cfg.Policy == FailClosed && a == Allow {
			r.Action = StepUp
		}
	}
	return r
}

// degraded reports whether, at now, the client is not ready, or more than
// MaxLag decisions behind, or last caught up more than MaxStaleness ago.
func (c *Client) degraded(now time.Time) bool {
	return !c.isReady.Load() || c.lag.Load() > c.cfg.MaxLag ||
		now.Sub(time.Unix(0, c.fresh.Load())) > c.cfg.MaxStaleness
}

// Ready returns a channel closed once the client has read every partition
// up to where the topic ended when Run started: from then on it knows
// every decision in force.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// WaitCaughtUp waits until the client is Ready, or ctx ends (then it
// returns ctx's error). A service calls it before taking traffic.
func (c *Client) WaitCaughtUp(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns a snapshot of the client.
func (c *Client) Stats() Stats {
	now := c.cfg.Now()
	c.mu.RLock()
	n := c.table.len()
	c.mu.RUnlock()
	s := Stats{
		Subjects: n, Lag: c.lag.Load(), Ready: c.isReady.Load(), Degraded: c.degraded(now),
		Applied: c.applied.Load(), Ignored: c.ignored.Load(), Bad: c.bad.Load(), Evicted: c.evictedN.Load(),
	}
	if s.Ready {
		s.Staleness = now.Sub(time.Unix(0, c.fresh.Load()))
	}
	return s
}
