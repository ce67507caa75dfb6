package detectors

import (
	"net/netip"
	"testing"
)

// TestIPKey: an address that event validation leaves keys its state by
// its 16 bytes, and the key's text, the changelog's key, is the address
// as netip writes it, which ParseIPKey reads back; text that String would
// not write is refused rather than taken for another address's key.
func TestIPKey(t *testing.T) {
	for _, tc := range []struct {
		in     string // an event's address, or a changelog key
		key    string // the text of the key of in as validation leaves it; "" when it refuses in
		parses bool   // ParseIPKey accepts in (as key)
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"0.0.0.0", "0.0.0.0", true},
		{"255.255.255.255", "255.255.255.255", true},
		{"2001:db8::1", "2001:db8::1", true},
		{"::", "::", true},
		{"::1", "::1", true},
		{"::ffff:0:0", "0.0.0.0", false}, // IPv4-mapped: validation unmaps it
		{"::ffff:192.0.2.1", "192.0.2.1", false},
		{"::c000:201", "::c000:201", true}, // IPv4-compatible is IPv6
		{"::192.0.2.1", "::c000:201", false},
		{"64:ff9b::c000:201", "64:ff9b::c000:201", true},
		{"2001:DB8::1", "2001:db8::1", false}, // capitals: not netip's text
		{"2001:db8:0:0:0:0:0:1", "2001:db8::1", false},
		{"fe80::1%eth0", "", false}, // validation refuses zones
		{"192.0.2.01", "", false},
		{"", "", false},
		{"user-1", "", false},
	} {
		k, err := ParseIPKey(tc.in)
		if tc.parses != (err == nil) || tc.parses && k.String() != tc.key {
			t.Errorf("ParseIPKey(%q) = %v, %v; want %s (%v)", tc.in, k, err, tc.key, tc.parses)
		}
		addr, err := netip.ParseAddr(tc.in)
		if err != nil || addr.Zone() != "" {
			if tc.key != "" {
				t.Errorf("%q: not an event's address", tc.in)
			}
			continue
		}
		// An event's address, as validation leaves it, keys as its text.
		addr = addr.Unmap()
		k = ipKeyOf(addr)
		if k.String() != tc.key || k.String() != addr.String() || k.Addr() != addr {
			t.Errorf("key of %s: %s (%s), want %s", addr, k, k.Addr(), tc.key)
		}
		if back, err := ParseIPKey(addr.String()); err != nil || back != k {
			t.Errorf("ParseIPKey(%s) = %v, %v; want %v", addr, back, err, k)
		}
	}
}
