package scenario

import (
	"fmt"
	"math"
	"time"
)

// patientBruteForce: one far-away address guesses one user's password in
// bursts of 2-4 within 90 seconds, 18-24 minutes apart, for 6-14 hours. A
// closed 15-minute window never holds two bursts, so failed_login_burst
// (5 in 15m) never sees more than 4; but 30 or more failures fall in 12
// hours, which Keycloak's defaults would lock.
func (g *gen) patientBruteForce(u *user, at time.Time, i int) {
	ip := g.addr(g.pick(attackerNets))
	end := at.Add(time.Duration(6+g.r.IntN(9)) * time.Hour)
	var ids []string
	for t := at; t.Before(end); t = t.Add(burstSpacing + g.seconds(0, 6*60)) {
		step := g.seconds(10, 29)
		for k := range 2 + g.r.IntN(3) {
			ids = append(ids, g.fail(t.Add(time.Duration(k)*step), u.id, ip, "bad_password", Event{"user_agent": toolAgent}))
		}
	}
	g.label(Attack{ID: fmt.Sprintf("patient-brute-force-%02d", i), Class: "patient_brute_force", UserID: u.id, IP: ip,
		Detector: "failed_login_burst", Action: "lockout", Subject: "user", Events: ids,
		Note: "at most 4 failures in any 15 minutes, 30 or more in 12 hours from one address"})
}

// distributedSpray: 18-22 addresses of one hosting /24 each try 2-4 real
// users once or twice over a few hours. No address comes near spray_users
// (8 users in an hour); only the network as a whole shows the spray. The
// right subject is the network (the /24), not each address: an address's
// few failures look like a CGNAT address's typos, and it has finished
// before any per-address count could grow.
func (g *gen) distributedSpray(tg *targets, at time.Time, i int) {
	prefix := fmt.Sprintf("%s%d.", hostingNet, 10+i%50)
	var ids []string
	for a := range 18 + g.r.IntN(5) {
		ip := fmt.Sprintf("%s%d", prefix, 2+a*11)
		t := at.Add(g.minutes(3 * 60))
		for range 2 + g.r.IntN(3) {
			u := tg.next(t)
			if u == nil {
				break
			}
			for range 1 + g.r.IntN(2) {
				ids = append(ids, g.fail(t, u.id, ip, "bad_password", Event{"user_agent": toolAgent}))
				tg.hit(u.id, t)
				t = t.Add(g.seconds(5, 60))
			}
			t = t.Add(g.seconds(60, 600))
		}
	}
	g.label(Attack{ID: fmt.Sprintf("distributed-spray-%02d", i), Class: "distributed_spray", IP: prefix + "0/24",
		Detector: "failed_login_burst", Action: "lockout", Subject: "network", Events: ids,
		Note: "each address tries at most 4 users; the /24 as a whole tries 40-80"})
}

// patientPaymentFraud: an account taken over (even ones driven remotely on
// the victim's own phone, odd ones from the attacker's phone in the
// victim's city) pays 10-14 amounts of 8-14 times the victim's mean, mostly
// to new payees, 35-70 minutes apart over a day. Every hourly and daily
// limit of velocity stays unreached (≤ 2 payments and ≤ 2 new payees in any
// hour, the amount under amount_ratio, the day under count_24h and
// sum_24h); only the day's new payees and total against the victim's own
// fortnight of history give it away.
func (g *gen) patientPaymentFraud(o Options, at time.Time, i int) {
	u := g.newUser(fmt.Sprintf("v-pf-%02d", i))
	first := o.Start.Add(-12 * day)
	for d := range 12 + o.Days - 1 {
		g.session(u, first.Add(time.Duration(d)*day+7*time.Hour+g.minutes(12*60)), u.homeIP, u.mobileIP, 1)
	}
	mean, _ := g.txnMean(u.id)
	dev, ip := u.device, u.homeIP
	if i%2 == 1 {
		dev, ip = "dev-new-"+u.id, g.addr(g.pick(u.home.home))
	}
	g.emit(at, "login", u.id, Event{"outcome": "success", "ip": ip, "device_id": dev, "app": app(u.platform)})
	g.emit(at.Add(time.Second), "token_issue", u.id, Event{"ip": ip, "device_id": dev, "token_id": "tok-pf-" + u.id})
	var ids, mules []string
	t := at.Add(g.seconds(60, 600))
	for range 10 + g.r.IntN(5) {
		mule := fmt.Sprintf("mule-pf-%02d-%d", i, len(mules))
		if len(mules) > 0 && g.r.Float64() < 0.3 {
			mule = g.pick(mules)
		} else {
			mules = append(mules, mule)
		}
		amount := math.Round(mean*float64(8+g.r.IntN(7))*100) / 100
		ids = append(ids, g.emit(t, "transaction", u.id, Event{"ip": ip, "device_id": dev,
			"txn": Event{"amount": amount, "currency": "EUR", "beneficiary_id": mule, "kind": "transfer"}}))
		t = t.Add(fraudSpacing + g.minutes(35))
	}
	g.label(Attack{ID: fmt.Sprintf("patient-payment-fraud-%02d", i), Class: "patient_payment_fraud", UserID: u.id,
		Detector: "velocity", Action: "step_up", Subject: "user", Events: ids,
		Note: "under every hourly and daily velocity limit; new payees and the day's total against the user's own history"})
}
