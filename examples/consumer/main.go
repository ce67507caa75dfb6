// Command consumer is how a downstream service (an API gateway, an auth
// server, a payment service) acts on riskd's decisions with the client
// package: it follows the risk-decisions topic, waits until it knows every
// decision in force, and guards its requests with Check on the caller's
// user id and address: a lockout is refused (403), a step-up asks for a
// second factor (401), anything else goes through.
//
//	go run ./examples/consumer --brokers 127.0.0.1:9092 --policy closed
//	curl -H 'X-User-ID: alice' http://127.0.0.1:8080/
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/riskd/riskd/client"
)

// checker is the part of *client.Client the guard uses.
type checker interface {
	Check(kind, id string) client.Result
}

// Guard refuses a request whose user (header X-User-ID) or address is
// locked out, asks for a second factor when either is under step-up, and
// passes the rest to next. It names the decision in a response header, so
// support can find its reasons, and never the reasons themselves.
func Guard(c checker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		res := c.Check("ip", ip)
		if user := r.Header.Get("X-User-ID"); user != "" {
			if u := c.Check("user", user); strength(u.Action) > strength(res.Action) {
				res = u
			}
		}
		if res.DecisionID != "" {
			w.Header().Set("Riskd-Decision", res.DecisionID)
		}
		switch res.Action {
		case client.Lockout: // no Retry-After: when a lockout ends is not the caller's to know
			http.Error(w, "refused", http.StatusForbidden)
		case client.StepUp:
			http.Error(w, "second factor required", http.StatusUnauthorized)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func strength(a client.Action) int {
	return map[client.Action]int{client.Allow: 0, client.StepUp: 1, client.Lockout: 2}[a]
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap addresses, comma-separated")
	topic := flag.String("topic", "risk-decisions", "riskd's decisions topic")
	policy := flag.String("policy", "closed", "when behind the topic: open (answer from what is known) or closed (step-up for everyone)")
	lookback := flag.Duration("lookback", 7*24*time.Hour, "how far back a start reads: at least the longest expiry of your rules")
	listen := flag.String("listen", "127.0.0.1:8080", "address of the guarded HTTP service")
	flag.Parse()
	p, ok := map[string]client.Policy{"open": client.FailOpen, "closed": client.FailClosed}[*policy]
	if !ok {
		log.Fatalf("--policy %q: want open or closed", *policy)
	}
	c, err := client.New(client.Config{
		Brokers: strings.Split(*brokers, ","), Topic: *topic, Policy: p, Lookback: *lookback,
		OnError: func(err error) { log.Print(err) },
		OnDegraded: func(degraded bool, s client.Stats) {
			log.Printf("degraded=%v: %d decisions behind, last caught up %s ago", degraded, s.Lag, s.Staleness.Round(time.Millisecond))
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go c.Run(ctx)
	if err := c.WaitCaughtUp(ctx); err != nil {
		log.Fatalf("stopped before catching up with %s: %v", *topic, err)
	}
	log.Printf("caught up: %d subjects under step-up or lockout; serving on %s", c.Stats().Subjects, *listen)
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 5 * time.Second,
		Handler: Guard(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "welcome") }))}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
