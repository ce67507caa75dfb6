package detectors

import (
	"strings"
	"testing"
)

// TestConfigValidate: a parameter that cannot work is refused by its YAML
// path, and the caps on keys by the range the stores can index.
func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(*Config)
		want string // in the error; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"no user burst", func(c *Config) { c.FailedLoginBurst.UserBurst = 0 }, "failed_login_burst.user_burst"},
		{"no users", func(c *Config) { c.State.MaxUsers = 0 }, "state.max_users (1 to 2147483647"},
		{"users at the limit", func(c *Config) { c.State.MaxUsers = MaxStateKeys }, ""},
		{"users beyond", func(c *Config) { c.State.MaxUsers = MaxStateKeys + 1 }, "state.max_users (1 to 2147483647: a store numbers its keys' slots in 32 bits)"},
		{"addresses beyond", func(c *Config) { c.State.MaxIPs = 1 << 40 }, "state.max_ips (1 to 2147483647"},
		{"history at the limit", func(c *Config) { c.ImpossibleTravel.History = 65535 }, ""},
		{"history beyond", func(c *Config) { c.ImpossibleTravel.History = 65536 }, "impossible_travel.history (2 to 65,535)"},
		{"history of one", func(c *Config) { c.ImpossibleTravel.History = 1 }, "impossible_travel.history (2 to 65,535)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			tt.set(&cfg)
			err := cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
