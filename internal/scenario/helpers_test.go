package scenario_test

import "net/netip"

// prefixOf reads an address or a CIDR prefix.
func prefixOf(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	a, err := netip.ParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen()), err == nil
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
