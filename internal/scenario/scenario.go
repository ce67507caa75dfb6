// Package scenario generates labelled synthetic traffic: benign users (with
// the look-alikes that must stay allowed: real trips, Wi-Fi/mobile
// switching, a shared office address, password typos) and every attack class
// riskd exists for, each labelled with the detector and the least action
// that catches it. Options.Shaped (ShapedOptions) adds attacks shaped to
// stay under riskd's per-window and per-address counts and the benign
// look-alikes beside them (a CGNAT pool, a company VPN, forgetful users,
// payroll), which Score reports one by one. It addresses the networks of
// testdata/geoip/networks.csv. Test and demo use only.
package scenario

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Event is a contract-v1 event as the generator writes it.
type Event map[string]any

// Options sizes the traffic.
type Options struct {
	Seed            uint64
	BenignUsers     int
	AttacksPerClass int
	Start           time.Time
	Days            int
	Shaped          Shaped // none in DefaultOptions, see ShapedOptions
}

// DefaultOptions is the shipped scenario file's size.
func DefaultOptions() Options {
	return Options{Seed: 1, BenignUsers: 300, AttacksPerClass: 10, Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Days: 3}
}

type city struct {
	name         string
	home, mobile []string // address prefixes ("24.10."), a random suffix is added
}

var cities = []city{
	{"new-york", []string{"24.10."}, []string{"172.58."}},
	{"boston", []string{"24.11."}, []string{"24.11."}},
	{"san-francisco", []string{"24.12."}, []string{"24.12."}},
	{"toronto", []string{"66.40."}, []string{"66.40."}},
	{"london", []string{"81.2."}, []string{"82.132."}},
	{"paris", []string{"90.80.", "2a01:e00::"}, []string{"92.184.", "2a01:cb00::"}},
	{"berlin", []string{"91.64."}, []string{"80.187."}},
	{"madrid", []string{"88.0."}, []string{"88.0."}},
	{"amsterdam", []string{"145.0."}, []string{"145.0."}},
	{"tokyo", []string{"126.0."}, []string{"126.0."}},
	{"sydney", []string{"1.120."}, []string{"1.120."}},
	{"sao-paulo", []string{"177.0."}, []string{"177.0."}},
}

// Far-away attacker networks: Moscow, Lagos, Singapore.
var attackerNets = []string{"95.24.", "105.112.", "101.100."}

type gen struct {
	r      *rand.Rand
	events []Event
	seq    int
	labels Labels
}

func (g *gen) addr(prefix string) string {
	if prefix[len(prefix)-1] == ':' {
		return fmt.Sprintf("%s%x:%x", prefix, g.r.IntN(0xffff)+1, g.r.IntN(0xffff)+1)
	}
	return fmt.Sprintf("%s%d.%d", prefix, g.r.IntN(250)+1, g.r.IntN(250)+1)
}

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }

// emit records an event and returns its id.
func (g *gen) emit(ts time.Time, typ, user string, fields Event) string {
	g.seq++
	id := fmt.Sprintf("ev-%07d", g.seq)
	e := Event{"event_id": id, "type": typ, "ts": ts.UTC().Format("2006-01-02T15:04:05.000Z"), "user_id": user}
	for k, v := range fields {
		e[k] = v
	}
	g.events = append(g.events, e)
	return id
}

func app(platform string) Event {
	return Event{"platform": platform, "version": "5.2.1", "integrity": Event{"rooted": false, "hooked": false, "debugger": false, "emulator": false, "repackaged": false, "attestation": "pass"}}
}

// user is a benign account's habits.
type user struct {
	id, device, platform string
	home                 city
	homeIP, mobileIP     string
	payees               []string
	family               string
	refreshN             int
	tokenN               int
}

func (g *gen) newUser(id string) *user {
	c := cities[g.r.IntN(len(cities))]
	u := &user{id: id, device: "dev-" + id, platform: g.pick([]string{"android", "ios"}), home: c,
		homeIP: g.addr(g.pick(c.home)), mobileIP: g.addr(g.pick(c.mobile)), family: "fam-" + id}
	for i := range 2 + g.r.IntN(3) {
		u.payees = append(u.payees, fmt.Sprintf("payee-%s-%d", id, i))
	}
	return u
}

// session is a benign session: login (sometimes after a typo or two),
// a token, API calls switching between Wi-Fi and mobile data, maybe a
// refresh, payments to known payees, and a logout. It returns the ids of
// its events and the time it ended.
func (g *gen) session(u *user, t time.Time, ip, mobileIP string, txns int) ([]string, time.Time) {
	var ids []string
	base := Event{"device_id": u.device, "app": app(u.platform), "user_agent": "riskd-sample/" + u.platform}
	with := func(extra Event) Event {
		e := Event{}
		for k, v := range base {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	if g.r.Float64() < 0.08 {
		for range 1 + g.r.IntN(2) {
			ids = append(ids, g.emit(t, "login", u.id, with(Event{"outcome": "failure", "failure_reason": "bad_password", "ip": ip})))
			t = t.Add(time.Duration(10+g.r.IntN(30)) * time.Second)
		}
	}
	ids = append(ids, g.emit(t, "login", u.id, with(Event{"outcome": "success", "ip": ip})))
	u.tokenN++
	tok := fmt.Sprintf("tok-%s-%d", u.id, u.tokenN)
	t = t.Add(time.Second)
	ids = append(ids, g.emit(t, "token_issue", u.id, with(Event{"ip": ip, "token_id": tok})))
	for range 2 + g.r.IntN(5) {
		t = t.Add(time.Duration(30+g.r.IntN(300)) * time.Second)
		useIP := ip
		if g.r.Float64() < 0.4 {
			useIP = mobileIP // Wi-Fi ↔ mobile data in the same city
		}
		ids = append(ids, g.emit(t, "token_use", u.id, with(Event{"ip": useIP, "token_id": tok})))
	}
	if g.r.Float64() < 0.5 {
		t = t.Add(time.Duration(60+g.r.IntN(600)) * time.Second)
		u.refreshN++
		ids = append(ids, g.emit(t, "token_refresh", u.id, with(Event{"ip": ip, "refresh": Event{"token_id": fmt.Sprintf("rt-%s-%d", u.id, u.refreshN), "family_id": u.family}})))
	}
	for range txns {
		t = t.Add(time.Duration(60+g.r.IntN(900)) * time.Second)
		amount := math.Round(math.Exp(3+g.r.NormFloat64()*0.8)*100) / 100
		ids = append(ids, g.emit(t, "transaction", u.id, with(Event{"ip": ip, "txn": Event{"amount": amount, "currency": "EUR", "beneficiary_id": g.pick(u.payees), "kind": "transfer"}})))
	}
	if g.r.Float64() < 0.5 {
		t = t.Add(time.Duration(30+g.r.IntN(120)) * time.Second)
		ids = append(ids, g.emit(t, "logout", u.id, with(Event{"ip": ip, "token_id": tok})))
	}
	return ids, t
}

// history gives u a benign past: sessions on each day before the attack.
func (g *gen) history(u *user, start time.Time, days int) time.Time {
	var last time.Time
	for d := range days {
		day := start.Add(time.Duration(d) * 24 * time.Hour)
		for range 1 + g.r.IntN(2) {
			t := day.Add(time.Duration(7*3600+g.r.IntN(12*3600)) * time.Second)
			ip := u.homeIP
			if g.r.Float64() < 0.3 {
				ip = u.mobileIP
			}
			_, end := g.session(u, t, ip, u.mobileIP, g.r.IntN(2))
			if end.After(last) {
				last = end
			}
		}
	}
	return last
}

// Generate returns the traffic (sorted by event time) and its labels.
func Generate(o Options) ([]Event, Labels) {
	g := &gen{r: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
	var benign []*user
	for i := range o.BenignUsers {
		u := g.newUser(fmt.Sprintf("u%04d", i))
		if i >= 20 && i < 60 { // they work at the Berlin office, see office
			u.home = cities[indexOf("berlin")]
			u.homeIP, u.mobileIP = g.addr(g.pick(u.home.home)), g.addr(g.pick(u.home.mobile))
		}
		benign = append(benign, u)
		g.labels.Benign = append(g.labels.Benign, u.id)
		days := o.Days
		if i < 20 {
			days -= 2 // travellers fly over the last two days
		}
		g.history(u, o.Start, days)
	}
	g.travellers(benign[:min(20, len(benign))], o)
	g.office(benign[min(20, len(benign)):min(60, len(benign))], o)
	attackDay := o.Start.Add(time.Duration(o.Days-1) * 24 * time.Hour)
	for i := range o.AttacksPerClass {
		victim := func(kind string) *user {
			u := g.newUser(fmt.Sprintf("v-%s-%02d", kind, i))
			g.history(u, o.Start, o.Days-1)
			return u
		}
		at := attackDay.Add(time.Duration(8*3600+g.r.IntN(10*3600)) * time.Second)
		g.impossibleTravel(victim("it"), at, i)
		g.tokenReplay(victim("tr"), at, i)
		g.afterLogout(victim("lo"), at, i)
		g.refreshReuse(victim("rr"), at, i)
		g.bruteForce(victim("bf"), at, i)
		g.velocity(victim("ve"), at, i)
		g.compromised(victim("cd"), at, i)
		g.newDevice(victim("nd"), at, i)
	}
	for i := range max(1, o.AttacksPerClass/2) {
		at := attackDay.Add(time.Duration(9*3600+g.r.IntN(8*3600)) * time.Second)
		g.spray(benign, at, i)
	}
	g.shaped(o, benign, attackDay)
	sort.SliceStable(g.events, func(i, j int) bool { return g.events[i]["ts"].(string) < g.events[j]["ts"].(string) })
	return g.events, g.labels
}

func (g *gen) label(a Attack) { g.labels.Attacks = append(g.labels.Attacks, a) }

// travellers fly home → another continent at airliner speed or slower.
func (g *gen) travellers(us []*user, o Options) {
	for _, u := range us {
		day := o.Start.Add(time.Duration(o.Days-2) * 24 * time.Hour)
		_, end := g.session(u, day.Add(2*time.Hour), u.homeIP, u.mobileIP, 0)
		dest := cities[(indexOf(u.home.name)+6)%len(cities)]
		// The longest pair here (London–Sydney, 17,000 km) takes a day with
		// a connection; leave at least that.
		arrive := end.Add(24*time.Hour + time.Duration(g.r.IntN(4*3600))*time.Second)
		g.session(u, arrive, g.addr(g.pick(dest.home)), g.addr(g.pick(dest.mobile)), 1)
	}
}

func indexOf(name string) int {
	for i, c := range cities {
		if c.name == name {
			return i
		}
	}
	return 0
}

// office: many users log in from one corporate address each morning, a few
// with a typo first.
func (g *gen) office(us []*user, o Options) {
	const officeIP = "91.64.10.10"
	for d := range o.Days {
		day := o.Start.Add(time.Duration(d)*24*time.Hour + 8*time.Hour)
		for _, u := range us {
			g.session(u, day.Add(time.Duration(g.r.IntN(3600))*time.Second), officeIP, u.mobileIP, 0)
		}
	}
}

func (g *gen) impossibleTravel(u *user, at time.Time, i int) {
	_, end := g.session(u, at, u.homeIP, u.mobileIP, 0)
	t := end.Add(time.Duration(5+g.r.IntN(40)) * time.Minute)
	ip := g.addr(g.pick(attackerNets))
	ids := []string{g.emit(t, "login", u.id, Event{"outcome": "success", "ip": ip, "device_id": u.device, "app": app(u.platform)})}
	ids = append(ids, g.emit(t.Add(time.Minute), "token_issue", u.id, Event{"ip": ip, "device_id": u.device, "token_id": "tok-atk-" + u.id}))
	g.label(Attack{ID: fmt.Sprintf("impossible-travel-%02d", i), Class: "impossible_travel", UserID: u.id, Detector: "impossible_travel", Action: "step_up", Subject: "user", Events: ids})
}

func (g *gen) tokenReplay(u *user, at time.Time, i int) {
	u.tokenN++
	tok := fmt.Sprintf("tok-%s-%d", u.id, u.tokenN)
	g.emit(at, "login", u.id, Event{"outcome": "success", "ip": u.homeIP, "device_id": u.device, "app": app(u.platform)})
	g.emit(at.Add(time.Second), "token_issue", u.id, Event{"ip": u.homeIP, "device_id": u.device, "token_id": tok})
	g.emit(at.Add(time.Minute), "token_use", u.id, Event{"ip": u.homeIP, "device_id": u.device, "token_id": tok})
	// The stolen token, replayed from the attacker's own phone on a home-country network.
	t := at.Add(time.Duration(10+g.r.IntN(50)) * time.Minute)
	ip := g.addr(g.pick(u.home.home))
	var ids []string
	for k := range 3 {
		ids = append(ids, g.emit(t.Add(time.Duration(k)*time.Minute), "token_use", u.id, Event{"ip": ip, "device_id": "dev-attacker-" + u.id, "token_id": tok}))
	}
	g.label(Attack{ID: fmt.Sprintf("token-replay-%02d", i), Class: "token_replay", UserID: u.id, Detector: "token_replay", Action: "lockout", Subject: "token", Events: ids})
}

func (g *gen) afterLogout(u *user, at time.Time, i int) {
	u.tokenN++
	tok := fmt.Sprintf("tok-%s-%d", u.id, u.tokenN)
	g.emit(at, "login", u.id, Event{"outcome": "success", "ip": u.homeIP, "device_id": u.device})
	g.emit(at.Add(time.Second), "token_issue", u.id, Event{"ip": u.homeIP, "device_id": u.device, "token_id": tok})
	g.emit(at.Add(5*time.Minute), "logout", u.id, Event{"ip": u.homeIP, "device_id": u.device, "token_id": tok})
	ids := []string{g.emit(at.Add(time.Duration(20+g.r.IntN(60))*time.Minute), "token_use", u.id, Event{"ip": g.addr("62.0."), "token_id": tok})}
	g.label(Attack{ID: fmt.Sprintf("token-after-logout-%02d", i), Class: "token_replay", UserID: u.id, Detector: "token_replay", Action: "lockout", Subject: "token", Events: ids})
}

func (g *gen) refreshReuse(u *user, at time.Time, i int) {
	fam := fmt.Sprintf("fam-%s-atk", u.id)
	r1, r2 := "rt-"+u.id+"-a", "rt-"+u.id+"-b"
	g.emit(at, "token_refresh", u.id, Event{"ip": u.homeIP, "device_id": u.device, "refresh": Event{"token_id": r1, "family_id": fam}})
	g.emit(at.Add(30*time.Minute), "token_refresh", u.id, Event{"ip": u.homeIP, "device_id": u.device, "refresh": Event{"token_id": r2, "family_id": fam}})
	// The attacker replays the first, already rotated, refresh token.
	ids := []string{g.emit(at.Add(time.Duration(40+g.r.IntN(60))*time.Minute), "token_refresh", u.id, Event{"ip": g.addr(g.pick(u.home.home)), "device_id": u.device, "refresh": Event{"token_id": r1, "family_id": fam}})}
	g.label(Attack{ID: fmt.Sprintf("refresh-reuse-%02d", i), Class: "refresh_reuse", UserID: u.id, Detector: "token_replay", Action: "lockout", Subject: "token", Events: ids})
}

func (g *gen) bruteForce(u *user, at time.Time, i int) {
	ip := g.addr(g.pick(attackerNets))
	var ids []string
	for k := range 12 + g.r.IntN(20) {
		ids = append(ids, g.emit(at.Add(time.Duration(k*(5+g.r.IntN(20)))*time.Second), "login", u.id, Event{"outcome": "failure", "failure_reason": "bad_password", "ip": ip}))
	}
	g.label(Attack{ID: fmt.Sprintf("brute-force-%02d", i), Class: "brute_force", UserID: u.id, Detector: "failed_login_burst", Action: "lockout", Subject: "user", Events: ids})
}

// spray: one address tries one or two passwords on many real accounts.
func (g *gen) spray(benign []*user, at time.Time, i int) {
	ip := g.addr(g.pick(attackerNets))
	var ids []string
	t := at
	for _, k := range g.r.Perm(len(benign))[:min(30, len(benign))] {
		for range 1 + g.r.IntN(2) {
			ids = append(ids, g.emit(t, "login", benign[k].id, Event{"outcome": "failure", "failure_reason": "bad_password", "ip": ip}))
			t = t.Add(time.Duration(5+g.r.IntN(60)) * time.Second)
		}
	}
	g.label(Attack{ID: fmt.Sprintf("password-spray-%02d", i), Class: "password_spray", IP: ip, Detector: "failed_login_burst", Action: "lockout", Subject: "ip", Events: ids})
}

func (g *gen) velocity(u *user, at time.Time, i int) {
	g.emit(at, "login", u.id, Event{"outcome": "success", "ip": u.homeIP, "device_id": u.device})
	var ids []string
	for k := range 8 + g.r.IntN(6) {
		ids = append(ids, g.emit(at.Add(time.Duration(60+k*40)*time.Second), "transaction", u.id, Event{"ip": u.homeIP, "device_id": u.device,
			"txn": Event{"amount": 250 + float64(g.r.IntN(700)), "currency": "EUR", "beneficiary_id": fmt.Sprintf("mule-%d", g.r.IntN(1000)), "kind": "transfer"}}))
	}
	g.label(Attack{ID: fmt.Sprintf("velocity-%02d", i), Class: "velocity", UserID: u.id, Detector: "velocity", Action: "step_up", Subject: "user", Events: ids})
}

func (g *gen) compromised(u *user, at time.Time, i int) {
	a := app(u.platform)
	in := a["integrity"].(Event)
	switch i % 3 {
	case 0:
		in["hooked"] = true
	case 1:
		in["repackaged"], in["attestation"] = true, "fail"
	default:
		in["rooted"], in["debugger"] = true, true
	}
	ids := []string{g.emit(at, "login", u.id, Event{"outcome": "success", "ip": u.homeIP, "device_id": u.device, "app": a})}
	ids = append(ids, g.emit(at.Add(2*time.Minute), "transaction", u.id, Event{"ip": u.homeIP, "device_id": u.device, "app": a,
		"txn": Event{"amount": 90.0, "currency": "EUR", "beneficiary_id": u.payees[0], "kind": "transfer"}}))
	g.label(Attack{ID: fmt.Sprintf("compromised-device-%02d", i), Class: "compromised_device", UserID: u.id, Detector: "device_integrity", Action: "step_up", Subject: "user", Events: ids})
}

// newDevice: an attacker with the password logs in on their own phone, in
// the victim's own city, and changes the account's email.
func (g *gen) newDevice(u *user, at time.Time, i int) {
	ip := g.addr(g.pick(u.home.home))
	dev := "dev-new-" + u.id
	g.emit(at, "login", u.id, Event{"outcome": "success", "ip": ip, "device_id": dev, "app": app("android")})
	ids := []string{g.emit(at.Add(3*time.Minute), "account_change", u.id, Event{"ip": ip, "device_id": dev, "change": Event{"field": g.pick([]string{"email", "phone", "payee"})}})}
	g.label(Attack{ID: fmt.Sprintf("new-device-%02d", i), Class: "new_device", UserID: u.id, Detector: "new_device", Action: "step_up", Subject: "user", Events: ids})
}
