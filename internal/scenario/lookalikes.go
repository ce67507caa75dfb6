package scenario

import (
	"fmt"
	"math"
	"time"
)

// settled is how long before the traffic's first day the look-alikes'
// users have been active: longer than new_device.new_for (24h), so their
// usual devices, networks and countries are familiar, as a subscriber's or
// an employee's of long standing are.
const settled = 5 * day

// payments is how many payments a look-alike's session on day d of its
// settled history makes: none on the first two, when its places are still
// new (new_for) and a payment from one would fairly be stepped up, as on
// any account's first days.
func (g *gen) payments(d int) int {
	if d < 2 {
		return 0
	}
	return g.r.IntN(2)
}

// cgnat: n subscribers of one London mobile carrier share a CGNAT pool of
// four addresses in one /24, most of them the first. They log in one to
// three times a day, a quarter of the time from home broadband, and now
// and then mistype their password (the session's usual 8%).
func (g *gen) cgnat(o Options, n int) {
	if n == 0 {
		return
	}
	pool := []string{cgnatPool + "2", cgnatPool + "3", cgnatPool + "4", cgnatPool + "5"}
	var ids []string
	for k := range n {
		u := g.newUser(fmt.Sprintf("cg%04d", k))
		u.home = cities[indexOf("london")]
		u.homeIP, u.mobileIP = g.addr("81.2."), pool[0]
		if g.r.Float64() < 0.3 {
			u.mobileIP = g.pick(pool[1:])
		}
		ids = append(ids, u.id)
		first := o.Start.Add(-settled)
		for d := range 5 + o.Days {
			for range 1 + g.r.IntN(3) {
				ip := u.mobileIP
				if g.r.Float64() < 0.25 {
					ip = u.homeIP
				}
				g.session(u, first.Add(time.Duration(d)*day+7*time.Hour+g.minutes(15*60)), ip, u.mobileIP, g.payments(d))
			}
		}
	}
	g.lookalike(Lookalike{ID: "cgnat-00", Class: "cgnat", UserIDs: ids, IP: cgnatPool + "0/24", ASN: "AS64760", Expect: ExpectAllow,
		Why: "a carrier's CGNAT address carries many subscribers and their typos; locking it locks them all"})
}

// vpn: n employees, living in Berlin, Paris, Amsterdam or London, work
// through the company's VPN egress in Frankfurt each morning (full tunnel:
// every call goes through it) and use the app from home some evenings,
// hours later. The morning logins come all at once, a few with a typo.
func (g *gen) vpn(o Options, n int) {
	if n == 0 {
		return
	}
	homes := []string{"berlin", "berlin", "paris", "amsterdam", "london"}
	var ids []string
	for k := range n {
		u := g.newUser(fmt.Sprintf("vpn%04d", k))
		u.home = cities[indexOf(g.pick(homes))]
		u.homeIP, u.mobileIP = g.addr(g.pick(u.home.home)), g.addr(g.pick(u.home.mobile))
		ids = append(ids, u.id)
		first := o.Start.Add(-settled)
		for d := range 5 + o.Days {
			at := first.Add(time.Duration(d) * day)
			g.session(u, at.Add(8*time.Hour+g.minutes(90)), vpnEgress, vpnEgress, g.payments(d))
			if d < 2 || g.r.Float64() < 0.6 {
				g.session(u, at.Add(19*time.Hour+g.minutes(3*60)), u.homeIP, u.mobileIP, g.payments(d))
			}
		}
	}
	g.lookalike(Lookalike{ID: "company-vpn-00", Class: "company_vpn", UserIDs: ids, IP: vpnEgress, ASN: "AS64770", Expect: ExpectAllow,
		Why: "a company's VPN egress carries its employees, a morning's typos among them"})
}

// forgetful: a user who forgot their password tries 2-4 times in each of
// four moments of the attack day (about a dozen failures, never 5 in 15
// minutes) from their own phone at home or on mobile data, and then gets
// in: even ones remember it, odd ones reset it (an account_change of the
// password) first.
func (g *gen) forgetful(o Options, attackDay time.Time, i int) {
	u := g.newUser(fmt.Sprintf("fg%02d", i))
	g.history(u, o.Start.Add(-settled), 5+o.Days-1)
	base := Event{"device_id": u.device, "app": app(u.platform), "user_agent": "riskd-sample/" + u.platform}
	with := func(ip string, extra Event) Event {
		e := Event{"ip": ip}
		for k, v := range base {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	var t time.Time
	for _, hour := range []int{8, 12, 16, 20} {
		t = attackDay.Add(time.Duration(hour)*time.Hour + g.minutes(60))
		ip := g.pick([]string{u.homeIP, u.mobileIP})
		for range 2 + g.r.IntN(3) {
			g.fail(t, u.id, ip, "bad_password", with(ip, nil))
			t = t.Add(g.seconds(20, 60))
		}
	}
	if i%2 == 1 {
		t = t.Add(g.seconds(5*60, 20*60))
		g.emit(t, "account_change", u.id, with(u.homeIP, Event{"change": Event{"field": "password"}}))
	}
	// In at last, without the typo a session may start with: the
	// failures above are the whole of the day's.
	t = t.Add(g.seconds(60, 5*60))
	g.emit(t, "login", u.id, with(u.homeIP, Event{"outcome": "success"}))
	g.emit(t.Add(time.Second), "token_issue", u.id, with(u.homeIP, Event{"token_id": fmt.Sprintf("tok-%s-forgot", u.id)}))
	g.lookalike(Lookalike{ID: fmt.Sprintf("forgetful-%02d", i), Class: "forgetful_user", UserIDs: []string{u.id}, Expect: ExpectStepUpOK,
		Why: "success-after-burst-step-up: a success after many failures may be a guessed password, so a second factor is fair; a lockout is not"})
}

// payroll: a business account pays its 12-25 staff by hand (70-200
// seconds apart, so never 10 in 10 minutes) on the same day of each month,
// three months before the attack day and on it, one new hire this month,
// and pays a supplier or two in a weekly session in between.
func (g *gen) payroll(o Options, attackDay time.Time, i int) {
	u := g.newUser(fmt.Sprintf("biz%02d", i))
	staff := make([]float64, 12+g.r.IntN(14))
	for k := range staff {
		staff[k] = float64(1800 + g.r.IntN(2400))
	}
	first := attackDay.AddDate(0, -3, 0)
	for t := first.Add(-7 * day); t.Before(attackDay); t = t.Add(7 * day) {
		// Afternoons: a payroll morning's count stays the payroll's own.
		_, end := g.session(u, t.Add(14*time.Hour+g.minutes(4*60)), u.homeIP, u.mobileIP, 0)
		for range 1 + g.r.IntN(2) {
			end = end.Add(g.seconds(60, 600))
			g.emit(end, "transaction", u.id, Event{"ip": u.homeIP, "device_id": u.device, "txn": Event{"amount": float64(200 + g.r.IntN(2800)),
				"currency": "EUR", "beneficiary_id": fmt.Sprintf("supplier-%s-%d", u.id, g.r.IntN(4)), "kind": "transfer"}})
		}
	}
	for m := 3; m >= 0; m-- {
		if m == 0 {
			staff = append(staff, float64(1800+g.r.IntN(2400)))
		}
		_, t := g.session(u, attackDay.AddDate(0, -m, 0).Add(9*time.Hour+g.minutes(60)), u.homeIP, u.mobileIP, 0)
		for k, salary := range staff {
			t = t.Add(g.seconds(70, 200))
			g.emit(t, "transaction", u.id, Event{"ip": u.homeIP, "device_id": u.device, "txn": Event{"amount": math.Round(salary*(0.98+0.04*g.r.Float64())*100) / 100,
				"currency": "EUR", "beneficiary_id": fmt.Sprintf("staff-%s-%d", u.id, k), "kind": "transfer"}})
		}
	}
	g.lookalike(Lookalike{ID: fmt.Sprintf("payroll-%02d", i), Class: "payroll", UserIDs: []string{u.id}, Expect: ExpectStepUpOK,
		Why: "velocity-step-up: a payroll passes the consumer hourly counts and sums (5 in 10m, 10 in 1h, 5000 in 1h); the account's own months should make it allow, but a step-up is fair and a lockout never"})
}
