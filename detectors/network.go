package detectors

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// NetStateVersion is the encoding version of NetState. Version 2 adds each
// attempt's address; version 1's attempts are read with none (Addr 0).
const NetStateVersion = 2

// netStateV1 is the first encoding, whose attempts hold no address.
const netStateV1 = 1

// NetState is a network's recent login attempts, for the distributed
// spray that stays under every address's count, and the decisions in
// force against the network. A network is the IPv4 /24 or
// IPv6 /48 of an address (NetworkOf). Prefix counting is exact in a fleet
// because the address stage is partitioned by network; an AS spans
// partitions, so AS numbers serve only the allow-list and the evidence.
type NetState struct {
	Last     int64        `json:"last"`
	Attempts []NetAttempt `json:"attempts,omitempty"`
	Decided  Decided      `json:"decided,omitempty"`
}

// NetAttempt is one login attempt from a network: User hashes the user id,
// Addr the address it came from.
type NetAttempt struct {
	TS      int64  `json:"ts"`
	User    uint64 `json:"user"`
	Addr    uint64 `json:"addr"`
	Failure bool   `json:"f,omitempty"`
}

func netAttemptTS(a *NetAttempt) int64 { return a.TS }

// Remembered returns the enforced decisions against the network; nil when
// it holds none, unless alloc.
func (s *NetState) Remembered(alloc bool) *Decided {
	if s.Decided == nil && !alloc {
		return nil
	}
	return &s.Decided
}

// AppendBinary appends the state behind its version byte
// (encoding.BinaryAppender).
func (s *NetState) AppendBinary(b []byte) ([]byte, error) {
	e := encoder{b: append(b, NetStateVersion)}
	e.int(s.Last)
	encodeSlice(&e, s.Attempts, func(e *encoder, a *NetAttempt) {
		e.int(a.TS)
		e.uint(a.User)
		e.uint(a.Addr)
		e.bool(a.Failure)
	})
	encodeSlice(&e, s.Decided, putInForce)
	return e.b, nil
}

// MarshalBinary encodes s as AppendBinary does.
func (s *NetState) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// UnmarshalBinary decodes what MarshalBinary wrote (version 2 or 1);
// another version is an error wrapping ErrStateVersion.
func (s *NetState) UnmarshalBinary(b []byte) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("detectors: empty network state")
	case b[0] != NetStateVersion && b[0] != netStateV1:
		return fmt.Errorf("detectors: network state version %d, this build reads %d and %d: %w", b[0], NetStateVersion, netStateV1, ErrStateVersion)
	}
	d := &decoder{b: b[1:]}
	*s = NetState{Last: d.int()}
	if b[0] == netStateV1 {
		s.Attempts = decodeSlice(d, 3, func(d *decoder, a *NetAttempt) {
			*a = NetAttempt{TS: d.int(), User: d.uint(), Failure: d.bool()}
		})
	} else {
		s.Attempts = decodeSlice(d, 4, func(d *decoder, a *NetAttempt) {
			*a = NetAttempt{TS: d.int(), User: d.uint(), Addr: d.uint(), Failure: d.bool()}
		})
	}
	if dec := decodeDecided(d); len(dec) > 0 {
		s.Decided = dec
	}
	return d.done()
}

// NetworkOf returns the network an address is counted in: its IPv4 /24 or
// its IPv6 /48.
func NetworkOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits)
	return p
}

// IsNetworkKey reports whether a key of the address stage's changelog is a
// network's (a prefix, with a slash no address has) rather than an
// address's.
func IsNetworkKey(key string) bool { return strings.Contains(key, "/") }

// ParseNetworkKey reads a network's changelog key, its prefix as
// netip writes it. Any other text is refused, even a prefix NetworkOf never
// makes: taking it as another key would write a different changelog key.
func ParseNetworkKey(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network key %q: %w", s, err)
	}
	if NetworkOf(p.Addr()) != p || p.String() != s {
		return netip.Prefix{}, fmt.Errorf("network key %q: not a network as the address stage writes it (an IPv4 /24 or IPv6 /48)", s)
	}
	return p, nil
}

// egress is the parsed shared_egress list.
type egress struct {
	prefixes []netip.Prefix
	asns     []uint32
}

// parseEgress reads shared_egress: CIDR prefixes and AS numbers (AS64760).
func parseEgress(list []string) (egress, error) {
	var e egress
	for _, s := range list {
		if n, ok := strings.CutPrefix(strings.ToUpper(s), "AS"); ok {
			asn, err := strconv.ParseUint(n, 10, 32)
			if err != nil || asn == 0 {
				return e, fmt.Errorf("shared_egress %q: want an AS number such as AS64760", s)
			}
			e.asns = append(e.asns, uint32(asn))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return e, fmt.Errorf("shared_egress %q: want a CIDR prefix such as 31.94.0.0/16", s)
		}
		e.prefixes = append(e.prefixes, p.Masked())
	}
	return e, nil
}

func validEgress(list []string) bool {
	_, err := parseEgress(list)
	return err == nil
}

// has reports whether addr, of AS asn (0: unknown), is shared egress.
func (e *egress) has(addr netip.Addr, asn uint32) bool {
	addr = addr.Unmap()
	for _, p := range e.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	for _, a := range e.asns {
		if asn != 0 && a == asn {
			return true
		}
	}
	return false
}

// ipMemory is the address stage's Memory (see Memory): the address's
// decisions, and the network's for decisions about the network.
type ipMemory struct {
	ip  *IPState
	net *NetState
}

// Remembered returns the address's decisions in force.
func (m *ipMemory) Remembered(alloc bool) *Decided { return m.ip.Remembered(alloc) }

// NetworkRemembered returns the network's decisions in force, so that a
// repeat of a decision about the network from another of its addresses is
// quiet too.
func (m *ipMemory) NetworkRemembered(alloc bool) *Decided { return m.net.Remembered(alloc) }

// network counts ev, an attempt at ts of the address stage, in its
// network's window and fills f.Network.
func (p *IPs) network(ev eventView, ts int64, future bool, f *Features) *NetState {
	cfg := &p.cfg.FailedLoginBurst
	g := &f.Network
	pfx := NetworkOf(ev.ip)
	g.Prefix = pfx.String()
	g.Allowlisted = p.egress.has(ev.ip, ev.asn)
	st, created := p.nets.Get(pfx, p.clock.now)
	window := cfg.NetworkWindow.ms()
	if created || (!future && ts >= st.Last) {
		st.Attempts = pruneBefore(st.Attempts, ts-window-p.cfg.State.AllowedLateness.ms(), cfg.MaxAttemptsPerNetwork, netAttemptTS)
	}
	st.Attempts = insertByTS(st.Attempts, NetAttempt{TS: ts, User: ev.user, Addr: ev.addr, Failure: ev.failure}, netAttemptTS)
	st.Attempts = capOldest(st.Attempts, cfg.MaxAttemptsPerNetwork)
	st.Last = max64(st.Last, ts)

	p.fails, p.users, p.long = p.fails[:0], p.users[:0], p.long[:0]
	for _, a := range st.Attempts {
		if a.TS > ts || a.TS < ts-window {
			continue
		}
		g.Attempts++
		if a.Failure {
			g.Failures++
			p.fails = append(p.fails, a.User)
			p.long = append(p.long, a.Addr)
		} else {
			p.users = append(p.users, a.User)
		}
	}
	g.FailedUsers, g.SuccessUsers, g.FailedAddresses = p.set.count(p.fails), p.set.count(p.users), p.set.count(p.long)
	if g.Attempts > 0 {
		g.FailureRatio = round2(float64(g.Failures) / float64(g.Attempts))
	}
	if g.Allowlisted {
		return st
	}
	if g.FailedUsers >= cfg.NetworkUsers && g.FailureRatio >= cfg.NetworkFailureRatio && g.SuccessUsers <= cfg.NetworkMaxSuccessUsers &&
		g.FailedAddresses >= cfg.NetworkMinAddresses {
		g.Fired = true
		g.Summary = fmt.Sprintf("distributed password spray from %s: %d distinct users failed from %d addresses in %s, %d of %d attempts failed, %d user(s) logged in (limits %d users from %d addresses, %.0f%%, at most %d logged in)",
			g.Prefix, g.FailedUsers, g.FailedAddresses, cfg.NetworkWindow, g.Failures, g.Attempts, g.SuccessUsers,
			cfg.NetworkUsers, cfg.NetworkMinAddresses, cfg.NetworkFailureRatio*100, cfg.NetworkMaxSuccessUsers)
	}
	if !ev.failure && g.FailedUsers >= cfg.StuffingUsers && g.FailureRatio >= cfg.StuffingFailureRatio {
		g.Stuffing = true
		if !g.Fired {
			g.Summary = fmt.Sprintf("login from %s, where %d distinct users failed in %s (%d of %d attempts): credential stuffing",
				g.Prefix, g.FailedUsers, cfg.NetworkWindow, g.Failures, g.Attempts)
		}
	}
	return st
}

// eventView is what the address stage reads of an attempt.
type eventView struct {
	ip      netip.Addr
	asn     uint32
	user    uint64 // hash of the user id
	addr    uint64 // hash of the address
	failure bool
}
