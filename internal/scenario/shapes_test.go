package scenario_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// perAddress checks every address of evs stays under the spray detector:
// fewer than spray_users distinct failing users in any closed spray
// window; it returns the addresses.
func perAddress(t *testing.T, id string, tr *traffic, evs []ev) []string {
	t.Helper()
	cfg := packLimits(t).FailedLoginBurst
	ips := distinct(evs, func(e ev) string { return e.IP })
	for _, ip := range ips {
		fails := tr.where(func(e ev) bool { return e.IP == ip && failures(e) })
		if n := maxUsersIn(fails, time.Duration(cfg.SprayWindow)); n >= cfg.SprayUsers {
			t.Errorf("%s: %s failed %d users in %s (spray at %d)", id, ip, n, time.Duration(cfg.SprayWindow), cfg.SprayUsers)
		}
	}
	return ips
}

// TestDistributedSprayShape: 18 or more addresses of the label's /24, none
// near the per-address spray count, each user tried once or twice.
func TestDistributedSprayShape(t *testing.T) {
	tr := shapedOnce()
	for _, a := range tr.attacks("distributed_spray") {
		net := netip.MustParsePrefix(a.IP)
		evs := labelled(tr, a.Events)
		ips := perAddress(t, a.ID, tr, evs)
		if len(ips) < 18 {
			t.Errorf("%s: %d addresses, want 18 or more", a.ID, len(ips))
		}
		for _, ip := range ips {
			if !net.Contains(netip.MustParseAddr(ip)) {
				t.Errorf("%s: %s is outside %s", a.ID, ip, net)
			}
		}
		tries := map[string]int{}
		for _, e := range evs {
			tries[e.User]++
		}
		for u, n := range tries {
			if n > 2 {
				t.Errorf("%s: %s tried %d times", a.ID, u, n)
			}
		}
	}
}

func labelled(tr *traffic, ids []string) []ev {
	var out []ev
	for _, id := range ids {
		out = append(out, tr.byID[id])
	}
	return out
}

// TestCredentialStuffingShape: 60 or more accounts, each tried once, 5% or
// fewer right, every success labelled as a takeover with a sensitive
// action after it, and no address near the per-address spray count.
func TestCredentialStuffingShape(t *testing.T) {
	tr := shapedOnce()
	takeovers := map[string]bool{}
	for _, a := range tr.attacks("stuffing_takeover") {
		takeovers[a.Events[0]] = true
		if types := distinct(labelled(tr, a.Events), func(e ev) string { return e.Type }); !strings.Contains(strings.Join(types, ","), "account_change,transaction") {
			t.Errorf("%s: events %v, want a login then an account change and a payment", a.ID, types)
		}
	}
	for _, a := range tr.attacks("credential_stuffing") {
		evs := labelled(tr, a.Events)
		perAddress(t, a.ID, tr, evs)
		users := distinct(evs, func(e ev) string { return e.User })
		won := 0
		for _, e := range evs {
			if e.Outcome == "success" {
				won++
				if !takeovers[e.ID] {
					t.Errorf("%s: success %s is not labelled as a takeover", a.ID, e.ID)
				}
			}
		}
		if len(users) != len(evs) || len(users) < 60 || won == 0 || float64(won) > 0.05*float64(len(evs)) {
			t.Errorf("%s: %d tries on %d accounts, %d right; want 60 or more, once each, 5%% or fewer right", a.ID, len(evs), len(users), won)
		}
	}
}

// TestPatientPaymentFraudShape: every payment stays under every velocity
// limit of the pack, counted as the detector counts ([t-w, t]).
func TestPatientPaymentFraudShape(t *testing.T) {
	tr, cfg := shapedOnce(), packLimits(t).Velocity
	for _, a := range tr.attacks("patient_payment_fraud") {
		txns := tr.where(func(e ev) bool { return e.User == a.UserID && e.Type == "transaction" })
		firstPaid := map[string]time.Time{}
		for _, x := range txns {
			if _, ok := firstPaid[x.Payee]; !ok {
				firstPaid[x.Payee] = x.TS
			}
		}
		var total float64
		for i, x := range txns {
			in := func(w time.Duration) (n int, sum float64) {
				for _, y := range txns[:i+1] {
					if !y.TS.Before(x.TS.Add(-w)) {
						n, sum = n+1, sum+y.Amount
					}
				}
				return n, sum
			}
			c10, _ := in(10 * time.Minute)
			c1, s1 := in(time.Hour)
			c24, s24 := in(24 * time.Hour)
			fresh := 0
			for _, first := range firstPaid {
				if !first.Before(x.TS.Add(-time.Hour)) && !first.After(x.TS) {
					fresh++
				}
			}
			if c10 >= cfg.Count10m || c1 >= cfg.Count1h || c24 >= cfg.Count24h || s1 >= cfg.Sum1h || s24 >= cfg.Sum24h || fresh >= cfg.NewBeneficiaries1h {
				t.Errorf("%s: payment %s reaches a limit: %d in 10m, %d in 1h, %d in 24h, %.0f in 1h, %.0f in 24h, %d new payees in 1h", a.ID, x.ID, c10, c1, c24, s1, s24, fresh)
			}
			if i >= cfg.AmountRatioMinHistory && x.Amount/(total/float64(i)) >= cfg.AmountRatio {
				t.Errorf("%s: payment %s is %.1f× the mean", a.ID, x.ID, x.Amount/(total/float64(i)))
			}
			total += x.Amount
		}
		if len(labelled(tr, a.Events)) < 10 {
			t.Errorf("%s: %d payments, want 10 or more", a.ID, len(a.Events))
		}
	}
}
