// Package geoiptest builds small MaxMind DB files of the GeoLite2 City and
// ASN schemas from a CSV of networks, for tests and the shipped scenarios.
// It is never used on the production path.
package geoiptest

import (
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one row of the CSV: a prefix and what it resolves to.
// Empty Country/City and zero coordinates are left out of the record.
type Network struct {
	Prefix   string
	Country  string
	City     string
	Lat, Lon *float64
	RadiusKM uint16
	ASN      uint32
	ASOrg    string
}

// ReadCSV reads networks from CSV with the columns network, country, city,
// latitude, longitude, accuracy_radius_km, asn, as_org. Lines starting
// with # are comments.
func ReadCSV(r io.Reader) ([]Network, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = 8
	var nets []Network
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nets, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		n := Network{Prefix: rec[0], Country: rec[1], City: rec[2], ASOrg: rec[7]}
		num := func(i int) (*float64, error) {
			if rec[i] == "" {
				return nil, nil
			}
			v, err := strconv.ParseFloat(rec[i], 64)
			return &v, err
		}
		if n.Lat, err = num(3); err != nil {
			return nil, fmt.Errorf("line %d: latitude: %w", line, err)
		}
		if n.Lon, err = num(4); err != nil {
			return nil, fmt.Errorf("line %d: longitude: %w", line, err)
		}
		if rec[5] != "" {
			r, err := strconv.ParseUint(rec[5], 10, 16)
			if err != nil {
				return nil, fmt.Errorf("line %d: accuracy radius: %w", line, err)
			}
			n.RadiusKM = uint16(r)
		}
		if rec[6] != "" {
			a, err := strconv.ParseUint(rec[6], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("line %d: asn: %w", line, err)
			}
			n.ASN = uint32(a)
		}
		nets = append(nets, n)
	}
}

// buildEpoch is fixed so that the same CSV always gives the same bytes.
const buildEpoch = 1767225600 // 2026-01-01T00:00:00Z

// WriteCity writes a GeoLite2-City-schema database of nets to path.
func WriteCity(path string, nets []Network) error {
	return write(path, "GeoLite2-City", nets, func(n Network) mmdbtype.Map {
		rec := mmdbtype.Map{}
		if n.Country != "" {
			rec["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(n.Country), "names": mmdbtype.Map{"en": mmdbtype.String(n.Country)}}
		}
		if n.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}}
		}
		if n.Lat != nil && n.Lon != nil {
			rec["location"] = mmdbtype.Map{
				"latitude":        mmdbtype.Float64(*n.Lat),
				"longitude":       mmdbtype.Float64(*n.Lon),
				"accuracy_radius": mmdbtype.Uint16(n.RadiusKM),
			}
		}
		if len(rec) == 0 {
			return nil
		}
		return rec
	})
}

// WriteASN writes a GeoLite2-ASN-schema database of nets to path.
func WriteASN(path string, nets []Network) error {
	return write(path, "GeoLite2-ASN", nets, func(n Network) mmdbtype.Map {
		if n.ASN == 0 {
			return nil
		}
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(n.ASN),
			"autonomous_system_organization": mmdbtype.String(n.ASOrg),
		}
	})
}

func write(path, dbType string, nets []Network, record func(Network) mmdbtype.Map) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType,
		Description:  map[string]string{"en": "riskd test database built from testdata/geoip/networks.csv"},
		Languages:    []string{"en"},
		RecordSize:   28,
		BuildEpoch:   buildEpoch,
	})
	if err != nil {
		return err
	}
	for _, n := range nets {
		rec := record(n)
		if rec == nil {
			continue
		}
		_, ipnet, err := net.ParseCIDR(strings.TrimSpace(n.Prefix))
		if err != nil {
			return fmt.Errorf("network %q: %w", n.Prefix, err)
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			return fmt.Errorf("network %q: %w", n.Prefix, err)
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path) // atomic, as geoipupdate does
}

// BuildFromCSV reads csvPath and writes the City and ASN databases.
func BuildFromCSV(csvPath, cityPath, asnPath string) error {
	f, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	nets, err := ReadCSV(f)
	if err != nil {
		return fmt.Errorf("%s: %w", csvPath, err)
	}
	if err := WriteCity(cityPath, nets); err != nil {
		return err
	}
	return WriteASN(asnPath, nets)
}
