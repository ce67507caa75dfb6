package detectors

import "testing"

// TestClock feeds the stream clock sequences of event times (in seconds,
// one a second of real traffic unless said otherwise) and checks where its
// expiry reading (now) ends and how many events it calls far in the future
// (flagged until headConfirm of them in a row move the head).
func TestClock(t *testing.T) {
	const day = 86_400_000
	real := func(from, n int) []int64 { // n events a second apart from second from
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(from+i) * 1000
		}
		return out
	}
	interleave := func(a, b []int64) []int64 { // one of b after each of a
		var out []int64
		for i := range a {
			out = append(out, a[i])
			if i < len(b) {
				out = append(out, b[i])
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
		{"a burst one short of the window moves it no further than real traffic", cat(real(1000, clockWindow), burst(clockWindow-1)), (1000 + clockWindow - 1) * 1000, headConfirm - 1, true},
		{"a real gap: the window after it moves the clock", cat(real(1000, clockWindow), real(10*86400, clockWindow)), 10 * 86400 * 1000, headConfirm - 1, true},
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
				if futures != len(creep) {
					t.Errorf("%d events flagged future, want the %d of the chain", futures, len(creep))
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
