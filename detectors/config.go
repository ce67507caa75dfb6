// Package detectors turns events into features and signals. Each detector is
// a deterministic state machine, (state, event) → (state', features,
// signal), over per-key state that lives in bounded stores and reads time
// only from events.
//
// Users and IPs are the two keyed stages. Neither is safe for concurrent
// use: one worker goroutine owns each instance (one partition's keys), which
// is what keeps the hot path free of locks.
package detectors

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that reads from YAML as "90s", "10m", "24h"
// or "30d".
type Duration time.Duration

// UnmarshalYAML accepts Go duration syntax plus a "d" (day) suffix.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		// A *yaml.TypeError lets the decoder go on, so that the rule
		// loader reports the unknown keys after a bad value too.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d in the form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats d as days when it is a whole number of days.
func (d Duration) String() string {
	td := time.Duration(d)
	if td >= 24*time.Hour && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// ParseDuration parses Go duration syntax plus whole days ("30d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q: want a whole number of days like 30d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 90s, 10m, 24h or 30d", s)
	}
	return v, nil
}

func (d Duration) ms() int64 { return time.Duration(d).Milliseconds() }

// Config holds every detector parameter. It is read from the detectors
// section of the rule folder (rules/pack/detectors.yaml) so analysts see the
// thresholds the signals use; Defaults documents each value.
type Config struct {
	State            StateConfig    `yaml:"state"`
	ImpossibleTravel TravelConfig   `yaml:"impossible_travel"`
	TokenReplay      TokenConfig    `yaml:"token_replay"`
	Velocity         VelocityConfig `yaml:"velocity"`
	FailedLoginBurst LoginsConfig   `yaml:"failed_login_burst"`
	NewDevice        NoveltyConfig  `yaml:"new_device"`
}

// StateConfig bounds the keyed state.
type StateConfig struct {
	MaxUsers        int      `yaml:"max_users"`        // users kept per worker; least recently used evicted beyond
	MaxIPs          int      `yaml:"max_ips"`          // addresses kept per worker for password-spray windows
	MaxNetworks     int      `yaml:"max_networks"`     // networks (/24, /48) kept per worker for the network windows
	UserTTL         Duration `yaml:"user_ttl"`         // a user idle this long in event time is forgotten
	IPTTL           Duration `yaml:"ip_ttl"`           // likewise for an address or a network
	AllowedLateness Duration `yaml:"allowed_lateness"` // out-of-order tolerance: windows keep this much extra history
	MaxFuture       Duration `yaml:"max_future"`       // an event dated this far ahead of the wall clock is refused (pipeline admission); this far ahead of the stream clock, flagged future
}

// TravelConfig parameterises impossible_travel (and token_replay's
// simultaneous-use check).
type TravelConfig struct {
	MaxSpeedKMH   float64 `yaml:"max_speed_kmh"`   // faster than this between two places is impossible
	MinDistanceKM float64 `yaml:"min_distance_km"` // distances (after accuracy radii) below this are ignored
	History       int     `yaml:"history"`         // geolocated events kept per user, for out-of-order neighbours
}

// TokenConfig parameterises token_replay.
type TokenConfig struct {
	MaxTokens  int      `yaml:"max_tokens"`  // access tokens remembered per user
	MaxRefresh int      `yaml:"max_refresh"` // refresh tokens remembered per user
	TokenTTL   Duration `yaml:"token_ttl"`   // a token unused this long is forgotten
	RefreshTTL Duration `yaml:"refresh_ttl"` // how long a presented refresh token is remembered
}

// VelocityConfig parameterises velocity. The signal fires when any
// threshold is reached; the rules read the counts to grade it.
type VelocityConfig struct {
	MaxEntries            int     `yaml:"max_entries"` // transactions kept per user (24 h window)
	Count10m              int     `yaml:"count_10m"`
	Count1h               int     `yaml:"count_1h"`
	Count24h              int     `yaml:"count_24h"`
	Sum1h                 float64 `yaml:"sum_1h"`
	Sum24h                float64 `yaml:"sum_24h"`
	NewBeneficiaries1h    int     `yaml:"new_beneficiaries_1h"`
	SameBeneficiary1h     int     `yaml:"same_beneficiary_1h"`
	AmountRatio           float64 `yaml:"amount_ratio"`             // amount this many times the user's mean...
	AmountRatioMinHistory int     `yaml:"amount_ratio_min_history"` // ...once the user has this many transactions
	MaxBeneficiaries      int     `yaml:"max_beneficiaries"`        // known beneficiaries remembered per user
	NewBeneficiaries24h   int     `yaml:"new_beneficiaries_24h"`    // a day of this many new payees...
	DayRatio              float64 `yaml:"day_ratio"`                // ...and a 24h total this many times the user's usual day...
	DayRatioMinDays       int     `yaml:"day_ratio_min_days"`       // ...once the user's transactions span this many days, fires day_fired
}

// LoginsConfig parameterises failed_login_burst for users (brute force),
// addresses (password spray) and networks (distributed spray), each over a
// short window and a long one, so that patience does not reset the count.
type LoginsConfig struct {
	Window            Duration `yaml:"window"`              // brute-force window per user
	UserBurst         int      `yaml:"user_burst"`          // failures in window that make a burst
	LongWindow        Duration `yaml:"long_window"`         // patient brute force: the long window per user
	UserLong          int      `yaml:"user_long"`           // failures in long_window that fire long_fired
	MaxFailures       int      `yaml:"max_failures"`        // failures kept per user
	SprayWindow       Duration `yaml:"spray_window"`        // password-spray window per address
	SprayUsers        int      `yaml:"spray_users"`         // distinct users failing from one address
	SprayFailureRatio float64  `yaml:"spray_failure_ratio"` // share of attempts from the address that failed
	SprayLongWindow   Duration `yaml:"spray_long_window"`   // patient spray: the long window per address
	SprayLongUsers    int      `yaml:"spray_long_users"`    // distinct users failing from one address in it
	MaxAttemptsPerIP  int      `yaml:"max_attempts_per_ip"` // attempts kept per address

	NetworkWindow          Duration `yaml:"network_window"`            // distributed spray: the window per network (/24, /48)
	NetworkUsers           int      `yaml:"network_users"`             // distinct users failing from one network in it
	NetworkFailureRatio    float64  `yaml:"network_failure_ratio"`     // share of the network's attempts that failed
	NetworkMaxSuccessUsers int      `yaml:"network_max_success_users"` // more distinct users logging in from it: shared egress, not a spray
	NetworkMinAddresses    int      `yaml:"network_min_addresses"`     // failing addresses it takes: one address's spray is the address windows' business
	MaxAttemptsPerNetwork  int      `yaml:"max_attempts_per_network"`  // attempts kept per network

	StuffingUsers        int     `yaml:"stuffing_users"`         // distinct failing users before a success from the address or network is suspect
	StuffingFailureRatio float64 `yaml:"stuffing_failure_ratio"` // ...when this share of its attempts failed

	// SharedEgress lists the networks known to carry many people (carrier
	// CGNAT, company VPNs), as CIDR prefixes or AS numbers (AS64760): the
	// network counts never fire for an address in them.
	SharedEgress []string `yaml:"shared_egress"`
}

// NoveltyConfig parameterises new_device.
type NoveltyConfig struct {
	NewFor     Duration `yaml:"new_for"`     // a device, country or network stays "new" this long after first sight
	KnownAfter Duration `yaml:"known_after"` // a user is "known" (has history to compare with) after this long
	Remember   Duration `yaml:"remember"`    // familiarity is forgotten after this long unseen
	MaxDevices int      `yaml:"max_devices"`
	MaxPlaces  int      `yaml:"max_places"` // countries and networks, each
}

// Defaults returns the shipped parameters.
func Defaults() Config {
	return Config{
		State: StateConfig{
			MaxUsers: 500_000, MaxIPs: 200_000, MaxNetworks: 50_000,
			UserTTL: Duration(30 * 24 * time.Hour), IPTTL: Duration(6 * time.Hour),
			AllowedLateness: Duration(10 * time.Minute), MaxFuture: Duration(24 * time.Hour),
		},
		ImpossibleTravel: TravelConfig{MaxSpeedKMH: 1000, MinDistanceKM: 200, History: 8},
		TokenReplay:      TokenConfig{MaxTokens: 32, MaxRefresh: 32, TokenTTL: Duration(7 * 24 * time.Hour), RefreshTTL: Duration(30 * 24 * time.Hour)},
		Velocity: VelocityConfig{
			MaxEntries: 200, Count10m: 5, Count1h: 10, Count24h: 30, Sum1h: 5000, Sum24h: 20000,
			NewBeneficiaries1h: 3, SameBeneficiary1h: 5, AmountRatio: 10, AmountRatioMinHistory: 5, MaxBeneficiaries: 64,
			NewBeneficiaries24h: 4, DayRatio: 5, DayRatioMinDays: 7,
		},
		FailedLoginBurst: LoginsConfig{
			Window: Duration(15 * time.Minute), UserBurst: 5, LongWindow: Duration(12 * time.Hour), UserLong: 30, MaxFailures: 64,
			SprayWindow: Duration(time.Hour), SprayUsers: 8, SprayFailureRatio: 0.6,
			SprayLongWindow: Duration(6 * time.Hour), SprayLongUsers: 20, MaxAttemptsPerIP: 512,
			NetworkWindow: Duration(time.Hour), NetworkUsers: 12, NetworkFailureRatio: 0.6, NetworkMaxSuccessUsers: 5, NetworkMinAddresses: 3,
			MaxAttemptsPerNetwork: 1024, StuffingUsers: 5, StuffingFailureRatio: 0.8,
		},
		NewDevice: NoveltyConfig{
			NewFor: Duration(24 * time.Hour), KnownAfter: Duration(time.Hour), Remember: Duration(90 * 24 * time.Hour),
			MaxDevices: 16, MaxPlaces: 16,
		},
	}
}

// Validate reports the first parameter that cannot work, by its YAML path.
func (c *Config) Validate() error {
	checks := []struct {
		ok   bool
		path string
	}{
		{c.State.MaxUsers > 0 && c.State.MaxUsers <= MaxStateKeys, keysPath("state.max_users")},
		{c.State.MaxIPs > 0 && c.State.MaxIPs <= MaxStateKeys, keysPath("state.max_ips")},
		{c.State.UserTTL > 0, "state.user_ttl"},
		{c.State.MaxNetworks > 0 && c.State.MaxNetworks <= MaxStateKeys, keysPath("state.max_networks")},
		{c.State.IPTTL >= max(c.FailedLoginBurst.SprayWindow, c.FailedLoginBurst.SprayLongWindow, c.FailedLoginBurst.NetworkWindow),
			"state.ip_ttl (must be at least failed_login_burst.spray_window, spray_long_window and network_window)"},
		{c.State.MaxFuture > 0, "state.max_future"},
		{c.ImpossibleTravel.MaxSpeedKMH > 0, "impossible_travel.max_speed_kmh"},
		{c.ImpossibleTravel.History >= 2 && c.ImpossibleTravel.History <= maxPoints, "impossible_travel.history (2 to 65,535)"},
		{c.TokenReplay.MaxTokens > 0, "token_replay.max_tokens"},
		{c.TokenReplay.MaxRefresh > 0, "token_replay.max_refresh"},
		{c.Velocity.MaxEntries > 0, "velocity.max_entries"},
		{c.Velocity.MaxBeneficiaries > 0, "velocity.max_beneficiaries"},
		{c.Velocity.NewBeneficiaries24h > 0, "velocity.new_beneficiaries_24h"},
		{c.Velocity.DayRatioMinDays >= 1, "velocity.day_ratio_min_days (at least 1)"},
		{c.FailedLoginBurst.Window > 0, "failed_login_burst.window"},
		{c.FailedLoginBurst.UserBurst > 0, "failed_login_burst.user_burst"},
		{c.FailedLoginBurst.MaxFailures >= c.FailedLoginBurst.UserBurst, "failed_login_burst.max_failures (at least user_burst)"},
		{c.FailedLoginBurst.LongWindow >= c.FailedLoginBurst.Window, "failed_login_burst.long_window (at least window)"},
		{c.FailedLoginBurst.UserLong > 0 && c.FailedLoginBurst.MaxFailures >= c.FailedLoginBurst.UserLong, "failed_login_burst.user_long (1 to max_failures)"},
		{c.FailedLoginBurst.SprayWindow > 0, "failed_login_burst.spray_window"},
		{c.FailedLoginBurst.SprayLongWindow >= c.FailedLoginBurst.SprayWindow, "failed_login_burst.spray_long_window (at least spray_window)"},
		{c.FailedLoginBurst.SprayLongUsers > 1, "failed_login_burst.spray_long_users (at least 2)"},
		{c.FailedLoginBurst.NetworkWindow > 0, "failed_login_burst.network_window"},
		{c.FailedLoginBurst.NetworkUsers > 1, "failed_login_burst.network_users (at least 2)"},
		{c.FailedLoginBurst.NetworkMinAddresses >= 1, "failed_login_burst.network_min_addresses (at least 1)"},
		{c.FailedLoginBurst.MaxAttemptsPerNetwork >= c.FailedLoginBurst.NetworkUsers, "failed_login_burst.max_attempts_per_network (at least network_users)"},
		{c.FailedLoginBurst.StuffingUsers > 1, "failed_login_burst.stuffing_users (at least 2)"},
		{validEgress(c.FailedLoginBurst.SharedEgress), "failed_login_burst.shared_egress (CIDR prefixes such as 31.94.0.0/16, or AS numbers such as AS64760)"},
		{c.FailedLoginBurst.SprayUsers > 1, "failed_login_burst.spray_users (at least 2)"},
		{c.FailedLoginBurst.MaxAttemptsPerIP >= c.FailedLoginBurst.SprayUsers, "failed_login_burst.max_attempts_per_ip (at least spray_users)"},
		{c.NewDevice.MaxDevices > 0 && c.NewDevice.MaxPlaces > 0, "new_device.max_devices / max_places"},
		{c.NewDevice.Remember >= c.NewDevice.NewFor, "new_device.remember (at least new_for)"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("detectors: invalid %s", ch.path)
		}
	}
	return nil
}

// keysPath names a cap on a store's keys and the range it must be in.
func keysPath(path string) string {
	return fmt.Sprintf("%s (1 to %d: a store numbers its keys' slots in 32 bits)", path, MaxStateKeys)
}
