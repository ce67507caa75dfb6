package client_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/riskd/riskd/client"
)

// The README's example: follow the decisions, wait for the catch-up, and
// ask on each request. It is compiled, not run (it needs a broker).
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	userID := "alice"

	c, err := client.New(client.Config{
		Brokers:    []string{"kafka-1:9092"},
		Policy:     client.FailClosed, // or client.FailOpen: your choice, no default
		OnError:    func(err error) { log.Print(err) },
		OnDegraded: func(degraded bool, s client.Stats) { log.Printf("riskd decisions degraded=%v lag=%d", degraded, s.Lag) },
	})
	if err != nil {
		log.Fatal(err)
	}
	go c.Run(ctx)                               // follows the topic until ctx ends
	if err := c.WaitCaughtUp(ctx); err != nil { // knows every decision in force
		log.Fatal(err)
	}

	// In each request:
	switch r := c.Check("user", userID); r.Action { // also "ip", "device", "token"
	case client.Lockout: // refuse until r.ExpiresAt; r.DecisionID and r.Reasons say why
	case client.StepUp: // ask for a second factor
	}
}
