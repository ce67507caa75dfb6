package rules

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// FuzzLoad gives the loader arbitrary bytes as a rule file and as
// detectors.yaml. It must not panic, and must return either a usable Set or
// a *LoadError (and no Set) whose every problem is one line starting with
// the name of the file it is about, as `riskd rules check` prints them. A
// Set's rules must evaluate on events without panicking.
//
// The seeds are the shipped rule files (added here) and the broken files of
// testdata/fuzz/FuzzLoad. Run: go test ./rules -run '^$' -fuzz FuzzLoad -fuzztime 60s
func FuzzLoad(f *testing.F) {
	det, err := fs.ReadFile(shipped, "pack/detectors.yaml")
	if err != nil {
		f.Fatal(err)
	}
	names, _ := fs.Glob(shipped, "pack/*.yaml")
	for _, n := range names {
		if src, _ := fs.ReadFile(shipped, n); n != "pack/detectors.yaml" {
			f.Add(src, det)
		}
	}
	f.Fuzz(func(t *testing.T, rulesSrc, detectorsSrc []byte) {
		set, err := LoadFS(fstest.MapFS{
			"a.yaml":         {Data: rulesSrc},
			"detectors.yaml": {Data: detectorsSrc},
		}, ".", "fuzz")
		if err != nil {
			checkLoadError(t, set, err, "fuzz/a.yaml", "fuzz/detectors.yaml")
			return
		}
		checkSet(t, set)
	})
}

// checkLoadError fails t unless err is a *LoadError without a set, whose
// every problem is one line naming one of files.
func checkLoadError(t *testing.T, set *Set, err error, files ...string) {
	t.Helper()
	var le *LoadError
	if set != nil || !errors.As(err, &le) || len(le.Problems) == 0 {
		t.Fatalf("want a *LoadError with problems and no set, got set %v, error %T %v", set != nil, err, err)
	}
	for _, p := range le.Problems {
		named := false
		for _, f := range files {
			named = named || strings.HasPrefix(p, f+":")
		}
		if !named || strings.Contains(p, "\n") {
			t.Fatalf("problem is not one line starting with file: or file:line: %q", p)
		}
	}
}

// checkSet fails t unless set is complete and its rules evaluate on a bare
// event of every type.
func checkSet(t *testing.T, set *Set) {
	t.Helper()
	if set == nil || len(set.Version) != 12 || len(set.Files) != 2 {
		t.Fatalf("incomplete set %+v", set)
	}
	if err := set.Detectors.Validate(); err != nil {
		t.Fatalf("set with invalid detector parameters: %v", err)
	}
	ids := map[string]bool{}
	for _, r := range set.Rules {
		if r.program == nil || r.ID == "" || ids[r.ID] || r.Line <= 0 {
			t.Fatalf("bad rule %+v", r)
		}
		ids[r.ID] = true
	}
	var e Evaluator
	var f detectors.Features
	for _, typ := range event.Types() {
		ev := event.Event{ID: "e", Type: typ, UserID: "u", TS: time.Unix(0, 0)}
		for _, stage := range []Stage{UserStage, IPStage} {
			e.Evaluate(set, stage, &ev, &f, true, ev.TS, nil)
		}
	}
}
