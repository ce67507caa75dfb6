package scenario

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/riskd/riskd/rules"
)

// SubjectNetwork is the optional subject kind of contract §2 for a whole
// network: its id an IPv4 /24 or IPv6 /48 prefix in CIDR form, or
// AS<number>.
const SubjectNetwork = "network"

// LookalikeResult is how one benign look-alike fared.
type LookalikeResult struct {
	ID, Class, Expect string
	Users             int
	Outcome           string // allow, step_up or lockout: the strongest enforced action on its users, address or network
	SteppedUp         int    // of its users, with an enforced step-up on the user
	LockedOut         int    // of its users, with an enforced lockout on the user
	AddressLocked     bool   // an enforced lockout of its address or of a network holding it
	OK                bool   // Outcome is no more than Expect allows
}

// scoreLookalikes measures each look-alike of ls against the enforced
// decisions of ds.
func scoreLookalikes(ls []Lookalike, ds []rules.Decision) []LookalikeResult {
	var out []LookalikeResult
	for _, l := range ls {
		users := map[string]bool{}
		for _, u := range l.UserIDs {
			users[u] = true
		}
		where, _ := prefixOf(l.IP)
		stepped, locked := map[string]bool{}, map[string]bool{}
		worst, addrLocked := rules.Allow, false
		for _, d := range ds {
			if d.Mode != rules.Enforce || d.Action == rules.Allow {
				continue
			}
			switch {
			case d.Subject.Kind == rules.SubjectUser && users[d.Subject.ID]:
				if d.Action == rules.Lockout {
					locked[d.Subject.ID] = true
				} else {
					stepped[d.Subject.ID] = true
				}
			case covers(where, l.ASN, d.Subject):
				addrLocked = addrLocked || d.Action == rules.Lockout
			default:
				continue
			}
			worst = max(worst, d.Action)
		}
		allowed := rules.Allow
		if l.Expect == ExpectStepUpOK {
			allowed = rules.StepUp
		}
		out = append(out, LookalikeResult{ID: l.ID, Class: l.Class, Expect: l.Expect, Users: len(l.UserIDs), Outcome: worst.String(),
			SteppedUp: len(stepped), LockedOut: len(locked), AddressLocked: addrLocked, OK: worst <= allowed})
	}
	return out
}

// prefixOf reads an address or a CIDR prefix; an address is its own
// one-address prefix.
func prefixOf(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// covers reports whether a decision about s applies to the look-alike's
// address or network where (or its AS asn): an address inside it, or a
// network overlapping it.
func covers(where netip.Prefix, asn string, s rules.Subject) bool {
	switch s.Kind {
	case rules.SubjectIP:
		a, err := netip.ParseAddr(s.ID)
		return err == nil && where.IsValid() && where.Contains(a.Unmap())
	case SubjectNetwork:
		if asn != "" && strings.EqualFold(s.ID, asn) {
			return true
		}
		p, ok := prefixOf(s.ID)
		return ok && where.IsValid() && p.Overlaps(where)
	}
	return false
}

// writeLookalikes adds a line per look-alike to a report, and one with
// how many failed.
func writeLookalikes(b *strings.Builder, rs []LookalikeResult) {
	if len(rs) == 0 {
		return
	}
	failed := 0
	b.WriteString("  benign look-alikes (the strongest enforced action on their users or address):\n")
	for _, r := range rs {
		verdict := "ok"
		if !r.OK {
			verdict, failed = "FAIL", failed+1
		}
		addr := ""
		if r.AddressLocked {
			addr = ", address locked"
		}
		fmt.Fprintf(b, "    %-16s %-15s expect %-10s got %-8s users %3d, stepped up %d, locked out %d%s  %s\n",
			r.ID, r.Class, r.Expect, r.Outcome, r.Users, r.SteppedUp, r.LockedOut, addr, verdict)
	}
	fmt.Fprintf(b, "  benign look-alikes failing: %d of %d\n", failed, len(rs))
}
