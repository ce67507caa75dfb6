// Command floor is the yardstick of `riskd replay`: "floor gen FILE" writes
// about half a million unseen labelled events (a seed and period other
// than the shipped traffic's), and "floor decode FILE" reads them as a
// plain loop would, each line JSON-decoded into a map, and nothing else.
// scripts/replay-vs-floor.sh times the two in alternation.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/riskd/riskd/internal/scenario"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: floor gen|decode FILE")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2])
	case "decode":
		err = decode(os.Args[2])
	default:
		err = fmt.Errorf("unknown mode %q: want gen or decode", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// gen writes about 503,000 events: 11,700 benign users and 380 attacks of
// each class over three days of May 2026.
func gen(path string) error {
	o := scenario.Options{Seed: 20261124, BenignUsers: 11_700, AttacksPerClass: 380,
		Start: time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC), Days: 3}
	events, _ := scenario.Generate(o)
	lines, err := scenario.MarshalLines(events)
	if err != nil {
		return err
	}
	return os.WriteFile(path, lines, 0o644)
}

// decode reads path line by line and decodes each line into a map.
func decode(path string) error {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	n := 0
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				return fmt.Errorf("line %d: %w", n+1, err)
			}
			n++
		}
		if err != nil {
			break
		}
	}
	fmt.Fprintf(os.Stderr, "floor: %d lines decoded in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}
