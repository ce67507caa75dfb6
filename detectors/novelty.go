package detectors

import (
	"fmt"
	"strings"

	"github.com/riskd/riskd/event"
)

// novelty remembers the devices, countries and networks a user acts from
// (familiarity, forgotten after new_device.remember unseen) and marks the
// ones that appeared on an established account within new_for. Only
// authenticated events make something familiar: failed logins from
// somewhere do not.
func novelty(st *UserState, s *step, f *NoveltyFeatures) {
	ev, cfg := s.ev, &s.cfg.NewDevice
	newFor := cfg.NewFor.ms()
	f.UserAgeH = round1(float64(s.ts-st.First) / float64(hourMS))
	f.KnownUser = s.ts-st.First >= cfg.KnownAfter.ms()
	f.KnownDevices = len(ofKind(st.familiar, kindDevice))
	isNew := func(kind uint8, key string) (bool, float64) {
		list := ofKind(st.familiar, kind)
		i := familiar(list, key)
		if i < 0 {
			return f.KnownUser, 0
		}
		age := s.ts - list[i].First
		return list[i].Fresh && age < newFor, round1(float64(age) / float64(hourMS))
	}
	var network string
	if ev.Geo.ASN != 0 {
		network = s.names.name(ev.Geo.ASN)
	}
	if ev.DeviceID != "" {
		f.DeviceNew, f.DeviceAgeH = isNew(kindDevice, ev.DeviceID)
	}
	if ev.Geo.Country != "" {
		f.CountryNew, _ = isNew(kindCountry, ev.Geo.Country)
	}
	if network != "" {
		f.NetworkNew, _ = isNew(kindNetwork, network)
	}
	if ev.Authenticated() {
		forget := s.ts - cfg.Remember.ms()
		if ev.DeviceID != "" {
			st.familiar = touchKind(st.familiar, kindDevice, ev.DeviceID, s.ts, forget, f.KnownUser, cfg.MaxDevices)
		}
		if ev.Geo.Country != "" {
			st.familiar = touchKind(st.familiar, kindCountry, ev.Geo.Country, s.ts, forget, f.KnownUser, cfg.MaxPlaces)
		}
		if network != "" {
			st.familiar = touchKind(st.familiar, kindNetwork, network, s.ts, forget, f.KnownUser, cfg.MaxPlaces)
		}
	}
	if f.DeviceNew || f.CountryNew {
		f.Fired = true
		var what []string
		if f.DeviceNew {
			what = append(what, fmt.Sprintf("device %q", event.Short(ev.DeviceID)))
		}
		if f.CountryNew {
			what = append(what, "country "+ev.Geo.Country)
		}
		f.Summary = fmt.Sprintf("%s from new %s for a user known %.0fh (%d familiar devices)", ev.Type, strings.Join(what, " and "), f.UserAgeH, f.KnownDevices)
	}
}

// integrity reads the app's self-reported environment.
func integrity(ev *event.Event, f *IntegrityFeatures) {
	in := ev.App.Integrity
	f.Rooted, f.Hooked, f.Debugger, f.Emulator, f.Repackaged = in.Rooted, in.Hooked, in.Debugger, in.Emulator, in.Repackaged
	f.AttestationFailed = in.Attestation == "fail"
	f.Severe = f.Hooked || f.Repackaged || f.Debugger || f.AttestationFailed
	f.Fired = f.Severe || f.Rooted || f.Emulator
	if !f.Fired {
		return
	}
	var what []string
	for _, c := range []struct {
		on   bool
		name string
	}{{f.Rooted, "rooted"}, {f.Hooked, "hooked (instrumentation)"}, {f.Debugger, "debugger attached"},
		{f.Emulator, "emulator"}, {f.Repackaged, "repackaged app"}, {f.AttestationFailed, "attestation failed"}} {
		if c.on {
			what = append(what, c.name)
		}
	}
	f.Summary = fmt.Sprintf("%s from a compromised client (%s): %s", ev.Type, platform(ev), strings.Join(what, ", "))
}

func platform(ev *event.Event) string {
	p := event.Short(ev.App.Platform)
	if p == "" {
		p = "unknown platform"
	}
	if ev.App.Version != "" {
		p += " " + event.Short(ev.App.Version)
	}
	return p
}
