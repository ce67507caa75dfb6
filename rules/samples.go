package rules

import _ "embed"

// SamplesName is how reports name the built-in sample events: the file of
// this repository they are embedded from.
const SamplesName = "rules/samples.jsonl"

//go:embed samples.jsonl
var samples []byte

// Samples returns the sample events built into the binary, JSON Lines in
// the order they are to be decided: whole event streams of users (and
// attacking addresses) picked from the shipped labelled traffic and the
// golden inputs, so that every event type, both outcomes, every attack
// class and every detector's signal occur. `riskd rules check` runs each
// rule over them to catch run-time errors before deployment. The caller
// must not modify the returned slice.
//
// The file is generated: `go test ./rules -run TestSamplesUpToDate
// -update-samples` rewrites it from testdata (see samples_test.go).
func Samples() []byte { return samples }
