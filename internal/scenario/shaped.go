package scenario

import (
	"fmt"
	"time"
)

// Shaped sizes the attacks shaped to stay under riskd's per-window and
// per-address counts (issue 13) and the benign look-alikes that resemble
// them. The zero value adds nothing and draws nothing from the generator's
// random source, so DefaultOptions' traffic stays byte for byte the
// shipped file.
type Shaped struct {
	PatientBruteForce   int // one address, a few guesses every ~20 minutes for hours, one user
	DistributedSpray    int // ~20 addresses of one hosting /24, a few users each
	CredentialStuffing  int // runs: even ones from one address, odd ones from a hosting /24; each ends in 2-3 takeovers
	PatientPaymentFraud int // payments to new payees spread over a day, under every hourly limit
	CGNATUsers          int // subscribers behind one mobile carrier's CGNAT pool
	VPNUsers            int // employees behind one company VPN egress
	Forgetful           int // users who retry a dozen times over a day
	Payroll             int // business accounts paying their staff once a month
}

// ShapedOptions is the shipped traffic's classes and sizes plus every
// shaped attack and look-alike: the traffic issue 13's detectors are
// measured on.
func ShapedOptions() Options {
	o := DefaultOptions()
	o.Shaped = Shaped{PatientBruteForce: 10, DistributedSpray: 10, CredentialStuffing: 10, PatientPaymentFraud: 10,
		CGNATUsers: 200, VPNUsers: 120, Forgetful: 10, Payroll: 5}
	return o
}

// The networks of testdata/geoip/networks.csv the shaped traffic uses.
const (
	hostingNet = "5.188."        // Polder Hosting, AS64750, Amsterdam: sprays and stuffing
	cgnatPool  = "31.94.17."     // Kestrel Mobile, AS64760, London: a CGNAT pool
	vpnEgress  = "193.30.120.10" // Hanse Industrie AG, AS64770, Frankfurt
	toolAgent  = "python-requests/2.31"
)

// The limits of rules/pack/detectors.yaml the shaped attacks stay under
// by construction; the package's tests check the shapes against the pack
// itself.
const (
	burstSpacing = 18 * time.Minute // > failed_login_burst.window (15m) plus a burst's length
	stuffSpacing = 9 * time.Minute  // a closed hour holds ≤ 7 attempts: under spray_users (8)
	fraudSpacing = 35 * time.Minute // a closed hour holds ≤ 2 payments: under new_beneficiaries_1h (3)
	amountRatio  = 20               // velocity.amount_ratio
)

const day = 24 * time.Hour

// shaped adds o.Shaped's attacks (on the attack day) and look-alikes.
func (g *gen) shaped(o Options, benign []*user, attackDay time.Time) {
	s := o.Shaped
	victim := func(kind string, i int) *user {
		u := g.newUser(fmt.Sprintf("v-%s-%02d", kind, i))
		g.history(u, o.Start, o.Days-1)
		return u
	}
	for i := range s.PatientBruteForce {
		g.patientBruteForce(victim("pbf", i), attackDay.Add(g.minutes(8*60)), i)
	}
	var tg *targets
	if s.DistributedSpray+s.CredentialStuffing > 0 {
		tg = g.newTargets(benign)
	}
	for i := range s.DistributedSpray {
		g.distributedSpray(tg, attackDay.Add(8*time.Hour+g.minutes(8*60)), i)
	}
	for i := range s.CredentialStuffing {
		g.credentialStuffing(o, tg, attackDay.Add(g.minutes(6*60)), i)
	}
	for i := range s.PatientPaymentFraud {
		g.patientPaymentFraud(o, attackDay.Add(7*time.Hour+g.minutes(3*60)), i)
	}
	g.cgnat(o, s.CGNATUsers)
	g.vpn(o, s.VPNUsers)
	for i := range s.Forgetful {
		g.forgetful(o, attackDay, i)
	}
	for i := range s.Payroll {
		g.payroll(o, attackDay, i)
	}
}

// minutes is a random duration under n minutes, to the second.
func (g *gen) minutes(n int) time.Duration { return time.Duration(g.r.IntN(n*60)) * time.Second }

// seconds is a random duration of lo to hi seconds.
func (g *gen) seconds(lo, hi int) time.Duration {
	return time.Duration(lo+g.r.IntN(hi-lo+1)) * time.Second
}

// fail emits a failed login and returns its id.
func (g *gen) fail(t time.Time, user, ip, reason string, extra Event) string {
	e := Event{"outcome": "failure", "failure_reason": reason, "ip": ip}
	for k, v := range extra {
		e[k] = v
	}
	return g.emit(t, "login", user, e)
}

// lookalike labels us as a benign look-alike (and as benign users).
func (g *gen) lookalike(l Lookalike) {
	g.labels.Lookalikes = append(g.labels.Lookalikes, l)
	g.labels.Benign = append(g.labels.Benign, l.UserIDs...)
}

// txnMean is the mean amount of the transactions user has made so far.
func (g *gen) txnMean(user string) (mean float64, n int) {
	var sum float64
	for _, e := range g.events {
		if e["type"] == "transaction" && e["user_id"] == user {
			sum += e["txn"].(Event)["amount"].(float64)
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}
