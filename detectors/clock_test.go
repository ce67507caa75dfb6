package detectors

import "testing"

// TestClock feeds the stream clock sequences of event times (in seconds,
// one a second of real traffic unless said otherwise) and checks where its
// expiry reading (now) ends and how many events it calls far in the future
// (flagged until clockWindow of them in a row make the head jump).
func TestClock(t *testing.T) {
	const day = 86_400_000
	real := func(from, n int) []int64 { // n events a second apart from second from
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(from+i) * 1000
		}
		return out
	}
	interleave := func(a, b []int64) []int64 { // b spread evenly through a
		var out []int64
		every := max(1, len(a)/max(1, len(b)))
		for i := range a {
			out = append(out, a[i])
			if i%every == 0 && i/every < len(b) {
				out = append(out, b[i/every])
			}
		}
		return out
	}
	creep := make([]int64, 300) // each a day beyond the one before
	for i := range creep {
		creep[i] = 1_000_000 + int64(i+2)*day
	}
	burst := func(n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = 1_000_000 + 45*day
		}
		return out
	}
	stale := func(n int) []int64 { // days before the traffic they join
		out := make([]int64, n)
		for i := range out {
			out[i] = 1000
		}
		return out
	}
	cat := func(parts ...[]int64) []int64 {
		var out []int64
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		ts       []int64
		want     int64 // the clock at the end
		futures  int   // events flagged far in the future
		checkFut bool
	}{
		{"fewer events than the window: no clock yet", real(1000, 100), 0, 0, true},
		{"sorted traffic: the oldest of the window", real(1000, clockWindow+10), 1010 * 1000, 0, true},
		{"a creeping chain inside real traffic moves nothing", interleave(real(1000, clockWindow+300), creep), 0, 0, false},
		{"a burst one short of the window moves nothing", cat(real(1000, clockWindow), burst(clockWindow-1)), 1000 * 1000, clockWindow - 1, true},
		{"a burst past the window makes the head jump, but not expiry", cat(real(1000, clockWindow), burst(clockWindow+200), real(5096, clockWindow)), 1201 * 1000, clockWindow - 1, true},
		{"stale events freeze nothing", cat(real(200_000, clockWindow), interleave(real(204_096, clockWindow), stale(40))), 204_096 * 1000, 0, true},
		{"a real gap: a window after the jump moves the clock", cat(real(1000, clockWindow), real(10*86400, 2*clockWindow)), (10*86400 + clockWindow) * 1000, clockWindow - 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := clock{maxFuture: day}
			futures := 0
			for _, ts := range tt.ts {
				if c.observe(ts) {
					futures++
				}
			}
			if tt.name == "a creeping chain inside real traffic moves nothing" {
				// The clock stays with the real traffic, however far the chain
				// went.
				if newest := int64(1000+clockWindow+300-1) * 1000; c.now > newest || c.now < 1000*1000 {
					t.Errorf("clock at %d ms, want within the real traffic (up to %d)", c.now, newest)
				}
				// Every link is more than a day past the head, which the
				// real traffic between them keeps where it is.
				// Links before the head is known (the first headWindow
				// events) are not flagged.
				if futures < len(creep)-headWindow/10 {
					t.Errorf("%d events flagged future, want nearly the %d of the chain", futures, len(creep))
				}
				return
			}
			if c.now != tt.want {
				t.Errorf("clock at %d ms, want %d", c.now, tt.want)
			}
			if tt.checkFut && futures != tt.futures {
				t.Errorf("%d events flagged future, want %d", futures, tt.futures)
			}
		})
	}
}
