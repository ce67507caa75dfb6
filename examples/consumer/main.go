// Command consumer is how a downstream service (an API gateway, an auth
// server, a payment service) acts on riskd's decisions: it follows the
// risk-decisions topic in its own consumer group and keeps, per subject,
// the strongest action in force, which its request path asks before
// letting a call through. It depends only on the decision contract (JSON,
// version 1), not on riskd's code.
//
//	go run ./examples/consumer --brokers 127.0.0.1:9092 --group my-gateway
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// Decision is the part of a riskd decision (contract §2) a service enforces.
type Decision struct {
	DecisionID string    `json:"decision_id"`
	EventID    string    `json:"event_id"`
	UserID     string    `json:"user_id"`
	Subject    Subject   `json:"subject"`
	Action     string    `json:"action"` // allow, step_up, lockout
	Score      float64   `json:"score"`
	ExpiresAt  time.Time `json:"expires_at"`
	Mode       string    `json:"mode"` // enforce or shadow: never act on shadow
	Reasons    []struct {
		Rule     string `json:"rule"`
		Detector string `json:"detector"`
		Summary  string `json:"summary"`
	} `json:"reasons"`
}

// Subject is what an action applies to.
type Subject struct {
	Kind string `json:"kind"` // user, ip, device, token
	ID   string `json:"id"`
}

var strength = map[string]int{"allow": 0, "step_up": 1, "lockout": 2}

// Enforcer holds the actions in force. Safe for concurrent use: the
// consumer loop applies decisions while request handlers call Check.
type Enforcer struct {
	mu     sync.Mutex
	active map[Subject]Decision
}

// NewEnforcer returns an empty enforcer.
func NewEnforcer() *Enforcer { return &Enforcer{active: map[Subject]Decision{}} }

// Apply records d. Shadow decisions and allows are not enforced; a
// redelivered decision (same decision_id) changes nothing; a weaker action
// never shortens a stronger one still in force.
func (e *Enforcer) Apply(d Decision, now time.Time) {
	if d.Mode != "enforce" || d.Action == "allow" || !d.ExpiresAt.After(now) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, ok := e.active[d.Subject]
	if ok && cur.ExpiresAt.After(now) && strength[cur.Action] > strength[d.Action] {
		return
	}
	if ok && cur.Action == d.Action && cur.ExpiresAt.After(d.ExpiresAt) {
		return
	}
	e.active[d.Subject] = d
}

// Check returns the action in force for a subject at now ("allow" when
// none), and the decision behind it.
func (e *Enforcer) Check(kind, id string, now time.Time) (string, Decision) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.active[Subject{kind, id}]
	if !ok || !d.ExpiresAt.After(now) {
		delete(e.active, Subject{kind, id})
		return "allow", Decision{}
	}
	return d.Action, d
}

// Follow reads decisions from r into e until ctx ends. Offsets are
// committed after a decision is applied, so none is skipped.
func Follow(ctx context.Context, r *kafka.Reader, e *Enforcer) error {
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		var d Decision
		if err := json.Unmarshal(m.Value, &d); err != nil {
			log.Printf("skipping undecodable decision at offset %d: %v", m.Offset, err)
		} else {
			e.Apply(d, time.Now())
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			return err
		}
	}
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka brokers")
	group := flag.String("group", "example-gateway", "this service's consumer group")
	topic := flag.String("topic", "risk-decisions", "riskd's decisions topic")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        strings.Split(*brokers, ","),
		GroupID:        *group,
		Topic:          *topic,
		MaxWait:        500 * time.Millisecond,
		CommitInterval: time.Second, // commit in the background, not one request per message
		// Pick up partitions added later, and the topic itself if it is
		// created after this service starts.
		WatchPartitionChanges: true,
	})
	defer r.Close()
	e := NewEnforcer()
	go func() {
		for range time.Tick(5 * time.Second) {
			e.mu.Lock()
			log.Printf("%d subjects under step-up or lockout", len(e.active))
			e.mu.Unlock()
		}
	}()
	if err := Follow(ctx, r, e); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
