package geoip

import (
	"net/netip"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/riskd/riskd/event"
)

// Cache is a bounded per-IP cache in front of a DB. It is owned by one
// goroutine and not safe for concurrent use. It empties itself when the DB
// swaps a file, so a reload takes effect on the next lookup.
type Cache struct {
	db  *DB
	gen uint64
	lru *simplelru.LRU[netip.Addr, event.Geo]
}

// NewCache returns a cache of at most size addresses in front of db (a nil
// db resolves nothing).
func NewCache(db *DB, size int) *Cache {
	if size < 1 {
		size = 1
	}
	l, _ := simplelru.NewLRU[netip.Addr, event.Geo](size, nil)
	return &Cache{db: db, lru: l}
}

// Lookup resolves addr through the cache.
func (c *Cache) Lookup(addr netip.Addr) event.Geo {
	if c.db == nil || !addr.IsValid() {
		return event.Geo{}
	}
	if gen := c.db.Generation(); gen != c.gen {
		c.lru.Purge()
		c.gen = gen
	}
	if g, ok := c.lru.Get(addr); ok {
		return g
	}
	g := c.db.Lookup(addr)
	c.lru.Add(addr, g)
	return g
}
