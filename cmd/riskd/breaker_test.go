package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/streamtest"
)

// badRules locks out every "victim-" user who logs in, with a breaker of
// three lockouts a minute.
const badRules = `rules:
  - id: bad
    detector: failed_login_burst
    when: event.user_id startsWith "victim-"
    action: lockout
    subject: user
    score: 90
    expires: 1h
    breaker: {max_per_minute: 3}
`

// TestRunCommandBreaker holds issue 12's lockout breaker and quiet repeats
// in riskd run, on each broker: a repeat for a user locked out is left out
// and counted; the fourth lockout in a minute demotes the rule (a log line,
// the metrics, GET /-/rules/breaker); the rule's next decision is shadow
// and names the demotion; POST /-/rules/RULE/reset puts it back in force.
func TestRunCommandBreaker(t *testing.T) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			dir := copyPack(t)
			write(t, dir+"/zz-bad.yaml", badRules)
			n := streamtest.Names(b.Name, "auth", "txn", "decisions", "dlq")
			streamtest.CreateTopics(t, b, 2, n...)
			cmd, addr, logs := startRun(t, "run", "--brokers", strings.Join(b.Addrs, ","), "--group", "g-"+n[0],
				"--topics", n[0]+","+n[1], "--decisions-topic", n[2], "--dlq-topic", n[3], "--rules", dir,
				"--metrics-addr", "127.0.0.1:0", "--log-format", "json")
			waitStatus(t, addr+"/readyz", http.StatusOK)

			victimLogin(t, b, n[0], "victim-1", "b1")
			waitDecision(t, b, n[2], "b1")
			victimLogin(t, b, n[0], "victim-1", "b1-again")
			for i := 2; i <= 4; i++ {
				victimLogin(t, b, n[0], fmt.Sprint("victim-", i), fmt.Sprint("b", i))
			}
			tripped := waitLog(t, logs, func(m map[string]any) bool {
				return m["rule"] == "bad" && strings.HasPrefix(fmt.Sprint(m["message"]), "lockout breaker: rule demoted")
			})
			if !strings.Contains(fmt.Sprint(tripped["why"]), "4 lockouts in one minute") {
				t.Errorf("the trip's log says %v", tripped["why"])
			}
			page := get(t, addr+"/metrics")
			for name, want := range map[string]float64{
				`riskd_rules_breaker_demoted{rule="bad"}`:      1,
				`riskd_rules_breaker_trips_total{rule="bad"}`:  1,
				`riskd_decisions_suppressed_total{rule="bad"}`: 1,
			} {
				if v := metricValue(page, name); v != want {
					t.Errorf("%s = %v, want %v", name, v, want)
				}
			}
			if list := get(t, addr+"/-/rules/breaker"); !strings.Contains(list, `"rule":"bad"`) {
				t.Errorf("GET /-/rules/breaker: %s", list)
			}
			victimLogin(t, b, n[0], "victim-5", "b5")
			if d := waitDecision(t, b, n[2], "b5"); d.Mode != "shadow" || len(d.Breaker) != 1 || d.Breaker[0].Rule != "bad" {
				t.Errorf("the demoted rule's decision: mode %s, breaker %+v; want shadow naming the rule", d.Mode, d.Breaker)
			}

			if code, body := post(t, addr+"/-/rules/nope/reset"); code != http.StatusNotFound {
				t.Errorf("reset of an unknown rule: %d %s, want 404", code, body)
			}
			if code, body := post(t, addr+"/-/rules/bad/reset"); code != http.StatusOK || !strings.Contains(body, "enforced again") {
				t.Errorf("reset: %d %s", code, body)
			}
			if strings.Contains(get(t, addr+"/metrics"), `riskd_rules_breaker_demoted{rule="bad"}`) {
				t.Error("riskd_rules_breaker_demoted still shows the rule after its reset")
			}
			victimLogin(t, b, n[0], "victim-6", "b6")
			if d := waitDecision(t, b, n[2], "b6"); d.Mode != "enforce" || d.Action.String() != "lockout" {
				t.Errorf("after the reset: %s %s, want an enforced lockout", d.Mode, d.Action)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("riskd run after SIGTERM: %v (want exit 0)", err)
			}
		})
	}
}

// victimLogin produces a successful login of user as event id, all in one
// minute of event time.
func victimLogin(t *testing.T, b streamtest.Broker, topic, user, id string) {
	t.Helper()
	line := fmt.Sprintf(`{"event_id":%q,"type":"login","ts":"2026-05-10T00:00:30Z","user_id":%q,"ip":"198.51.100.9","outcome":"success"}`, id, user)
	streamtest.Produce(t, b, []*kgo.Record{{Topic: topic, Key: []byte(user), Value: []byte(line)}})
}

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
