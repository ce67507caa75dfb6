package detectors

import (
	"fmt"
	"math"
	"sort"

	"github.com/riskd/riskd/event"
)

const earthRadiusKM = 6371.0088

// haversineKM is the great-circle distance between two points.
func haversineKM(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// leg is the movement between two points: the distance both accuracy radii
// cannot explain, and the speed that needs.
type leg struct {
	distanceKM, elapsedS, speedKMH float64
}

func legBetween(a, b GeoPoint) leg {
	d := haversineKM(a.Lat, a.Lon, b.Lat, b.Lon) - a.RadiusKM - b.RadiusKM
	d = math.Max(0, d)
	elapsed := math.Abs(float64(b.TS-a.TS)) / 1000
	// Two events in the same second: treat as one second apart rather than
	// divide by zero; the speed is then absurd, as it should be.
	speed := d / (math.Max(elapsed, 1) / 3600)
	return leg{distanceKM: round1(d), elapsedS: elapsed, speedKMH: round1(speed)}
}

func (l leg) impossible(c *TravelConfig) bool {
	return l.distanceKM >= c.MinDistanceKM && l.speedKMH > c.MaxSpeedKMH
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round2(v float64) float64 { return math.Round(v*100) / 100 }

func pointOf(ev *event.Event, ts int64) GeoPoint {
	return GeoPoint{TS: ts, Lat: ev.Geo.Lat, Lon: ev.Geo.Lon, RadiusKM: ev.Geo.RadiusKM, Country: ev.Geo.Country, City: ev.Geo.City}
}

func placeOf(p GeoPoint) string {
	return event.Geo{Located: true, City: p.City, Country: p.Country}.Place()
}

// travel compares a geolocated authenticated event with the user's
// neighbouring geolocated events in event time (before and after, so that
// out-of-order arrival is judged the same as in-order).
func travel(st *UserState, s *step, f *TravelFeatures) {
	ev := s.ev
	if !ev.Authenticated() || !ev.Geo.Located {
		return
	}
	cfg := &s.cfg.ImpossibleTravel
	here := pointOf(ev, s.ts)
	points := st.Points()
	i := sort.Search(len(points), func(i int) bool { return points[i].TS > s.ts })
	var worst leg
	var other GeoPoint
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= len(points) {
			continue
		}
		l := legBetween(points[j], here)
		f.Compared = true
		if !f.Fired && (l.impossible(cfg) || l.speedKMH > worst.speedKMH) {
			worst, other = l, points[j]
			f.Fired = l.impossible(cfg)
		}
	}
	if f.Compared {
		f.DistanceKM, f.ElapsedS, f.SpeedKMH = worst.distanceKM, worst.elapsedS, worst.speedKMH
		f.PrevCountry, f.PrevCity = other.Country, other.City
	}
	if f.Fired {
		f.Summary = fmt.Sprintf("%s from %s, %.0f km beyond accuracy from %s %s apart: %.0f km/h, over %.0f km/h",
			ev.Type, ev.Geo.Place(), f.DistanceKM, placeOf(other), fmtSeconds(f.ElapsedS), f.SpeedKMH, cfg.MaxSpeedKMH)
	}
	st.setPoints(capOldest(insertByTS(points, here, pointTS), cfg.History))
}

func fmtSeconds(s float64) string {
	switch {
	case s < 120:
		return fmt.Sprintf("%.0fs", s)
	case s < 7200:
		return fmt.Sprintf("%.0fm", s/60)
	}
	return fmt.Sprintf("%.1fh", s/3600)
}
