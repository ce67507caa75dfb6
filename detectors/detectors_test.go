package detectors

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/event"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	newYork  = event.Geo{Located: true, Country: "US", City: "New York", Lat: 40.7128, Lon: -74.0060, RadiusKM: 20, ASN: 64601}
	nyMobile = event.Geo{Located: true, Country: "US", City: "New York", Lat: 40.7128, Lon: -74.0060, RadiusKM: 100, ASN: 64603}
	boston   = event.Geo{Located: true, Country: "US", City: "Boston", Lat: 42.3601, Lon: -71.0589, RadiusKM: 20, ASN: 64601}
	london   = event.Geo{Located: true, Country: "GB", City: "London", Lat: 51.5074, Lon: -0.1278, RadiusKM: 10, ASN: 64610}
	moscow   = event.Geo{Located: true, Country: "RU", City: "Moscow", Lat: 55.7558, Lon: 37.6173, RadiusKM: 10, ASN: 64660}
	paris6   = event.Geo{Located: true, Country: "FR", City: "Paris", Lat: 48.8566, Lon: 2.3522, RadiusKM: 10, ASN: 64620}
	// Germany's centroid with a 1000 km radius, as mobile carriers often resolve.
	germany = event.Geo{Located: true, Country: "DE", Lat: 51.1657, Lon: 10.4515, RadiusKM: 1000, ASN: 64631}
	berlin  = event.Geo{Located: true, Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, RadiusKM: 10, ASN: 64630}
)

// ev builds an event at t0+offset; mods set the rest.
func ev(id string, typ event.Type, offset time.Duration, mods ...func(*event.Event)) event.Event {
	e := event.Event{ID: id, Type: typ, TS: t0.Add(offset), UserID: "alice", DeviceID: "phone-1"}
	if typ == event.Login || typ == event.MFA {
		e.Outcome = event.Success
	}
	for _, m := range mods {
		m(&e)
	}
	return e
}

func at(g event.Geo) func(*event.Event) {
	return func(e *event.Event) {
		e.Geo = g
		e.IP = netip.MustParseAddr("203.0.113.9") // any valid address; the geo is what counts here
	}
}
func ip(a string) func(*event.Event)     { return func(e *event.Event) { e.IP = netip.MustParseAddr(a) } }
func device(d string) func(*event.Event) { return func(e *event.Event) { e.DeviceID = d } }
func user(u string) func(*event.Event)   { return func(e *event.Event) { e.UserID = u } }
func token(t string) func(*event.Event)  { return func(e *event.Event) { e.TokenID = t } }
func failed(e *event.Event)              { e.Outcome = event.Failure }
func refreshOf(tok, fam string) func(*event.Event) {
	return func(e *event.Event) { e.Refresh = event.Refresh{TokenID: tok, FamilyID: fam} }
}
func pay(amount float64, payee string) func(*event.Event) {
	return func(e *event.Event) { e.Txn = event.Txn{Amount: amount, Currency: "EUR", BeneficiaryID: payee} }
}

// run feeds events through a fresh user stage and returns the features of each.
func run(t *testing.T, cfg Config, events []event.Event) []Features {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	u := NewUsers(cfg)
	out := make([]Features, len(events))
	for i := range events {
		u.Process(&events[i], &out[i])
	}
	return out
}

func TestImpossibleTravel(t *testing.T) {
	tests := []struct {
		name   string
		events []event.Event
		fired  bool
	}{
		{"New York then Moscow half an hour later", []event.Event{
			ev("1", event.Login, 0, at(newYork)), ev("2", event.Login, 30*time.Minute, at(moscow))}, true},
		{"a real flight New York to London", []event.Event{
			ev("1", event.Login, 0, at(newYork)), ev("2", event.Login, 8*time.Hour, at(london))}, false},
		{"Wi-Fi to mobile data in one city", []event.Event{
			ev("1", event.TokenUse, 0, at(newYork), token("t")), ev("2", event.TokenUse, time.Minute, at(nyMobile), token("t"))}, false},
		{"train New York to Boston", []event.Event{
			ev("1", event.Login, 0, at(newYork)), ev("2", event.Transaction, 4*time.Hour, at(boston), pay(10, "p"))}, false},
		{"carrier located at the country centroid with a wide radius", []event.Event{
			ev("1", event.Login, 0, at(berlin)), ev("2", event.TokenUse, time.Minute, at(germany), token("t"))}, false},
		{"simultaneous in two capitals", []event.Event{
			ev("1", event.TokenUse, 0, at(paris6), token("t")), ev("2", event.TokenUse, 0, at(moscow), token("t"))}, true},
		{"unlocated event abstains", []event.Event{
			ev("1", event.Login, 0, at(newYork)), ev("2", event.Login, time.Minute, ip("10.0.0.1"))}, false},
		{"failed login is not presence", []event.Event{
			ev("1", event.Login, 0, at(newYork)), ev("2", event.Login, time.Minute, at(moscow), failed)}, false},
		{"out of order: a late Moscow event between two New York ones", []event.Event{
			ev("1", event.Login, 0, at(newYork)), ev("2", event.TokenUse, 2*time.Hour, at(newYork), token("t")),
			ev("3", event.Login, time.Hour, at(moscow))}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, Defaults(), tt.events)
			last := fs[len(fs)-1].Travel
			if last.Fired != tt.fired {
				t.Errorf("fired = %v, want %v (%+v)", last.Fired, tt.fired, last)
			}
			if last.Fired && (last.Summary == "" || last.SpeedKMH <= 1000 || last.PrevCity == "") {
				t.Errorf("evidence incomplete: %+v", last)
			}
		})
	}
}

func TestTokenReplay(t *testing.T) {
	issue := ev("i", event.TokenIssue, 0, at(newYork), token("t1"))
	tests := []struct {
		name   string
		events []event.Event
		fired  bool
		check  func(f TokenFeatures) bool
	}{
		{"used from another device", []event.Event{issue, ev("u", event.TokenUse, time.Minute, at(newYork), token("t1"), device("evil"))}, true,
			func(f TokenFeatures) bool { return f.DeviceMismatch && f.BoundDevice == "phone-1" }},
		{"same device on mobile data", []event.Event{issue, ev("u", event.TokenUse, time.Minute, at(nyMobile), token("t1"))}, false,
			func(f TokenFeatures) bool { return f.NetworkChanged && !f.DeviceMismatch }},
		{"no device id is evidence, not a signal", []event.Event{issue, ev("u", event.TokenUse, time.Minute, at(nyMobile), token("t1"), device(""))}, false,
			func(f TokenFeatures) bool { return f.DeviceMissing }},
		{"used after logout", []event.Event{issue, ev("o", event.Logout, time.Minute, token("t1")), ev("u", event.TokenUse, 2*time.Minute, token("t1"))}, true,
			func(f TokenFeatures) bool { return f.AfterLogout }},
		{"use before logout arriving after it", []event.Event{issue, ev("o", event.Logout, 2*time.Minute, token("t1")), ev("u", event.TokenUse, time.Minute, token("t1"))}, false,
			func(f TokenFeatures) bool { return !f.AfterLogout }},
		{"same device in two places at once", []event.Event{issue, ev("u", event.TokenUse, 5*time.Minute, at(moscow), token("t1"))}, true,
			func(f TokenFeatures) bool { return f.Concurrent && f.SpeedKMH > 1000 }},
		{"refresh token presented twice", []event.Event{
			ev("r1", event.TokenRefresh, 0, refreshOf("rt1", "F")), ev("r2", event.TokenRefresh, time.Hour, refreshOf("rt2", "F")),
			ev("r3", event.TokenRefresh, 2*time.Hour, refreshOf("rt1", "F"))}, true,
			func(f TokenFeatures) bool { return f.RefreshReuse && f.FamilyID == "F" }},
		{"family revoked after reuse", []event.Event{
			ev("r1", event.TokenRefresh, 0, refreshOf("rt1", "F")), ev("r2", event.TokenRefresh, time.Minute, refreshOf("rt1", "F")),
			ev("r3", event.TokenRefresh, time.Hour, refreshOf("rt9", "F"))}, true,
			func(f TokenFeatures) bool { return f.FamilyRevoked && !f.RefreshReuse }},
		{"redelivered refresh event is a duplicate, not reuse", []event.Event{
			ev("r1", event.TokenRefresh, 0, refreshOf("rt1", "F")), ev("r1", event.TokenRefresh, 0, refreshOf("rt1", "F"))}, false,
			func(f TokenFeatures) bool { return !f.RefreshReuse }},
		{"rotation is normal", []event.Event{
			ev("r1", event.TokenRefresh, 0, refreshOf("rt1", "F")), ev("r2", event.TokenRefresh, time.Hour, refreshOf("rt2", "F")),
			ev("r3", event.TokenRefresh, 2*time.Hour, refreshOf("rt3", "F"))}, false,
			func(f TokenFeatures) bool { return f.Known }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, Defaults(), tt.events)
			last := fs[len(fs)-1].Token
			if last.Fired != tt.fired || !tt.check(last) {
				t.Errorf("fired = %v, want %v; features %+v", last.Fired, tt.fired, last)
			}
		})
	}
}

func TestVelocity(t *testing.T) {
	txns := func(n int, every time.Duration, amount float64) []event.Event {
		var out []event.Event
		for i := range n {
			out = append(out, ev(string(rune('a'+i)), event.Transaction, time.Duration(i)*every, pay(amount, "p"+string(rune('a'+i%3)))))
		}
		return out
	}
	tests := []struct {
		name   string
		events []event.Event
		fired  bool
		count  int
	}{
		{"four in ten minutes", txns(4, 2*time.Minute, 20), false, 4},
		{"five in ten minutes", txns(5, 2*time.Minute, 20), true, 5},
		{"five over an hour", txns(5, 15*time.Minute, 20), false, 1},
		{"a late arrival is counted by later events", func() []event.Event {
			e := txns(5, time.Minute, 20)
			return []event.Event{e[0], e[1], e[3], e[2], e[4]}
		}(), true, 5},
		{"one huge amount after a history", append(txns(6, 3*time.Hour, 20), ev("z", event.Transaction, 20*time.Hour, pay(2000, "p"))), true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, Defaults(), tt.events)
			last := fs[len(fs)-1].Velocity
			if last.Fired != tt.fired || last.Count10m != tt.count {
				t.Errorf("fired=%v count_10m=%d, want %v %d (%+v)", last.Fired, last.Count10m, tt.fired, tt.count, last)
			}
		})
	}
	t.Run("currencies are not summed together", func(t *testing.T) {
		fs := run(t, Defaults(), []event.Event{
			ev("a", event.Transaction, 0, pay(100, "p")),
			ev("b", event.Transaction, time.Minute, func(e *event.Event) { e.Txn = event.Txn{Amount: 50, Currency: "USD"} }),
		})
		if got := fs[1].Velocity; got.Sum1h != 50 || got.Count1h != 2 {
			t.Errorf("sum_1h=%v count_1h=%d, want 50 and 2", got.Sum1h, got.Count1h)
		}
	})
}

func TestFailedLogins(t *testing.T) {
	fails := func(n int, every time.Duration) []event.Event {
		var out []event.Event
		for i := range n {
			out = append(out, ev(string(rune('a'+i)), event.Login, time.Duration(i)*every, failed, ip("198.51.100.7")))
		}
		return out
	}
	tests := []struct {
		name   string
		events []event.Event
		fired  bool
	}{
		{"two typos", append(fails(2, 10*time.Second), ev("ok", event.Login, time.Minute)), false},
		{"five failures in a minute", fails(5, 10*time.Second), true},
		{"five failures over two hours", fails(5, 30*time.Minute), false},
		{"success right after a burst", append(fails(6, 5*time.Second), ev("ok", event.Login, time.Minute)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, Defaults(), tt.events)
			if last := fs[len(fs)-1].Logins; last.Fired != tt.fired {
				t.Errorf("fired = %v, want %v (%+v)", last.Fired, tt.fired, last)
			}
		})
	}
}

func TestPasswordSpray(t *testing.T) {
	attempt := func(i int, who string, outcome event.Outcome) event.Event {
		e := ev(who+string(rune('a'+i%26)), event.Login, time.Duration(i)*20*time.Second, user(who), ip("198.51.100.7"))
		e.ID = who + "-" + e.TS.Format("150405")
		e.Outcome = outcome
		return e
	}
	tests := []struct {
		name   string
		events func() []event.Event
		fired  bool
	}{
		{"eight users failing from one address", func() []event.Event {
			var out []event.Event
			for i := range 8 {
				out = append(out, attempt(i, "user"+string(rune('a'+i)), event.Failure))
			}
			return out
		}, true},
		{"one user failing many times is brute force, not spray", func() []event.Event {
			var out []event.Event
			for i := range 20 {
				out = append(out, attempt(i, "bob", event.Failure))
			}
			return out
		}, false},
		{"shared office: many successes, a few typos", func() []event.Event {
			var out []event.Event
			for i := range 60 {
				o := event.Success
				if i%6 == 0 {
					o = event.Failure
				}
				out = append(out, attempt(i, "staff"+string(rune('a'+i%26))+string(rune('a'+i/26)), o))
			}
			return out
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewIPs(Defaults())
			var f Features
			for _, e := range tt.events() {
				f = Features{}
				p.Process(&e, &f)
			}
			if f.IP.Fired != tt.fired {
				t.Errorf("fired = %v, want %v (%+v)", f.IP.Fired, tt.fired, f.IP)
			}
		})
	}
}

func TestNewDevice(t *testing.T) {
	history := []event.Event{ev("h1", event.Login, 0, at(newYork)), ev("h2", event.TokenUse, 2*time.Hour, at(newYork), token("t"))}
	tests := []struct {
		name    string
		events  []event.Event
		fired   bool
		devNew  bool
		country bool
	}{
		{"known user, new phone changes email", append(history, ev("c", event.AccountChange, 3*time.Hour, at(newYork), device("phone-2"))), true, true, false},
		{"known user, usual phone", append(history, ev("c", event.AccountChange, 3*time.Hour, at(newYork))), false, false, false},
		{"known user, new country", append(history, ev("c", event.Transaction, 20*time.Hour, at(london), pay(5, "p"))), true, false, true},
		{"brand-new user has nothing to compare with", []event.Event{ev("c", event.AccountChange, 0, at(newYork), device("phone-2"))}, false, false, false},
		{"the new device is still new an hour later", append(history,
			ev("l", event.Login, 3*time.Hour, at(newYork), device("phone-2")), ev("c", event.Transaction, 4*time.Hour, at(newYork), device("phone-2"), pay(5, "p"))), true, true, false},
		{"a new device becomes familiar after new_for", append(history,
			ev("l", event.Login, 3*time.Hour, at(newYork), device("phone-2")), ev("c", event.Transaction, 30*time.Hour, at(newYork), device("phone-2"), pay(5, "p"))), false, false, false},
		{"a failed login does not make a device familiar", append(history,
			ev("l", event.Login, 2*24*time.Hour, at(newYork), device("phone-2"), failed), ev("c", event.AccountChange, 3*24*time.Hour, at(newYork), device("phone-2"))), true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, Defaults(), tt.events)
			n := fs[len(fs)-1].Novelty
			if n.Fired != tt.fired || n.DeviceNew != tt.devNew || n.CountryNew != tt.country {
				t.Errorf("got fired=%v device_new=%v country_new=%v, want %v %v %v (%+v)", n.Fired, n.DeviceNew, n.CountryNew, tt.fired, tt.devNew, tt.country, n)
			}
		})
	}
}

func TestDeviceIntegrity(t *testing.T) {
	tests := []struct {
		in            event.Integrity
		fired, severe bool
	}{
		{event.Integrity{Attestation: "pass"}, false, false},
		{event.Integrity{Attestation: "unavailable"}, false, false},
		{event.Integrity{Rooted: true}, true, false},
		{event.Integrity{Emulator: true}, true, false},
		{event.Integrity{Hooked: true}, true, true},
		{event.Integrity{Debugger: true}, true, true},
		{event.Integrity{Repackaged: true}, true, true},
		{event.Integrity{Attestation: "fail"}, true, true},
	}
	for _, tt := range tests {
		e := ev("1", event.Login, 0, func(e *event.Event) { e.App.Integrity = tt.in })
		var f IntegrityFeatures
		integrity(&e, &f)
		if f.Fired != tt.fired || f.Severe != tt.severe || (f.Fired && f.Summary == "") {
			t.Errorf("%+v: got %+v", tt.in, f)
		}
	}
}

func TestStateBounds(t *testing.T) {
	t.Run("evicts the least recently used user beyond the cap", func(t *testing.T) {
		cfg := Defaults()
		cfg.State.MaxUsers = 2
		u := NewUsers(cfg)
		for i, who := range []string{"a", "b", "a", "c"} {
			e := ev(string(rune('0'+i)), event.Login, time.Duration(i)*time.Second, user(who))
			u.Process(&e, &Features{})
		}
		if _, ok := u.Store().Peek("b"); ok || u.Store().Len() != 2 || u.Store().Evictions != 1 {
			t.Errorf("len=%d evictions=%d, b kept=%v; want b evicted", u.Store().Len(), u.Store().Evictions, ok)
		}
	})
	t.Run("forgets users idle past the TTL", func(t *testing.T) {
		cfg := Defaults()
		cfg.State.UserTTL = Duration(time.Hour)
		u := NewUsers(cfg)
		for i, step := range []struct {
			who string
			off time.Duration
		}{{"a", 0}, {"b", 30 * time.Minute}} {
			e := ev(string(rune('0'+i)), event.Login, step.off, user(step.who))
			u.Process(&e, &Features{})
		}
		// The stream clock is the oldest of the latest clockWindow events:
		// a window of events after the hour moves it past a's TTL.
		for i := range clockWindow + 2 {
			e := ev(fmt.Sprint("c", i), event.Login, 61*time.Minute+time.Duration(i)*time.Millisecond, user("c"))
			u.Process(&e, &Features{})
		}
		if _, ok := u.Store().Peek("a"); ok || u.Store().Expirations == 0 {
			t.Errorf("a still held; expirations=%d", u.Store().Expirations)
		}
	})
	t.Run("windows stay capped", func(t *testing.T) {
		cfg := Defaults()
		u := NewUsers(cfg)
		for i := range 500 {
			e := ev(string(rune(i)), event.Transaction, time.Duration(i)*time.Second, pay(1, "p"))
			u.Process(&e, &Features{})
		}
		st, _ := u.Store().Peek("alice")
		if len(st.Txns) > cfg.Velocity.MaxEntries {
			t.Errorf("kept %d transactions, cap %d", len(st.Txns), cfg.Velocity.MaxEntries)
		}
	})
}

func TestClockSkew(t *testing.T) {
	// A far-future event among failures must not hide the later, correctly
	// timed ones from the window, nor move the stream clock. Other users'
	// events come first, so that the stream's head is known (it is the
	// oldest of the last headWindow events).
	var events []event.Event
	for i := range headWindow {
		events = append(events, ev(fmt.Sprint("w", i), event.Login, -time.Duration(headWindow-i)*time.Second, user("warm")))
	}
	base := len(events)
	for i := range 4 {
		events = append(events, ev(string(rune('a'+i)), event.Login, time.Duration(i)*10*time.Second, failed))
	}
	events = append(events, ev("future", event.Login, 365*24*time.Hour, failed))
	events = append(events, ev("e", event.Login, time.Minute, failed))
	fs := run(t, Defaults(), events)[base:]
	if !fs[4].Stream.Future {
		t.Errorf("the far-future event was not flagged")
	}
	if got := fs[5].Logins; !got.Fired || got.Failures != 5 {
		t.Errorf("after the skewed event: %+v, want the 5 real failures counted", got)
	}
	if !fs[5].Stream.Late {
		t.Errorf("an event a year behind the user's newest is flagged late")
	}
}

func TestDuplicateEventUpdatesNothing(t *testing.T) {
	u := NewUsers(Defaults())
	a := ev("same", event.Transaction, 0, pay(10, "p"))
	var f1, f2 Features
	u.Process(&a, &f1)
	u.Process(&a, &f2)
	st, _ := u.Store().Peek("alice")
	if !f2.Stream.Duplicate || st.TxnCount != 1 || len(st.Txns) != 1 {
		t.Errorf("duplicate=%v txn_count=%d, want the redelivery ignored", f2.Stream.Duplicate, st.TxnCount)
	}
}

func TestStateRoundTrip(t *testing.T) {
	u := NewUsers(Defaults())
	for _, e := range []event.Event{
		ev("1", event.Login, 0, at(newYork)), ev("2", event.TokenIssue, time.Second, at(newYork), token("t")),
		ev("3", event.TokenRefresh, time.Minute, refreshOf("r", "F")), ev("4", event.Transaction, 2*time.Minute, pay(12.5, "p")),
		ev("5", event.Login, 3*time.Minute, failed, ip("198.51.100.7")),
	} {
		u.Process(&e, &Features{})
	}
	st, _ := u.Store().Peek("alice")
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back UserState
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !sameState(st, &back) {
		t.Errorf("round trip changed the state:\n%+v\n%+v", *st, back)
	}
	b[0] = 99
	if err := back.UnmarshalBinary(b); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("wrong version accepted: %v", err)
	}
}
