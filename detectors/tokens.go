package detectors

import (
	"fmt"
	"strings"

	"github.com/riskd/riskd/event"
)

// tokens binds access tokens to the device and network they were issued to
// and refresh tokens to their rotation family, and flags a token used where
// its holder cannot be: another device, after logout, two places at once,
// or a refresh token presented a second time (the OAuth 2.0 security BCP's
// rotation-reuse signal, which condemns the whole family).
func tokens(st *UserState, s *step, f *TokenFeatures) {
	ev := s.ev
	cfg := &s.cfg.TokenReplay
	switch ev.Type {
	case event.TokenIssue:
		t, _ := st.token(ev.TokenID, s, cfg)
		t.Device, t.ASN, t.Issued, t.Issue = ev.DeviceID, ev.Geo.ASN, s.ts, true
		if ev.Geo.Located {
			t.Where, t.Located = pointOf(ev, s.ts), true
		}
		f.Known = true
	case event.TokenUse:
		tokenUse(st, s, f)
	case event.Logout:
		t, _ := st.token(ev.TokenID, s, cfg)
		if t.Revoked == 0 || s.ts < t.Revoked {
			t.Revoked = s.ts
		}
	case event.TokenRefresh:
		refresh(st, s, f)
	}
	if f.Fired {
		f.Summary = tokenSummary(ev, f)
	}
}

// token returns the entry of id, creating it (bound to this event's device
// and network: trust on first use) when absent.
func (user *UserState) token(id string, s *step, cfg *TokenConfig) (t *TokenEntry, created bool) {
	st := user.extra()
	for i := range st.Tokens {
		if st.Tokens[i].ID == id {
			return &st.Tokens[i], false
		}
	}
	forget := s.ts - cfg.TokenTTL.ms()
	kept := st.Tokens[:0]
	for _, t := range st.Tokens {
		if max64(t.LastUse, t.Issued) >= forget {
			kept = append(kept, t)
		}
	}
	st.Tokens = makeRoom(kept, cfg.MaxTokens, func(t *TokenEntry) int64 { return max64(t.LastUse, t.Issued) })
	st.Tokens = append(st.Tokens, TokenEntry{ID: id, Device: s.ev.DeviceID, ASN: s.ev.Geo.ASN, Issued: s.ts, LastUse: s.ts})
	return &st.Tokens[len(st.Tokens)-1], true
}

func tokenUse(st *UserState, s *step, f *TokenFeatures) {
	ev := s.ev
	t, created := st.token(ev.TokenID, s, &s.cfg.TokenReplay)
	f.Known = !created
	f.BoundDevice = t.Device
	f.AgeS = float64(s.ts-t.Issued) / 1000
	f.DeviceMismatch = t.Device != "" && ev.DeviceID != "" && ev.DeviceID != t.Device
	f.DeviceMissing = t.Device != "" && ev.DeviceID == ""
	f.NetworkChanged = t.ASN != 0 && ev.Geo.ASN != 0 && ev.Geo.ASN != t.ASN
	f.AfterLogout = t.Revoked != 0 && s.ts >= t.Revoked
	if t.Located && ev.Geo.Located {
		l := legBetween(t.Where, pointOf(ev, s.ts))
		f.SpeedKMH = l.speedKMH
		f.Concurrent = l.impossible(&s.cfg.ImpossibleTravel)
	}
	// A use without a device id, or from another network, is only evidence:
	// clients that omit the id switch between Wi-Fi and mobile data too.
	f.Fired = f.DeviceMismatch || f.AfterLogout || f.Concurrent
	t.LastUse = max64(t.LastUse, s.ts)
	if ev.Geo.Located && !f.Fired && (!t.Located || s.ts >= t.Where.TS) {
		t.Where, t.Located = pointOf(ev, s.ts), true
	}
	if t.Device == "" && ev.DeviceID != "" && !f.Fired {
		t.Device = ev.DeviceID
	}
}

func refresh(st *UserState, s *step, f *TokenFeatures) {
	ev := s.ev
	cfg := &s.cfg.TokenReplay
	f.FamilyID = ev.Refresh.FamilyID
	fam, created := st.family(ev.Refresh.FamilyID, s, cfg)
	f.BoundDevice = fam.Device
	f.AgeS = float64(s.ts-fam.First) / 1000
	f.Known = !created
	fam.Last = max64(fam.Last, s.ts)
	f.DeviceMismatch = fam.Device != "" && ev.DeviceID != "" && ev.DeviceID != fam.Device
	f.FamilyRevoked = fam.Revoked != 0 && s.ts >= fam.Revoked

	h := hashString(ev.ID)
	x := st.extra()
	reused := false
	for i := range x.Refreshes {
		if x.Refreshes[i].TokenID == ev.Refresh.TokenID {
			reused = x.Refreshes[i].Event != h
			break
		}
	}
	if reused {
		f.RefreshReuse = true
		if fam.Revoked == 0 || s.ts < fam.Revoked {
			fam.Revoked = s.ts
		}
	} else {
		x.Refreshes = append(x.Refreshes, RefreshEntry{TokenID: ev.Refresh.TokenID, Family: ev.Refresh.FamilyID, TS: s.ts, Event: h})
		x.Refreshes = pruneBefore(x.Refreshes, s.ts-cfg.RefreshTTL.ms(), cfg.MaxRefresh, func(r *RefreshEntry) int64 { return r.TS })
	}
	if fam.Device == "" && !f.DeviceMismatch {
		fam.Device = ev.DeviceID
	}
	f.Fired = f.RefreshReuse || f.FamilyRevoked || f.DeviceMismatch
}

func (user *UserState) family(id string, s *step, cfg *TokenConfig) (fam *FamilyEntry, created bool) {
	st := user.extra()
	for i := range st.Families {
		if st.Families[i].ID == id {
			return &st.Families[i], false
		}
	}
	st.Families = makeRoom(st.Families, cfg.MaxRefresh, func(f *FamilyEntry) int64 { return f.Last })
	st.Families = append(st.Families, FamilyEntry{ID: id, Device: s.ev.DeviceID, First: s.ts, Last: s.ts})
	return &st.Families[len(st.Families)-1], true
}

func tokenSummary(ev *event.Event, f *TokenFeatures) string {
	var why []string
	if f.RefreshReuse {
		why = append(why, fmt.Sprintf("refresh token presented a second time: family %s revoked", event.Short(f.FamilyID)))
	}
	if f.FamilyRevoked && !f.RefreshReuse {
		why = append(why, fmt.Sprintf("refresh from family %s, revoked after reuse", event.Short(f.FamilyID)))
	}
	if f.DeviceMismatch {
		why = append(why, fmt.Sprintf("device %q is not the bound device %q", event.Short(ev.DeviceID), event.Short(f.BoundDevice)))
	}
	if f.AfterLogout {
		why = append(why, "used after logout")
	}
	if f.Concurrent {
		why = append(why, fmt.Sprintf("used from %s at %.0f km/h from its last use", ev.Geo.Place(), f.SpeedKMH))
	}
	return ev.Type.String() + ": " + strings.Join(why, "; ")
}
