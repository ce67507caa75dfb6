//go:build ignore

// Command gen writes the shipped labelled traffic, traffic.jsonl and
// labels.json, next to itself. Run from the repository root:
//
//	go run ./testdata/scenarios/gen.go
package main

import (
	"encoding/json"
	"log"
	"os"

	"github.com/riskd/riskd/internal/scenario"
)

func main() {
	events, labels := scenario.Generate(scenario.DefaultOptions())
	lines, err := scenario.MarshalLines(events)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("testdata/scenarios/traffic.jsonl", lines, 0o644); err != nil {
		log.Fatal(err)
	}
	lb, _ := json.MarshalIndent(labels, "", "  ")
	if err := os.WriteFile("testdata/scenarios/labels.json", append(lb, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}
