//go:build ignore

// Command build writes riskd-test-City.mmdb and riskd-test-ASN.mmdb next to
// itself from networks.csv. Run from the repository root:
//
//	go run ./testdata/geoip/build.go
package main

import (
	"log"

	"github.com/riskd/riskd/internal/geoiptest"
)

func main() {
	const dir = "testdata/geoip/"
	if err := geoiptest.BuildFromCSV(dir+"networks.csv", dir+"riskd-test-City.mmdb", dir+"riskd-test-ASN.mmdb"); err != nil {
		log.Fatal(err)
	}
}
