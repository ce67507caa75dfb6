package geoip_test

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/riskd/riskd/pipeline/geoip"
)

// TestReloadUnderLookups reloads the databases over and over while workers
// look up through them. Every lookup of a known address must still find
// its place: a swapped-out reader has to stay readable for the lookups
// already inside it (under -race this also shows any unsynchronised access).
func TestReloadUnderLookups(t *testing.T) {
	db, warns := geoip.Open(shippedCity, shippedASN)
	if len(warns) > 0 {
		t.Fatal(warns)
	}
	defer db.Close()
	addrs := []netip.Addr{netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("2a01:e00::1")}
	var (
		stop   atomic.Bool
		misses atomic.Int64
		done   atomic.Int64
		wg     sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				g := db.Lookup(addrs[i%len(addrs)])
				if !g.Located || g.ASN == 0 {
					misses.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	for i := 0; i < 200; i++ {
		if errs := db.Reload(); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Errorf("%d of %d lookups during reloads found no place", n, done.Load())
	}
}
