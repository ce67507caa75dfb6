// Package geoip resolves IP addresses to a place and a network (event.Geo)
// from MaxMind DB files of the GeoIP2/GeoLite2 City and ASN schemas.
//
// DB is safe for concurrent use and can swap its files while in use (Reload,
// Watch). Cache is a per-worker LRU in front of a DB and is not safe for
// concurrent use: each partition worker owns one, so the hot path takes no
// locks.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/riskd/riskd/event"
)

// DB holds the City and ASN databases. The zero value resolves nothing.
type DB struct {
	cityPath, asnPath string

	mu   sync.Mutex // serialises reloads
	city atomic.Pointer[reader]
	asn  atomic.Pointer[reader]
	gen  atomic.Uint64 // bumped on every successful swap; caches compare it
}

// reader wraps geoip2 for the database types it knows and falls back to the
// raw maxminddb reader with the same record layout for types it refuses
// (a test or vendor database with another database_type).
type reader struct {
	geo  *geoip2.Reader
	raw  *maxminddb.Reader
	path string
}

// openReader reads the whole file into memory rather than mapping it, so
// that a file rewritten in place cannot change under a reader in use.
//
// A reader is never closed: maxminddb's Close drops the buffer under
// lookups that may still be running in other workers (a data race, and
// lookups that come back empty). An in-memory reader holds no file or
// mapping, so once swapped out the garbage collector frees it after the last
// lookup through it returns.
func openReader(path string) (*reader, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := geoip2.OpenBytes(data)
	if err == nil {
		return &reader{geo: g, path: path}, nil
	}
	var unknown geoip2.UnknownDatabaseTypeError
	if !errors.As(err, &unknown) {
		return nil, err
	}
	raw, rerr := maxminddb.OpenBytes(data)
	if rerr != nil {
		return nil, rerr
	}
	return &reader{raw: raw, path: path}, nil
}

func (r *reader) cityRecord(addr netip.Addr) (*geoip2.City, error) {
	if r.geo != nil {
		return r.geo.City(addr)
	}
	var c geoip2.City
	err := r.raw.Lookup(addr).Decode(&c)
	return &c, err
}

func (r *reader) asnRecord(addr netip.Addr) (*geoip2.ASN, error) {
	if r.geo != nil {
		return r.geo.ASN(addr)
	}
	var a geoip2.ASN
	err := r.raw.Lookup(addr).Decode(&a)
	return &a, err
}

// Open loads the City and ASN databases at the given paths; an empty path
// means that database is not used. A file that is missing or unreadable is
// not fatal: Open returns a usable DB that resolves what it can, plus one
// warning per problem, and Reload or Watch pick the file up once it appears.
func Open(cityPath, asnPath string) (*DB, []error) {
	d := &DB{cityPath: cityPath, asnPath: asnPath}
	return d, d.load(false)
}

// Reload re-reads both files and swaps in those that open cleanly; a file
// that fails keeps its previous version. It returns what failed.
func (d *DB) Reload() []error {
	return d.load(true)
}

func (d *DB) load(reload bool) []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var warns []error
	swapped := false
	for _, db := range []struct {
		path, schema string
		ptr          *atomic.Pointer[reader]
	}{{d.cityPath, "City", &d.city}, {d.asnPath, "ASN", &d.asn}} {
		if db.path == "" {
			continue
		}
		r, err := openReader(db.path)
		if err != nil {
			what := "cannot be opened"
			if errors.Is(err, os.ErrNotExist) {
				what = "is missing"
			}
			keep := "locations will be unknown and location detectors abstain until it appears"
			if db.ptr.Load() != nil {
				keep = "keeping the previous version"
			}
			warns = append(warns, fmt.Errorf("geoip: %s database %s %s (%v); %s", db.schema, db.path, what, err, keep))
			continue
		}
		db.ptr.Store(r)
		swapped = true
	}
	if swapped || !reload {
		d.gen.Add(1)
	}
	return warns
}

// Generation changes whenever a database is swapped; caches flush on change.
func (d *DB) Generation() uint64 { return d.gen.Load() }

// Paths returns the configured City and ASN paths.
func (d *DB) Paths() (city, asn string) { return d.cityPath, d.asnPath }

// Close drops the databases: later lookups resolve nothing, lookups already
// running finish on the version they started with.
func (d *DB) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.city.Store(nil)
	d.asn.Store(nil)
	d.gen.Add(1)
}

// Lookup resolves addr. Absent, private, loopback, link-local, multicast,
// shared (CGNAT), documentation and other reserved addresses, and addresses
// the databases do not know, resolve to a Geo with Located false.
func (d *DB) Lookup(addr netip.Addr) event.Geo {
	var g event.Geo
	if !addr.IsValid() || Reserved(addr) {
		return g
	}
	if r := d.city.Load(); r != nil {
		if c, err := r.cityRecord(addr); err == nil && c.Location.HasCoordinates() {
			g.Located = true
			g.Lat, g.Lon = *c.Location.Latitude, *c.Location.Longitude
			g.RadiusKM = float64(c.Location.AccuracyRadius)
			g.Country = c.Country.ISOCode
			if g.Country == "" {
				g.Country = c.RegisteredCountry.ISOCode
			}
			g.City = c.City.Names.English
		}
	}
	if r := d.asn.Load(); r != nil {
		if a, err := r.asnRecord(addr); err == nil {
			g.ASN = uint32(a.AutonomousSystemNumber)
			g.ASOrg = a.AutonomousSystemOrganization
		}
	}
	return g
}

// reserved lists the special-purpose ranges (RFC 6890 and successors) that
// netip's predicates do not cover.
var reserved = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "fc00::/7",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// Reserved reports whether addr can never have a location: private,
// loopback, link-local, multicast, unspecified or another special-purpose
// range.
func Reserved(addr netip.Addr) bool {
	if addr.IsPrivate() || addr.IsLoopback() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsMulticast() || addr.IsUnspecified() || addr.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range reserved {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
