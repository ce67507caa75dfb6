package detectors

import (
	"fmt"
	"slices"

	"github.com/riskd/riskd/event"
)

func isAttempt(ev *event.Event) bool {
	return (ev.Type == event.Login || ev.Type == event.MFA) && ev.Outcome != event.OutcomeNone
}

// logins counts a user's failed logins and MFA in a sliding window (brute
// force) and flags a success that follows a burst.
func logins(st *UserState, s *step, f *LoginFeatures) {
	ev, cfg := s.ev, &s.cfg.FailedLoginBurst
	if !isAttempt(ev) {
		return
	}
	window := cfg.Window.ms()
	if s.prune && st.UserExtra != nil {
		st.Failures = pruneBefore(st.Failures, s.ts-window-s.lateness, cfg.MaxFailures, attemptTS)
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
		if a.TS > s.ts || a.TS < s.ts-window {
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
}

// IPs is the address-keyed stage: failed_login_burst across users from one
// address (password spray). In a fleet it runs on the partitions of the
// repartition topic, keyed by address; in replay, in line. Not safe for
// concurrent use.
type IPs struct {
	cfg   Config
	store *Store[IPKey, IPState]
	clock clock
	one   [1]Attempt // scratch for an address's inline attempt
	users []uint64   // scratch for distinct counting
	fails []uint64
	cur   *IPState // the state of the event last processed (Current)
}

// Current returns the state of the address of the event Process last
// took, for the rules to remember their decisions in. It is good until
// the store next changes: the next Process or restore.
func (p *IPs) Current() *IPState { return p.cur }

// NewIPs returns an empty address stage. cfg must have passed Validate.
func NewIPs(cfg Config) *IPs {
	return &IPs{
		cfg:   cfg,
		store: NewStore[IPKey](cfg.State.MaxIPs, cfg.State.IPTTL.ms(), func(s *IPState) int64 { return s.last }),
		clock: clock{maxFuture: cfg.State.MaxFuture.ms()},
	}
}

// Store exposes the state, for metrics, snapshots and restore.
func (p *IPs) Store() *Store[IPKey, IPState] { return p.store }

// Wants reports whether ev goes through the address stage: login and MFA
// attempts that carry an address.
func Wants(ev *event.Event) bool { return isAttempt(ev) && ev.IP.IsValid() }

// Process updates the address of ev (which Wants) and fills f.IP.
func (p *IPs) Process(ev *event.Event, f *Features) {
	cfg := &p.cfg.FailedLoginBurst
	ts := ev.TS.UnixMilli()
	future := p.clock.observe(ts)
	st, created := p.store.Get(ipKeyOf(ev.IP), p.clock.now)
	p.cur = st
	window := cfg.SprayWindow.ms()
	// An inline attempt is worked on in p.one, and so is the first one
	// of an address: a list still there is one attempt, which set holds
	// inline; a second reallocates (p.one holds one).
	list := st.Attempts(&p.one)
	if list == nil {
		list = p.one[:0]
	}
	if created || (!future && ts >= st.Last()) {
		list = pruneBefore(list, ts-window-p.cfg.State.AllowedLateness.ms(), cfg.MaxAttemptsPerIP, attemptTS)
	}
	list = insertByTS(list, Attempt{TS: ts, Who: hashString(ev.UserID), Failure: ev.Outcome == event.Failure}, attemptTS)
	list = capOldest(list, cfg.MaxAttemptsPerIP)
	last := max64(st.Last(), ts)
	if &list[0] == &p.one[0] && list[0].TS != last {
		list = slices.Clone(list) // not reached (see above), but set must not keep p.one
	}
	st.set(last, list)

	g := &f.IP
	p.users, p.fails = p.users[:0], p.fails[:0]
	for _, a := range list {
		if a.TS > ts || a.TS < ts-window {
			continue
		}
		g.Attempts++
		p.users = append(p.users, a.Who)
		if a.Failure {
			g.Failures++
			p.fails = append(p.fails, a.Who)
		}
	}
	g.Users = countDistinct(p.users)
	g.FailedUsers = countDistinct(p.fails)
	if g.Attempts > 0 {
		g.FailureRatio = round2(float64(g.Failures) / float64(g.Attempts))
	}
	if g.FailedUsers >= cfg.SprayUsers && g.FailureRatio >= cfg.SprayFailureRatio {
		g.Fired = true
		g.Summary = fmt.Sprintf("password spray from %s: %d distinct users failed in %s, %d of %d attempts failed (limits %d users, %.0f%%)",
			ev.IP, g.FailedUsers, cfg.SprayWindow, g.Failures, g.Attempts, cfg.SprayUsers, cfg.SprayFailureRatio*100)
	}
}

func countDistinct(s []uint64) int {
	slices.Sort(s)
	return len(slices.Compact(s))
}
