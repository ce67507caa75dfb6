package geoip_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/geoiptest"
	"github.com/riskd/riskd/pipeline/geoip"
)

const (
	shippedCSV  = "../../testdata/geoip/networks.csv"
	shippedCity = "../../testdata/geoip/riskd-test-City.mmdb"
	shippedASN  = "../../testdata/geoip/riskd-test-ASN.mmdb"
)

func TestLookup(t *testing.T) {
	db, warns := geoip.Open(shippedCity, shippedASN)
	if len(warns) > 0 {
		t.Fatal(warns)
	}
	defer db.Close()
	tests := []struct {
		ip   string
		want event.Geo
	}{
		{"81.2.69.142", event.Geo{Located: true, Country: "GB", City: "London", Lat: 51.5074, Lon: -0.1278, RadiusKM: 10, ASN: 64610, ASOrg: "Thames Broadband"}},
		{"2a01:e00::1", event.Geo{Located: true, Country: "FR", City: "Paris", Lat: 48.8566, Lon: 2.3522, RadiusKM: 10, ASN: 64620, ASOrg: "Seine Telecom"}},
		{"80.187.1.1", event.Geo{Located: true, Country: "DE", Lat: 51.1657, Lon: 10.4515, RadiusKM: 1000, ASN: 64631, ASOrg: "Rhein Mobilfunk"}},
		{"41.0.0.9", event.Geo{ASN: 64730, ASOrg: "Cape Networks"}},         // no coordinates
		{"185.220.1.1", event.Geo{ASN: 64740, ASOrg: "Anon Relay Hosting"}}, // ASN only
		{"8.8.8.8", event.Geo{}},    // unknown to the databases
		{"10.1.2.3", event.Geo{}},   // private
		{"100.64.0.1", event.Geo{}}, // CGNAT
		{"192.0.2.7", event.Geo{}},  // documentation
		{"127.0.0.1", event.Geo{}},  // loopback
		{"fe80::1", event.Geo{}},    // link-local
		{"fd00::1", event.Geo{}},    // unique local
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := db.Lookup(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Lookup(%s) = %+v, want %+v", tt.ip, got, tt.want)
			}
		})
	}
	if got := db.Lookup(netip.Addr{}); got.Located {
		t.Errorf("zero address located: %+v", got)
	}
}

func TestMissingDatabaseWarns(t *testing.T) {
	db, warns := geoip.Open(filepath.Join(t.TempDir(), "nope.mmdb"), "")
	if len(warns) != 1 || !strings.Contains(warns[0].Error(), "is missing") {
		t.Fatalf("warnings = %v, want one 'is missing'", warns)
	}
	if g := db.Lookup(netip.MustParseAddr("81.2.69.142")); g.Located {
		t.Errorf("located without a database: %+v", g)
	}
}

func TestShippedDatabasesMatchCSV(t *testing.T) {
	dir := t.TempDir()
	city, asn := filepath.Join(dir, "c.mmdb"), filepath.Join(dir, "a.mmdb")
	if err := geoiptest.BuildFromCSV(shippedCSV, city, asn); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{city, shippedCity}, {asn, shippedASN}} {
		built, _ := os.ReadFile(pair[0])
		shipped, _ := os.ReadFile(pair[1])
		if !bytes.Equal(built, shipped) {
			t.Errorf("%s is stale: run `make geoip` and commit it", pair[1])
		}
	}
}

func TestWatchReloadsReplacedFile(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "City.mmdb")
	lat := func(v float64) *float64 { return &v }
	write := func(country string) {
		t.Helper()
		nets := []geoiptest.Network{{Prefix: "81.2.0.0/16", Country: country, Lat: lat(1), Lon: lat(2), RadiusKM: 5}}
		if err := geoiptest.WriteCity(city, nets); err != nil {
			t.Fatal(err)
		}
	}
	write("GB")
	db, warns := geoip.Open(city, "")
	if len(warns) > 0 {
		t.Fatal(warns)
	}
	cache := geoip.NewCache(db, 16)
	addr := netip.MustParseAddr("81.2.69.142")
	if g := cache.Lookup(addr); g.Country != "GB" {
		t.Fatalf("before reload: %+v", g)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan []error, 4)
	go db.Watch(ctx, 10*time.Millisecond, func(errs []error) { reloaded <- errs })
	time.Sleep(50 * time.Millisecond) // let the watcher register before the change
	write("FR")                       // WriteCity renames over the old file, as geoipupdate does
	select {
	case errs := <-reloaded:
		if len(errs) > 0 {
			t.Fatal(errs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload after the file was replaced")
	}
	if g := cache.Lookup(addr); g.Country != "FR" {
		t.Errorf("after reload the cache still answers %+v", g)
	}
}

func TestReloadKeepsOldVersionOnCorruptFile(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "City.mmdb")
	data, _ := os.ReadFile(shippedCity)
	os.WriteFile(city, data, 0o644)
	db, _ := geoip.Open(city, "")
	os.WriteFile(city, []byte("not a database"), 0o644)
	errs := db.Reload()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "keeping the previous version") {
		t.Fatalf("Reload errors = %v", errs)
	}
	if g := db.Lookup(netip.MustParseAddr("81.2.69.142")); g.City != "London" {
		t.Errorf("lost the previous database: %+v", g)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	db, _ := geoip.Open(shippedCity, shippedASN)
	c := geoip.NewCache(db, 1024)
	addr := netip.MustParseAddr("81.2.69.142")
	c.Lookup(addr)
	b.ReportAllocs()
	for b.Loop() {
		c.Lookup(addr)
	}
}

func BenchmarkLookupUncached(b *testing.B) {
	db, _ := geoip.Open(shippedCity, shippedASN)
	addr := netip.MustParseAddr("81.2.69.142")
	b.ReportAllocs()
	for b.Loop() {
		db.Lookup(addr)
	}
}
