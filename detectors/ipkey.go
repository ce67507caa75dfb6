package detectors

import (
	"fmt"
	"net/netip"
)

// IPKey is an address as the address stage keys its state: its 16 bytes,
// an IPv4 address in its IPv4-mapped form. It sits in the store's slot
// itself, where the address's text took a string header and a heap block
// of its own, 32 bytes and a pointer for the collector to follow. Its
// String, the changelog's key, is the address's text as netip writes it,
// which the stage keyed by before: the addresses of events are the ones
// event validation leaves (no zone, an IPv4-mapped address made IPv4),
// and for them an IPKey and its text go one to one.
type IPKey [16]byte

// ipKeyOf returns the key of addr. An address validation never leaves
// keys as its validated form would: without a zone, IPv4-mapped as IPv4.
func ipKeyOf(addr netip.Addr) IPKey { return addr.As16() }

// Addr returns the address of k, IPv4 for an IPv4-mapped key.
func (k IPKey) Addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// String returns the address of k as text, as the changelog keys it.
func (k IPKey) String() string { return k.Addr().String() }

// ParseIPKey reads a key that String wrote. It refuses any other text,
// even an address (a zone, an IPv4-mapped IPv6 address, a form netip
// would not write such as leading zeros in IPv6 or capital hex digits):
// no event keys such a state, and taking it as another text's key would
// write a different changelog key for it.
func ParseIPKey(s string) (IPKey, error) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return IPKey{}, fmt.Errorf("address key %q: %w", s, err)
	}
	k := ipKeyOf(addr)
	if addr.Zone() != "" || addr.Is4In6() || k.String() != s {
		return IPKey{}, fmt.Errorf("address key %q: not an address as the address stage writes it", s)
	}
	return k, nil
}
