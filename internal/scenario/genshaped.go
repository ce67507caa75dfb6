//go:build ignore

// Command genshaped writes ShapedOptions' traffic for one seed (the
// shipped classes plus issue 13's shaped attacks and benign look-alikes),
// traffic.jsonl and labels.json, into a folder. Run from the repository
// root:
//
//	go run ./internal/scenario/genshaped.go -seed 1 -dir /tmp/shaped-1
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/riskd/riskd/internal/scenario"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of the generator")
	dir := flag.String("dir", "", "folder to write traffic.jsonl and labels.json into (created if missing)")
	flag.Parse()
	if *dir == "" {
		log.Fatal("genshaped needs -dir FOLDER")
	}
	o := scenario.ShapedOptions()
	o.Seed = *seed
	events, labels := scenario.Generate(o)
	lines, err := scenario.MarshalLines(events)
	if err != nil {
		log.Fatal(err)
	}
	lb, err := json.MarshalIndent(labels, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*dir, "traffic.jsonl"), lines, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*dir, "labels.json"), append(lb, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d events, %d attacks, %d look-alikes in %s", len(events), len(labels.Attacks), len(labels.Lookalikes), *dir)
}
