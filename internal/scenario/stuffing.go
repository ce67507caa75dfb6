package scenario

import (
	"fmt"
	"time"
)

// credentialStuffing: a leaked list of 60-100 username/password pairs is
// tried once each, with 2-3 of them right (a 2-5% success ratio). Even runs
// come from one hosting address, one attempt every 9-12 minutes, so a
// closed hour never holds 8 distinct failing users (spray_users); odd runs
// rotate over 20 addresses of one hosting /24, a few attempts each. About
// half the usernames do not exist (unknown_user), the rest are real users
// with a wrong password. Each success is a takeover, labelled on its own:
// the attacker's tool changes the account's email and pays a mule. A third
// of the taken-over accounts are dormant (no history in the traffic), as
// stuffing favours, so new_device has nothing to compare with.
func (g *gen) credentialStuffing(o Options, tg *targets, at time.Time, i int) {
	subject, where := "ip", ""
	var addrs []string
	spacing := func() time.Duration { return stuffSpacing + g.seconds(0, 3*60) }
	if i%2 == 1 {
		prefix := fmt.Sprintf("%s%d.", hostingNet, 100+i%50)
		for a := range 20 {
			addrs = append(addrs, fmt.Sprintf("%s%d", prefix, 2+a*11))
		}
		subject, where = "network", prefix+"0/24"
		spacing = func() time.Duration { return g.seconds(90, 240) }
	} else {
		where = fmt.Sprintf("%s%d.%d", hostingNet, 200+i%50, 2+g.r.IntN(250))
		addrs = []string{where}
	}
	tries := 60 + g.r.IntN(41)
	takeovers := 2 + g.r.IntN(2)
	hits := map[int]bool{}
	for len(hits) < takeovers {
		hits[g.r.IntN(tries)] = true
	}
	dev := fmt.Sprintf("dev-stuffer-%02d", i)
	var ids []string
	t, k := at, 0
	for n := range tries {
		ip := addrs[n%len(addrs)]
		switch {
		case hits[n]:
			u := g.newUser(fmt.Sprintf("v-cs-%02d-%d", i, k))
			dormant := (i+k)%3 == 2
			if !dormant {
				g.history(u, o.Start, o.Days-1)
			}
			ids = append(ids, g.takeover(u, t, ip, dev, i, k, dormant))
			k++
		default:
			var u *user
			if g.r.Float64() < 0.5 {
				u = tg.next(t)
			}
			if u == nil {
				ids = append(ids, g.fail(t, fmt.Sprintf("stuffed-%02d-%03d", i, n), ip, "unknown_user", Event{"user_agent": toolAgent}))
				break
			}
			ids = append(ids, g.fail(t, u.id, ip, "bad_password", Event{"user_agent": toolAgent}))
			tg.hit(u.id, t)
		}
		t = t.Add(spacing())
	}
	g.label(Attack{ID: fmt.Sprintf("credential-stuffing-%02d", i), Class: "credential_stuffing", IP: where,
		Detector: "failed_login_burst", Action: "lockout", Subject: subject, Events: ids,
		Note: fmt.Sprintf("%d accounts tried once each, %d right; at most 7 failing users in any hour per address", tries, takeovers)})
}

// takeover logs in to u with the right password from ip on the attacker's
// device, changes the email and pays a mule; it labels the takeover and
// returns the id of the successful login. The right detector is
// new_device (a known user on a new device, network and country) or, for
// a dormant account, failed_login_burst's view of the address (a success
// among an address's many failures on other accounts).
func (g *gen) takeover(u *user, t time.Time, ip, dev string, i, k int, dormant bool) string {
	a := app("android")
	login := g.emit(t, "login", u.id, Event{"outcome": "success", "ip": ip, "device_id": dev, "app": a, "user_agent": toolAgent})
	ids := []string{login}
	t = t.Add(g.seconds(2, 20))
	ids = append(ids, g.emit(t, "token_issue", u.id, Event{"ip": ip, "device_id": dev, "token_id": fmt.Sprintf("tok-cs-%02d-%d", i, k)}))
	t = t.Add(g.seconds(60, 20*60))
	ids = append(ids, g.emit(t, "account_change", u.id, Event{"ip": ip, "device_id": dev, "app": a, "change": Event{"field": "email"}}))
	t = t.Add(g.seconds(5*60, 30*60))
	ids = append(ids, g.emit(t, "transaction", u.id, Event{"ip": ip, "device_id": dev, "app": a,
		"txn": Event{"amount": float64(400 + g.r.IntN(1100)), "currency": "EUR", "beneficiary_id": fmt.Sprintf("mule-cs-%02d-%d", i, k), "kind": "transfer"}}))
	note := "known user: new device, network and country"
	if dormant {
		note = "dormant account: no history in the traffic"
	}
	g.label(Attack{ID: fmt.Sprintf("stuffing-takeover-%02d-%d", i, k), Class: "stuffing_takeover", UserID: u.id, IP: ip,
		Detector: "new_device", Also: []string{"failed_login_burst"}, Action: "step_up", Subject: "user", Events: ids, Note: note})
	return login
}
