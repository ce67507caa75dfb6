package benchmarks

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// BenchmarkStateMemory measures the detector state riskd keeps per user:
// users each log in three times, from their own device and a new address
// each time (so 3 addresses per user), through both stages as replay runs
// them, with the shipped detectors' caps raised to hold everyone. It
// reports the live heap per user after a full GC (heap_B/user: the
// engines' state, user stage and address stage together, over the heap
// before the engines) and the user state's changelog encoding
// (changelog_B/user). Sizes: 10k and 100k users; RISKD_BENCH_STATE_USERS
// adds one (1000000 for the million). RISKD_BENCH_HEAP_PROFILE=PREFIX
// writes each size's heap profile, taken while the engines are live, to
// PREFIX-USERS.pprof.
//
//	go test ./benchmarks -run '^$' -bench StateMemory -benchtime 1x -count 3
//	RISKD_BENCH_HEAP_PROFILE=/tmp/heap go test ./benchmarks -run '^$' -bench StateMemory -benchtime 1x -memprofilerate 512
func BenchmarkStateMemory(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if v, err := strconv.Atoi(os.Getenv("RISKD_BENCH_STATE_USERS")); err == nil && v > 0 {
		sizes = append(sizes, v)
	}
	set := shippedRules(b)
	db, warns := geoip.Open(testenv.City, testenv.ASN)
	if len(warns) > 0 {
		b.Fatal(warns)
	}
	changelog := changelogBytes(b, set, db)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			s := *set
			s.Detectors.State.MaxUsers, s.Detectors.State.MaxIPs = n, 3*n
			for b.Loop() {
				before := liveHeap()
				eng := pipeline.NewEngine(&s, pipeline.WithGeoCache(db, 4096))
				loginThrice(b, eng, n)
				after := liveHeap()
				st := eng.Stats()
				if st.Users != n || st.IPs != 3*n {
					b.Fatalf("holds %d users and %d addresses, want %d and %d", st.Users, st.IPs, n, 3*n)
				}
				b.ReportMetric(float64(after-before)/float64(n), "heap_B/user")
				writeHeapProfile(b, n)
				b.ReportMetric(changelog, "changelog_B/user")
				runtime.KeepAlive(eng)
			}
		})
	}
}

// loginThrice runs n users' three logins, 20 minutes apart (within the address TTL), through both
// stages.
func loginThrice(b *testing.B, eng *pipeline.Engine, n int) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(time.Hour * 24)
	for round := range 3 {
		for i := range n {
			k := round*n + i
			ev := event.Event{ID: "e" + strconv.Itoa(k), Type: event.Login, Outcome: event.Success,
				UserID: fmt.Sprintf("user-%07d", i), DeviceID: fmt.Sprintf("device-%07d", i),
				TS: start.Add(time.Duration(round)*20*time.Minute + time.Duration(i)*time.Microsecond),
				IP: netip.AddrFrom4([4]byte{81, byte(k >> 16), byte(k >> 8), byte(k)})}
			_, toIP, err := eng.DecideUser(&ev, now, nil)
			if err != nil {
				b.Fatal(err)
			}
			if toIP {
				eng.DecideIP(&ev, eng.Features(), now, nil)
			}
		}
	}
}

// changelogBytes is the mean size of a user's changelog entry (key and
// encoded state) after the same three logins, over 1,000 users.
func changelogBytes(b *testing.B, set *rules.Set, db *geoip.DB) float64 {
	const n = 1000
	eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 4096))
	eng.TrackChanges(rules.UserStage)
	loginThrice(b, eng, n)
	total := 0
	if err := eng.Changes(rules.UserStage, func(key string, value []byte) { total += len(key) + len(value) }); err != nil {
		b.Fatal(err)
	}
	return float64(total) / n
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// writeHeapProfile writes the heap profile, with the engines still live, to
// $RISKD_BENCH_HEAP_PROFILE-n.pprof when that is set: where the bytes per
// user are (run with -memprofilerate 512 for a fine one).
func writeHeapProfile(b *testing.B, n int) {
	prefix := os.Getenv("RISKD_BENCH_HEAP_PROFILE")
	if prefix == "" {
		return
	}
	f, err := os.Create(fmt.Sprintf("%s-%d.pprof", prefix, n))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
