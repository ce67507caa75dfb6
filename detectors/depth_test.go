package detectors

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/event"
)

// TestPatientBruteForce: the long window counts failures that no burst
// window holds together, and fires on a failure only.
func TestPatientBruteForce(t *testing.T) {
	// bursts of n failures, 20s apart, every gap, for k bursts.
	bursts := func(k, n int, gap time.Duration) []event.Event {
		var out []event.Event
		for b := range k {
			for i := range n {
				out = append(out, ev(fmt.Sprintf("b%d-%d", b, i), event.Login, time.Duration(b)*gap+time.Duration(i)*20*time.Second, failed, ip("5.188.7.7")))
			}
		}
		return out
	}
	tests := []struct {
		name      string
		events    []event.Event
		long      int
		longFired bool
		burst     bool
	}{
		{"three every twenty minutes, ten times", bursts(10, 3, 20*time.Minute), 30, true, false},
		{"three every twenty minutes, nine times", bursts(9, 3, 20*time.Minute), 27, false, false},
		{"a forgetful user: three at four moments of a day", bursts(4, 3, 3*time.Hour), 12, false, false},
		{"spread over more than the long window", bursts(31, 1, 30*time.Minute), 25, false, false},
		{"a burst fires both windows' counts but long_fired only at user_long", bursts(1, 5, time.Hour), 5, false, true},
		{"a success after thirty failures is not long_fired", append(bursts(10, 3, 20*time.Minute), ev("ok", event.Login, 4*time.Hour)), 30, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, Defaults(), tt.events)
			last := fs[len(fs)-1].Logins
			if last.FailuresLong != tt.long || last.LongFired != tt.longFired || last.Fired != tt.burst {
				t.Errorf("failures_long=%d long_fired=%v fired=%v, want %d %v %v (%+v)", last.FailuresLong, last.LongFired, last.Fired, tt.long, tt.longFired, tt.burst, last)
			}
			if tt.longFired && !strings.Contains(last.Summary, "patient brute force") {
				t.Errorf("summary %q does not name the patient brute force", last.Summary)
			}
		})
	}
}

// attemptAt is a login attempt by u from addr at offset.
func attemptAt(i int, u, addr string, offset time.Duration, outcome event.Outcome, asn uint32) event.Event {
	e := ev(fmt.Sprintf("e%d", i), event.Login, offset, user(u), ip(addr))
	e.Outcome, e.Geo.ASN = outcome, asn
	return e
}

// runIPs feeds events through a fresh address stage and returns the
// features of the last.
func runIPs(t *testing.T, cfg Config, events []event.Event) Features {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p := NewIPs(cfg)
	var f Features
	for i := range events {
		f = Features{}
		p.Process(&events[i], &f)
	}
	return f
}

// TestAddressLongWindow: one address failing for many users too slowly for
// the spray window fires the long window; a success from it is stuffing.
func TestAddressLongWindow(t *testing.T) {
	list := func(n int, every time.Duration, success int) []event.Event {
		var out []event.Event
		for i := range n {
			o := event.Failure
			if i == success {
				o = event.Success
			}
			out = append(out, attemptAt(i, fmt.Sprintf("listed%02d", i), "5.188.11.11", time.Duration(i)*every, o, 0))
		}
		return out
	}
	egress := Defaults()
	egress.FailedLoginBurst.SharedEgress = []string{"5.188.11.0/24"}
	tests := []struct {
		name                  string
		cfg                   Config
		events                []event.Event
		spray, long, stuffing bool
		usersLong             int
	}{
		{"twenty users, one every ten minutes", Defaults(), list(20, 10*time.Minute, -1), false, true, false, 20},
		{"nineteen users", Defaults(), list(19, 10*time.Minute, -1), false, false, false, 19},
		{"a success after five failing users", Defaults(), list(6, 10*time.Minute, 5), false, false, true, 5},
		{"a success after four", Defaults(), list(5, 10*time.Minute, 4), false, false, false, 4},
		{"a household: one user failing six times, another logging in", Defaults(), func() []event.Event {
			var out []event.Event
			for i := range 6 {
				out = append(out, attemptAt(i, "forgetful", "5.188.11.11", time.Duration(i)*time.Minute, event.Failure, 0))
			}
			return append(out, attemptAt(6, "partner", "5.188.11.11", 10*time.Minute, event.Success, 0))
		}(), false, false, false, 1},
		{"shared egress never fires the long window", egress, list(20, 10*time.Minute, -1), false, false, false, 20},
		{"the hour's spray still fires", Defaults(), list(8, time.Minute, -1), true, false, false, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := runIPs(t, tt.cfg, tt.events).IP
			if g.Fired != tt.spray || g.LongFired != tt.long || g.Stuffing != tt.stuffing || g.FailedUsersLong != tt.usersLong {
				t.Errorf("fired=%v long_fired=%v stuffing=%v failed_users_long=%d, want %v %v %v %d (%+v)",
					g.Fired, g.LongFired, g.Stuffing, g.FailedUsersLong, tt.spray, tt.long, tt.stuffing, tt.usersLong, g)
			}
		})
	}
}

// TestNetworkSpray: many addresses of one /24 each failing for a user fire
// the network; the guards (successful users, shared egress by prefix or
// AS) keep it quiet; IPv6 counts by /48.
func TestNetworkSpray(t *testing.T) {
	spray := func(n int, addr func(i int) string, asn uint32) []event.Event {
		var out []event.Event
		for i := range n {
			out = append(out, attemptAt(i, fmt.Sprintf("target%02d", i), addr(i), time.Duration(i)*3*time.Minute, event.Failure, asn))
		}
		return out
	}
	v4 := func(i int) string { return fmt.Sprintf("5.188.9.%d", 2+i*11) }
	v6 := func(i int) string { return fmt.Sprintf("2001:db8:7:%x::1", i) }
	office := func() []event.Event {
		var out []event.Event
		for i := range 14 {
			addr := fmt.Sprintf("91.64.20.%d", 10+i%7)
			out = append(out, attemptAt(2*i, fmt.Sprintf("staff%02d", i), addr, time.Duration(i)*2*time.Minute, event.Failure, 0),
				attemptAt(2*i+1, fmt.Sprintf("staff%02d", i), addr, time.Duration(i)*2*time.Minute+20*time.Second, event.Success, 0))
		}
		return out
	}
	byPrefix, byASN := Defaults(), Defaults()
	byPrefix.FailedLoginBurst.SharedEgress = []string{"5.188.0.0/16"}
	byASN.FailedLoginBurst.SharedEgress = []string{"AS64999"}
	tests := []struct {
		name        string
		cfg         Config
		events      []event.Event
		prefix      string
		fired       bool
		allowlisted bool
		failedUsers int
	}{
		{"twelve addresses of a /24, a user each", Defaults(), spray(12, v4, 0), "5.188.9.0/24", true, false, 12},
		{"eleven", Defaults(), spray(11, v4, 0), "5.188.9.0/24", false, false, 11},
		{"one address failing for twelve users is the address's spray, not the network's", Defaults(), spray(12, func(int) string { return "5.188.9.9" }, 0), "5.188.9.0/24", false, false, 12},
		{"two addresses", Defaults(), spray(12, func(i int) string { return v4(i % 2) }, 0), "5.188.9.0/24", false, false, 12},
		{"three addresses", Defaults(), spray(12, func(i int) string { return v4(i % 3) }, 0), "5.188.9.0/24", true, false, 12},
		{"twelve addresses of a /48", Defaults(), spray(12, v6, 0), "2001:db8:7::/48", true, false, 12},
		{"spread over more than the window", Defaults(), spray(30, func(i int) string { return v4(i % 20) }, 0)[:1:1], "5.188.9.0/24", false, false, 1},
		{"an office where everyone mistypes once, then logs in", Defaults(), office(), "91.64.20.0/24", false, false, 14},
		{"shared egress by prefix", byPrefix, spray(12, v4, 0), "5.188.9.0/24", false, true, 12},
		{"shared egress by AS number", byASN, spray(12, v4, 64999), "5.188.9.0/24", false, true, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := runIPs(t, tt.cfg, tt.events).Network
			if g.Prefix != tt.prefix || g.Fired != tt.fired || g.Allowlisted != tt.allowlisted || g.FailedUsers != tt.failedUsers {
				t.Errorf("prefix=%s fired=%v allowlisted=%v failed_users=%d, want %s %v %v %d (%+v)",
					g.Prefix, g.Fired, g.Allowlisted, g.FailedUsers, tt.prefix, tt.fired, tt.allowlisted, tt.failedUsers, g)
			}
		})
	}
	t.Run("a success from a spraying network is stuffing", func(t *testing.T) {
		evs := append(spray(12, v4, 0), attemptAt(99, "dormant", "5.188.9.250", 40*time.Minute, event.Success, 0))
		if g := runIPs(t, Defaults(), evs).Network; !g.Stuffing || g.SuccessUsers != 1 {
			t.Errorf("stuffing=%v success_users=%d, want true 1 (%+v)", g.Stuffing, g.SuccessUsers, g)
		}
	})
	t.Run("an attempt dated beyond max_future is not counted in its network", func(t *testing.T) {
		p := NewIPs(Defaults())
		for _, e := range spray(12, v4, 0) {
			f := Features{}
			f.Stream.Future = true
			p.Process(&e, &f)
			if f.Network.FailedUsers != 0 || f.Network.Fired || f.Network.Prefix != "5.188.9.0/24" {
				t.Fatalf("%+v", f.Network)
			}
		}
		if p.Networks().Len() != 0 {
			t.Errorf("%d networks held", p.Networks().Len())
		}
	})
}

// TestNetworkKeys: a network's key is its prefix as NetworkOf makes it,
// and any other text is refused.
func TestNetworkKeys(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"192.0.2.77", "192.0.2.0/24"}, {"::ffff:192.0.2.77", "192.0.2.0/24"}, {"2001:db8:1:2::3", "2001:db8:1::/48"},
	} {
		if got := NetworkOf(netip.MustParseAddr(tt.addr)).String(); got != tt.want {
			t.Errorf("NetworkOf(%s) = %s, want %s", tt.addr, got, tt.want)
		}
		if _, err := ParseNetworkKey(tt.want); err != nil || !IsNetworkKey(tt.want) {
			t.Errorf("ParseNetworkKey(%s): %v", tt.want, err)
		}
	}
	for _, bad := range []string{"192.0.2.0/25", "192.0.2.1/24", "2001:db8::/64", "2001:DB8::/48", "::ffff:192.0.2.0/120", "192.0.2.0"} {
		if _, err := ParseNetworkKey(bad); err == nil {
			t.Errorf("ParseNetworkKey(%q): no error", bad)
		}
	}
	if IsNetworkKey("192.0.2.7") || IsNetworkKey("2001:db8::7") {
		t.Error("an address key taken for a network's")
	}
}

// TestPatientPaymentDay: a day of many new payees and a total far above
// the user's usual day fires day_fired; the same day without history, or
// paying known payees, does not.
func TestPatientPaymentDay(t *testing.T) {
	history := func(days int) []event.Event {
		var out []event.Event
		for d := range days {
			out = append(out, ev(fmt.Sprintf("h%d", d), event.Transaction, time.Duration(d)*24*time.Hour, pay(40, fmt.Sprintf("shop%d", d%3))))
		}
		return out
	}
	day := func(start time.Duration, n int, amount float64, payee func(i int) string) []event.Event {
		var out []event.Event
		for i := range n {
			out = append(out, ev(fmt.Sprintf("d%d", i), event.Transaction, start+time.Duration(i)*50*time.Minute, pay(amount, payee(i))))
		}
		return out
	}
	mule := func(i int) string { return fmt.Sprintf("mule%d", i) }
	shop := func(i int) string { return fmt.Sprintf("shop%d", i%3) }
	tests := []struct {
		name     string
		events   []event.Event
		newPay   int
		dayFired bool
	}{
		{"ten payments of 400 to new payees after twelve days of 40", append(history(12), day(12*24*time.Hour, 6, 400, mule)...), 6, true},
		{"three new payees only", append(history(12), day(12*24*time.Hour, 3, 400, mule)...), 3, false},
		{"known payees", append(history(12), day(12*24*time.Hour, 6, 400, shop)...), 0, false},
		{"a day of small amounts", append(history(12), day(12*24*time.Hour, 6, 25, mule)...), 6, false},
		{"too little history to know the usual day", append(history(5), day(5*24*time.Hour, 6, 400, mule)...), 6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, Defaults(), tt.events)
			last := fs[len(fs)-1].Velocity
			if last.NewBeneficiaries24h != tt.newPay || last.DayFired != tt.dayFired || (tt.dayFired && !last.Fired) {
				t.Errorf("new_beneficiaries_24h=%d day_fired=%v fired=%v, want %d %v (%+v)", last.NewBeneficiaries24h, last.DayFired, last.Fired, tt.newPay, tt.dayFired, last)
			}
		})
	}
}

// TestSharedEgressConfig: the allow-list takes prefixes and AS numbers and
// refuses anything else by its path.
func TestSharedEgressConfig(t *testing.T) {
	for _, tt := range []struct {
		list []string
		ok   bool
	}{
		{[]string{"31.94.0.0/16", "AS64760", "as64770", "2001:db8::/32"}, true},
		{[]string{"31.94.0.0"}, false},
		{[]string{"AS"}, false},
		{[]string{"ASX1"}, false},
		{[]string{"AS0"}, false},
	} {
		c := Defaults()
		c.FailedLoginBurst.SharedEgress = tt.list
		err := c.Validate()
		if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "failed_login_burst.shared_egress")) {
			t.Errorf("%v: %v", tt.list, err)
		}
	}
}
