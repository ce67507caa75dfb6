package detectors

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/riskd/riskd/event"
)

func isAttempt(ev *event.Event) bool {
	return (ev.Type == event.Login || ev.Type == event.MFA) && ev.Outcome != event.OutcomeNone
}

// logins counts a user's failed logins and MFA in a sliding window (brute
// force) and in a long one (patient brute force: a few guesses at a time,
// spaced so that no short window holds a burst), and flags a success that
// follows a burst.
func logins(st *UserState, s *step, f *LoginFeatures) {
	ev, cfg := s.ev, &s.cfg.FailedLoginBurst
	if !isAttempt(ev) {
		return
	}
	window, long := cfg.Window.ms(), cfg.LongWindow.ms()
	if s.prune && st.UserExtra != nil {
		st.Failures = pruneBefore(st.Failures, s.ts-max(window, long)-s.lateness, cfg.MaxFailures, attemptTS)
	}
	if ev.Outcome == event.Failure {
		var who uint64
		if ev.IP.IsValid() {
			who = hashString(ev.IP.String())
		}
		x := st.extra()
		x.Failures = insertByTS(x.Failures, Attempt{TS: s.ts, Who: who, Failure: true}, attemptTS)
		x.Failures = capOldest(x.Failures, cfg.MaxFailures)
	}
	var ips [8]uint64
	distinct := ips[:0]
	for _, a := range st.failures() {
		if a.TS > s.ts || a.TS < s.ts-max(window, long) {
			continue
		}
		if a.TS >= s.ts-long {
			f.FailuresLong++
		}
		if a.TS < s.ts-window {
			continue
		}
		f.Failures++
		if !slices.Contains(distinct, a.Who) && len(distinct) < cap(distinct) {
			distinct = append(distinct, a.Who)
		}
	}
	f.DistinctIPs = len(distinct)
	switch {
	case ev.Outcome == event.Failure && f.Failures >= cfg.UserBurst:
		f.Fired = true
		f.Summary = fmt.Sprintf("%d failed %s attempts in %s from %d address(es) (burst at %d)", f.Failures, ev.Type, cfg.Window, f.DistinctIPs, cfg.UserBurst)
	case ev.Outcome == event.Success && f.Failures >= cfg.UserBurst:
		f.SuccessAfterBurst = true
		f.Fired = true
		f.Summary = fmt.Sprintf("successful %s right after %d failures in %s", ev.Type, f.Failures, cfg.Window)
	}
	if ev.Outcome == event.Failure && f.FailuresLong >= cfg.UserLong {
		f.LongFired = true
		if !f.Fired {
			f.Summary = fmt.Sprintf("%d failed %s attempts in %s, %d of them in the last %s (patient brute force: limit %d in %s)",
				f.FailuresLong, ev.Type, cfg.LongWindow, f.Failures, cfg.Window, cfg.UserLong, cfg.LongWindow)
		}
	}
}

// IPs is the address-keyed stage: failed_login_burst across users from one
// address (password spray, over a short window and a long one) and from
// its network (distributed spray), and the credential stuffing that makes
// a success from either suspect. In a fleet it runs on the partitions of
// the repartition topic, keyed by network, so that every address of a
// network is counted on one; in replay, in line. Not safe for concurrent
// use.
type IPs struct {
	cfg    Config
	store  *Store[IPKey, IPState]
	nets   *Store[netip.Prefix, NetState]
	egress egress
	clock  clock
	one    [1]Attempt // scratch for an address's inline attempt
	users  []uint64   // scratch for distinct counting
	fails  []uint64
	long   []uint64
	set    distinctSet // counts them
	cur    *IPState    // the state of the event last processed (Current)
	mem    ipMemory    // the address's and the network's, for the rules (Memory)
	noNet  NetState    // the network state of an attempt not counted in its network: none
}

// Current returns the state of the address of the event Process last
// took. It is good until the store next changes: the next Process or
// restore.
func (p *IPs) Current() *IPState { return p.cur }

// Memory returns the states of the address and the network of the event
// Process last took, for the rules to remember their decisions in: the
// address's for decisions about it (or its users), the network's for
// decisions about the network. Good until the next Process or restore.
func (p *IPs) Memory() *ipMemory { return &p.mem }

// NewIPs returns an empty address stage. cfg must have passed Validate.
func NewIPs(cfg Config) *IPs {
	eg, _ := parseEgress(cfg.FailedLoginBurst.SharedEgress) // Validate checked it
	return &IPs{
		cfg:    cfg,
		store:  NewStore[IPKey](cfg.State.MaxIPs, cfg.State.IPTTL.ms(), func(s *IPState) int64 { return s.last }),
		nets:   NewStore[netip.Prefix](cfg.State.MaxNetworks, cfg.State.IPTTL.ms(), func(s *NetState) int64 { return s.Last }),
		egress: eg,
		clock:  clock{maxFuture: cfg.State.MaxFuture.ms()},
	}
}

// Store exposes the state, for metrics, snapshots and restore.
func (p *IPs) Store() *Store[IPKey, IPState] { return p.store }

// Networks exposes the networks' state, for metrics, snapshots and restore.
func (p *IPs) Networks() *Store[netip.Prefix, NetState] { return p.nets }

// Wants reports whether ev goes through the address stage: login and MFA
// attempts that carry an address.
func Wants(ev *event.Event) bool { return isAttempt(ev) && ev.IP.IsValid() }

// Process updates the address of ev (which Wants) and its network, and
// fills f.IP and f.Network.
func (p *IPs) Process(ev *event.Event, f *Features) {
	cfg := &p.cfg.FailedLoginBurst
	ts := ev.TS.UnixMilli()
	future := p.clock.observe(ts)
	st, created := p.store.Get(ipKeyOf(ev.IP), p.clock.now)
	p.cur = st
	window, long := cfg.SprayWindow.ms(), cfg.SprayLongWindow.ms()
	view := eventView{ip: ev.IP, asn: ev.Geo.ASN, user: hashString(ev.UserID), addr: hashAddr(ev.IP), failure: ev.Outcome == event.Failure}
	// An inline attempt is worked on in p.one, and so is the first one
	// of an address: a list still there is one attempt, which set holds
	// inline; a second reallocates (p.one holds one).
	list := st.Attempts(&p.one)
	if list == nil {
		list = p.one[:0]
	}
	if created || (!future && ts >= st.Last()) {
		list = pruneBefore(list, ts-max(window, long)-p.cfg.State.AllowedLateness.ms(), cfg.MaxAttemptsPerIP, attemptTS)
	}
	list = insertByTS(list, Attempt{TS: ts, Who: view.user, Failure: view.failure}, attemptTS)
	list = capOldest(list, cfg.MaxAttemptsPerIP)
	last := max64(st.Last(), ts)
	if &list[0] == &p.one[0] && list[0].TS != last {
		list = slices.Clone(list) // not reached (see above), but set must not keep p.one
	}
	st.set(last, list)
	p.count(ev, list, ts, !p.egress.has(ev.IP, ev.Geo.ASN), &f.IP)
	p.mem = ipMemory{ip: st}
	// An attempt dated beyond max_future of its user partition's stream
	// (f.Stream.Future, from the user stage) is not counted in its
	// network: a fleet releases it to the address stage when its hold
	// times out rather than in event-time order, so a network's count
	// would differ from replay's, and a forged date must not let a few
	// addresses' attempts build a network's lockout.
	if !f.Stream.Future {
		p.mem.net = p.network(view, ts, future, f)
	} else {
		f.Network.Prefix = NetworkOf(ev.IP).String()
		p.noNet = NetState{}
		p.mem.net = &p.noNet
	}
}

// count fills g from an address's attempts, list, at ts; guarded is false
// for shared egress, where only the short window's spray fires.
func (p *IPs) count(ev *event.Event, list []Attempt, ts int64, guarded bool, g *IPFeatures) {
	cfg := &p.cfg.FailedLoginBurst
	window, long := cfg.SprayWindow.ms(), cfg.SprayLongWindow.ms()
	p.users, p.fails, p.long = p.users[:0], p.fails[:0], p.long[:0]
	attemptsLong, failuresLong := 0, 0
	for _, a := range list {
		if a.TS > ts || a.TS < ts-max(window, long) {
			continue
		}
		if a.TS >= ts-long {
			attemptsLong++
			if a.Failure {
				failuresLong++
				p.long = append(p.long, a.Who)
			}
		}
		if a.TS < ts-window {
			continue
		}
		g.Attempts++
		p.users = append(p.users, a.Who)
		if a.Failure {
			g.Failures++
			p.fails = append(p.fails, a.Who)
		}
	}
	g.Users = p.set.count(p.users)
	g.FailedUsers = p.set.count(p.fails)
	g.FailedUsersLong = p.set.count(p.long)
	if g.Attempts > 0 {
		g.FailureRatio = round2(float64(g.Failures) / float64(g.Attempts))
	}
	if attemptsLong > 0 {
		g.FailureRatioLong = round2(float64(failuresLong) / float64(attemptsLong))
	}
	if g.FailedUsers >= cfg.SprayUsers && g.FailureRatio >= cfg.SprayFailureRatio {
		g.Fired = true
		g.Summary = fmt.Sprintf("password spray from %s: %d distinct users failed in %s, %d of %d attempts failed (limits %d users, %.0f%%)",
			ev.IP, g.FailedUsers, cfg.SprayWindow, g.Failures, g.Attempts, cfg.SprayUsers, cfg.SprayFailureRatio*100)
	}
	if !guarded {
		return
	}
	if g.FailedUsersLong >= cfg.SprayLongUsers && g.FailureRatioLong >= cfg.SprayFailureRatio {
		g.LongFired = true
		if g.Summary == "" {
			g.Summary = fmt.Sprintf("patient password spray from %s: %d distinct users failed in %s, %d of %d attempts failed (limits %d users, %.0f%%)",
				ev.IP, g.FailedUsersLong, cfg.SprayLongWindow, failuresLong, attemptsLong, cfg.SprayLongUsers, cfg.SprayFailureRatio*100)
		}
	}
	if ev.Outcome == event.Success && g.FailedUsersLong >= cfg.StuffingUsers && g.FailureRatioLong >= cfg.StuffingFailureRatio {
		g.Stuffing = true
		if g.Summary == "" {
			g.Summary = fmt.Sprintf("login from %s, where %d distinct users failed in %s (%d of %d attempts): credential stuffing",
				ev.IP, g.FailedUsersLong, cfg.SprayLongWindow, failuresLong, attemptsLong)
		}
	}
}

// hashAddr hashes an address's 16 bytes (FNV-1a, as hashString), for a
// network's count of distinct addresses.
func hashAddr(addr netip.Addr) uint64 {
	k := ipKeyOf(addr)
	h := uint64(14695981039346656037)
	for _, c := range k {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
